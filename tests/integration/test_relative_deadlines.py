"""A step due « 7 jours avant date_audience » (issue #15, item 1): when a completion corrects
the hearing's date, the open step's due date follows in human_task and in the case's next
deadline, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import FixedClock
from engine.core.calendar import end_of_day
from engine.persistence.models import Case, HumanTask
from engine.services import cases, tasks
from tests.integration.factories import make_world
from tests.unit.test_relative_deadlines import audience_bundle

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def open_steps(sessions: sessionmaker[Session], case_id: int) -> dict[str, tuple[int, object,
                                                                                 object]]:
    with sessions() as fresh:
        rows = fresh.execute(select(HumanTask.bpmn_id, HumanTask.id, HumanTask.due_at,
                                    HumanTask.due_sort).where(
            HumanTask.case_id == case_id, HumanTask.status == "open"))
        return {bpmn: (i, due, sort) for bpmn, i, due, sort in rows}


def test_correcting_the_hearing_date_moves_the_open_steps_due_date(
        session: Session, sessions: sessionmaker[Session], tmp_path: Path) -> None:
    audience_bundle(tmp_path)
    clock = FixedClock(START)
    world = make_world(session, clock, tmp_path)
    case = cases.start(session, clock, world.coordinator, world.circuit.id,
                       {"date_audience": "2026-03-20"})
    steps = open_steps(sessions, case.id)
    assert steps["preparer"][1] == end_of_day(date(2026, 3, 13))
    assert steps["noter"][1] is None

    tasks.complete(session, clock, world.coordinator, steps["noter"][0],
                   {"date_audience": "2026-04-10"})
    after = open_steps(sessions, case.id)
    assert list(after) == ["preparer"]
    assert after["preparer"][0] == steps["preparer"][0]  # the same row, its date moved
    assert after["preparer"][1] == after["preparer"][2] == end_of_day(date(2026, 4, 3))
    with sessions() as fresh:
        assert fresh.scalar(select(Case.next_due_at).where(Case.id == case.id)) == \
            end_of_day(date(2026, 4, 3))
