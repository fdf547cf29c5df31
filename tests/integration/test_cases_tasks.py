"""Cases and steps through the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.errors import Conflict, FormInvalid, InvalidTransition, NotFound, PermissionDenied
from engine.persistence.models import AuditEvent, Case, HumanTask, OutboxMessage, Timer
from engine.services import cases, tasks
from tests.integration.factories import World, make_world

START = {"nom_menage": "Ménage Test Durand", "nb_enfants": 2}


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return make_world(session, clock)


def _counts(session: Session) -> tuple[int, ...]:
    return tuple(session.scalar(select(func.count()).select_from(m)) or 0
                 for m in (Case, HumanTask, Timer, AuditEvent, OutboxMessage))


def test_start_writes_case_tasks_and_audit(session: Session, clock: FixedClock,
                                           world: World) -> None:
    summary = cases.start(session, clock, world.coordinator, world.circuit.id, START)
    assert summary.reference == f"{world.territory.prefix}-2026-00001"
    assert summary.household_name == "Ménage Test Durand"
    again = cases.start(session, clock, world.coordinator, world.circuit.id, START)
    assert again.reference.endswith("-00002")
    page = tasks.my_tasks(session, clock, world.coordinator)
    assert [t.bpmn_id for t in page.items] == ["analyse", "analyse"]
    assert page.items[0].case_reference == summary.reference
    assert tasks.my_tasks(session, clock, world.operator).total == 0


def test_invalid_start_form_stores_nothing(session: Session, clock: FixedClock,
                                           world: World) -> None:
    before = _counts(session)
    with pytest.raises(FormInvalid):
        cases.start(session, clock, world.coordinator, world.circuit.id, {"nb_enfants": -1})
    assert _counts(session) == before


def test_other_territory_sees_nothing(session: Session, clock: FixedClock, world: World) -> None:
    summary = cases.start(session, clock, world.coordinator, world.circuit.id, START)
    with pytest.raises(NotFound):
        cases.start(session, clock, world.outsider, world.circuit.id, START)
    with pytest.raises(NotFound):
        cases.get(session, clock, world.outsider, summary.id)
    [task] = tasks.my_tasks(session, clock, world.coordinator).items
    for action in (lambda: tasks.claim(session, clock, world.outsider, task.id),
                   lambda: tasks.complete(session, clock, world.outsider, task.id, {})):
        with pytest.raises(NotFound):
            action()
    assert tasks.my_tasks(session, clock, world.outsider).total == 0


def test_complete_runs_the_step_and_offers_the_next(session: Session, clock: FixedClock,
                                                    world: World) -> None:
    summary = cases.start(session, clock, world.coordinator, world.circuit.id, START)
    [task] = tasks.my_tasks(session, clock, world.coordinator).items
    assert tasks.complete(session, clock, world.coordinator, task.id, {"mesure": "avdl"}) is None
    [decision] = tasks.my_tasks(session, clock, world.operator).items
    assert decision.bpmn_id == "decision"
    assert decision.due_at == clock.now() + timedelta(days=15)
    detail = cases.get(session, clock, world.coordinator, summary.id)
    assert detail.data["mesure"] == "avdl"
    assert [t.name for t in detail.timers] == ["Relance à 10 jours", "Sans réponse à 15 jours"]
    assert [e[1] for e in detail.timeline] == ["case.start", "task.complete"]
    assert detail.completed_steps == ["Analyser la demande"]
    tasks.complete(session, clock, world.operator, decision.id, {"decision": "acceptee"})
    done = cases.get(session, clock, world.coordinator, summary.id)
    assert (done.summary.status, done.summary.end_label) == ("completed", "Orientation acceptée")
    assert {t.status for t in done.timers} == {"cancelled"}


def test_bad_completions_are_refused_and_write_nothing(session: Session, clock: FixedClock,
                                                       world: World) -> None:
    cases.start(session, clock, world.coordinator, world.circuit.id, START)
    [task] = tasks.my_tasks(session, clock, world.coordinator).items
    before = _counts(session)
    with pytest.raises(NotFound):
        tasks.complete(session, clock, world.coordinator, 999_999, {})
    # another role's step, on a case out of the operator's reach: as if it did not exist
    with pytest.raises(NotFound):
        tasks.complete(session, clock, world.operator, task.id, {"mesure": "avdl"})
    with pytest.raises(FormInvalid) as caught:
        tasks.complete(session, clock, world.coordinator, task.id, {"mesure": "nope"})
    assert caught.value.errors == {"mesure": ["Choisissez une des valeurs proposées."]}
    refused = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id.desc())).first()
    assert refused == "task.refused"  # the forged attempt, and nothing else
    assert _counts(session) == (*before[:3], before[3] + 1, before[4])
    tasks.complete(session, clock, world.coordinator, task.id, {"mesure": "avdl"})
    after = _counts(session)
    with pytest.raises(InvalidTransition, match="déjà terminée"):
        tasks.complete(session, clock, world.coordinator, task.id, {"mesure": "avdl"})
    assert _counts(session) == after


def test_claim_unclaim_and_assign(session: Session, clock: FixedClock, world: World) -> None:
    from tests.integration.factories import make_user
    cases.start(session, clock, world.coordinator, world.circuit.id, START)
    [task] = tasks.my_tasks(session, clock, world.coordinator).items
    tasks.complete(session, clock, world.coordinator, task.id, {"mesure": "avdl"})
    second = make_user(session, clock, "op2@demo.test", world.territory.id, "operateur")
    [decision] = tasks.my_tasks(session, clock, world.operator).items
    with pytest.raises(PermissionDenied):
        tasks.claim(session, clock, world.coordinator, decision.id)
    assert tasks.claim(session, clock, world.operator, decision.id).assignee_id == \
        world.operator.user_id
    with pytest.raises(Conflict):
        tasks.claim(session, clock, second, decision.id)
    assert tasks.my_tasks(session, clock, second).total == 0
    # held by someone else, on a case out of the second operator's reach: not found
    with pytest.raises(NotFound):
        tasks.complete(session, clock, second, decision.id, {"decision": "acceptee"})
    with pytest.raises(NotFound):
        tasks.unclaim(session, clock, second, decision.id)
    with pytest.raises(PermissionDenied):
        tasks.assign(session, clock, world.operator, decision.id, second.user_id)
    with pytest.raises(Conflict):
        tasks.assign(session, clock, world.coordinator, decision.id, world.coordinator.user_id)
    tasks.assign(session, clock, world.coordinator, decision.id, second.user_id)
    assert [t.id for t in tasks.my_tasks(session, clock, second, assigned=True).items] == \
        [decision.id]
    tasks.unclaim(session, clock, world.coordinator, decision.id)
    assert tasks.my_tasks(session, clock, world.operator, assigned=False).total == 1


def test_task_list_filters_and_paginates(session: Session, clock: FixedClock,
                                         world: World) -> None:
    for number in range(7):
        cases.start(session, clock, world.coordinator, world.circuit.id,
                    {"nom_menage": f"Ménage {number}"})
        clock.advance(timedelta(hours=1))
    page = tasks.my_tasks(session, clock, world.coordinator, per_page=3, page=3)
    assert (page.total, page.pages, len(page.items)) == (7, 3, 1)
    clock.advance(timedelta(days=10))
    assert tasks.my_tasks(session, clock, world.coordinator, due="overdue").total == 7
    assert tasks.my_tasks(session, clock, world.coordinator, step="decision").total == 0
    found = cases.search(session, clock, world.coordinator, world.territory.id, text="ménage 3")
    assert [c.household_name for c in found.items] == ["Ménage 3"]
    assert cases.search(session, clock, world.coordinator, world.territory.id, step="analyse").total == 7


def test_close_and_cancel(session: Session, clock: FixedClock, world: World) -> None:
    summary = cases.start(session, clock, world.coordinator, world.circuit.id, START)
    with pytest.raises(NotFound):  # no party to the case, no step there: out of reach
        cases.close(session, clock, world.operator, summary.id, "doublon")
    with pytest.raises(InvalidTransition):
        cases.close(session, clock, world.coordinator, summary.id, "  ")
    closed = cases.close(session, clock, world.coordinator, summary.id, "doublon", cancel=True)
    assert closed.status == "cancelled"
    assert tasks.my_tasks(session, clock, world.coordinator).total == 0
    with pytest.raises(InvalidTransition):
        cases.close(session, clock, world.coordinator, summary.id, "encore")


def test_audit_rows_cannot_be_changed(session: Session, clock: FixedClock, world: World) -> None:
    from sqlalchemy import text
    cases.start(session, clock, world.coordinator, world.circuit.id, START)
    with pytest.raises(Exception, match="append-only"):
        session.execute(text("UPDATE audit_event SET action = 'x'"))
    session.rollback()
    with pytest.raises(Exception, match="append-only"):
        session.execute(text("DELETE FROM audit_event"))
    session.rollback()
