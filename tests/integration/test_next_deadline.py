"""« Prochaine échéance » (issue #14, item 3): one definition, the earliest due date of the
case's open steps, computed by ``runtime.save`` and read by the list and the case page.

A timer's date is not a deadline: a step due on 21/12 whose reminder fires on 16/12 shows
21/12; a step 31 days overdue keeps showing its date (the list marks it late)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import scheduler
from engine.clock import FixedClock
from engine.persistence.models import Case, HumanTask
from engine.services import cases
from tests.integration.factories import make_world, start_at_decision

START = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)  # Sunday 6 December 2026, 10:00 in Paris


def next_due(sessions: sessionmaker[Session], case_id: int) -> datetime | None:
    with sessions() as fresh:
        return fresh.scalar(select(Case.next_due_at).where(Case.id == case_id))


def open_due(sessions: sessionmaker[Session], case_id: int) -> list[datetime | None]:
    with sessions() as fresh:
        return list(fresh.scalars(select(HumanTask.due_at).where(
            HumanTask.case_id == case_id, HumanTask.status == "open")))


def test_the_next_deadline_is_the_open_steps_due_date_not_a_timers(
        session: Session, sessions: sessionmaker[Session]) -> None:
    clock = FixedClock(START)
    world = make_world(session, clock)
    case_id = start_at_decision(session, clock, world, "Ménage Décembre")
    # « Statuer » is due on 21/12; its reminder (a timer) comes on 16/12
    assert open_due(sessions, case_id) == [START + timedelta(days=15)]
    assert next_due(sessions, case_id) == datetime(2026, 12, 21, 9, 0, tzinfo=UTC)

    clock.set(START + timedelta(days=10))  # the reminder fires: the step stays open
    assert scheduler.run_once(sessions, clock, "w").fired == 1
    assert next_due(sessions, case_id) == datetime(2026, 12, 21, 9, 0, tzinfo=UTC)

    # the same date on the list and on the case page
    [listed] = [c for c in cases.search(session, clock, world.coordinator,
                                        world.territory.id).items if c.id == case_id]
    detail = cases.get(session, clock, world.coordinator, case_id)
    assert listed.next_due_at == detail.summary.next_due_at == START + timedelta(days=15)

    cases.close(session, clock, world.coordinator, case_id, "Situation réglée")
    assert next_due(sessions, case_id) is None


def test_an_overdue_step_keeps_its_date(session: Session,
                                        sessions: sessionmaker[Session]) -> None:
    clock = FixedClock(START)
    world = make_world(session, clock)
    summary = cases.start(session, clock, world.coordinator, world.circuit.id,
                          {"nom_menage": "Ménage En Retard"})
    [due] = open_due(sessions, summary.id)  # « Analyser » is due in two working days
    assert due is not None and next_due(sessions, summary.id) == due

    clock.set(due + timedelta(days=31))  # 31 days late: no timer, nothing saved since
    assert scheduler.run_once(sessions, clock, "w").fired == 0
    [listed] = [c for c in cases.search(session, clock, world.coordinator,
                                        world.territory.id).items if c.id == summary.id]
    assert listed.next_due_at == due and listed.next_due_at < clock.now() - timedelta(days=30)
