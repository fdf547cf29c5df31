"""A step's whole hours (``human_task.hours_taken``, what the statistics' time per step
counts) are written with its completion, on SQLite and PostgreSQL: the runtime's upsert
gives them, a row inserted without them gets them from its instants, an open one has none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.persistence.models import HumanTask
from engine.persistence.models.human_task import whole_hours
from engine.services import cases, tasks
from tests.integration.factories import make_world


def test_completion_writes_the_whole_hours(session: Session, clock: FixedClock) -> None:
    world = make_world(session, clock)
    case = cases.start(session, clock, world.coordinator, world.circuit.id,
                       {"nom_menage": "Ménage Heures"})
    analyse = session.scalar(select(HumanTask).where(
        HumanTask.case_id == case.id, HumanTask.bpmn_id == "analyse"))
    assert analyse is not None and analyse.hours_taken is None
    clock.advance(timedelta(hours=26, minutes=59))
    tasks.complete(session, clock, world.coordinator, analyse.id, {"mesure": "avdl"})
    session.expire_all()
    rows = {t.bpmn_id: t for t in session.scalars(
        select(HumanTask).where(HumanTask.case_id == case.id))}
    assert rows["analyse"].hours_taken == 26
    assert [t.hours_taken for t in rows.values() if t.status == "open"] == [None]


def test_rows_inserted_without_them(session: Session, clock: FixedClock) -> None:
    world = make_world(session, clock)
    case = cases.start(session, clock, world.coordinator, world.circuit.id,
                       {"nom_menage": "Ménage Insertion"})
    ready = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    for n, done in enumerate((ready + timedelta(days=2, hours=3), ready - timedelta(hours=1),
                              None)):
        session.add(HumanTask(case_id=case.id, territory_id=case.territory_id,
                              circuit_id=case.circuit_id, spiff_task_id=f"x{n}", bpmn_id="x",
                              name="Étape", status="completed" if done else "open",
                              ready_at=ready, due_sort=ready, completed_at=done))
    session.flush()
    hours = list(session.scalars(select(HumanTask.hours_taken).where(
        HumanTask.spiff_task_id.in_(["x0", "x1", "x2"])).order_by(HumanTask.spiff_task_id)))
    # a clock set back gives no duration, as the statistics have always left it out
    assert hours == [51, None, None]
    assert whole_hours(ready, ready) == 0
