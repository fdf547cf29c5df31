"""Claimed timers fired as a group: one transaction and one commit for many timers, on
SQLite and PostgreSQL (issue #17: 10,000 overdue timers after a restart).

The group changes only how many commits the timers cost: each timer still does exactly what
it did alone, a case held by another transaction is left for later instead of waited for
with the group's locks held, and a failing timer makes the scheduler fire the others one by
one, the failing one recorded as before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from engine import scheduler
from engine.clock import FixedClock
from engine.errors import WorkflowError
from engine.persistence.db import transaction
from engine.persistence.models import AuditEvent, Case, OutboxMessage, Timer
from engine.services import runtime, timers
from tests.integration.factories import World, make_world, start_at_decision

REMINDER = timedelta(days=10)


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return make_world(session, clock)


@contextmanager
def commits(engine: Engine) -> Iterator[tuple[list[str], list[str]]]:
    """The commits, and the other statements (transaction control left out), run meanwhile."""
    done: list[str] = []
    seen: list[str] = []

    def commit(_connection: Any) -> None:
        done.append("COMMIT")

    def note(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            seen.append(" ".join(statement.split())[:90])

    event.listen(engine, "commit", commit)
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield done, seen
    finally:
        event.remove(engine, "commit", commit)
        event.remove(engine, "before_cursor_execute", note)


def overdue(session: Session, clock: FixedClock, world: World, how_many: int) -> list[int]:
    """``how_many`` cases whose reminder is due now."""
    ids = [start_at_decision(session, clock, world, f"Ménage Groupé {n}")
           for n in range(how_many)]
    clock.advance(REMINDER + timedelta(minutes=1))
    return ids


def fired(sessions: sessionmaker[Session]) -> Counter[int]:
    """Per case, how many ``timer.fired`` audit rows."""
    with sessions() as fresh:
        return Counter(fresh.scalars(select(AuditEvent.case_id)
                                     .where(AuditEvent.action == "timer.fired")))


def status_of(sessions: sessionmaker[Session], case_id: int) -> str:
    with sessions() as fresh:
        found = fresh.scalar(select(Timer.status).where(
            Timer.case_id == case_id, Timer.bpmn_id == "relance_timer"))
    assert found is not None
    return found


def test_a_group_of_timers_commits_once(engine: Engine, session: Session,
                                        sessions: sessionmaker[Session], clock: FixedClock,
                                        world: World) -> None:
    cases = overdue(session, clock, world, 6)
    with sessions() as s:
        claimed = timers.claim_due(s, clock, "w")
    assert len(claimed) == 6
    with sessions() as s, commits(engine) as (done, seen):
        group = timers.fire_together(s, clock, "w", claimed)
    assert (group.fired, group.settled, len(done)) == (claimed, claimed, 1)
    # a timer's own statements (test_hot_path's budget), and one to lock the group's cases
    assert len(seen) <= 1 + 8 * len(claimed), "\n".join(seen)
    assert fired(sessions) == Counter(cases)
    assert all(status_of(sessions, c) == "done" for c in cases)
    with sessions() as fresh:
        assert fresh.scalar(select(func.count()).select_from(OutboxMessage)) == 6

    # once settled, a second group (a stale list) has nothing left to do
    with sessions() as s:
        assert timers.fire_together(s, clock, "w", claimed).fired == []
    assert fired(sessions) == Counter(cases)


def test_a_group_ends_when_the_caller_has_had_enough(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        world: World) -> None:
    cases = overdue(session, clock, world, 3)
    with sessions() as s:
        claimed = timers.claim_due(s, clock, "w")
    with sessions() as s:
        group = timers.fire_together(s, clock, "w", claimed, enough=lambda: True)
    assert (group.fired, group.settled) == (claimed[:1], claimed[:1])  # at least one
    assert [status_of(sessions, c) for c in cases] == ["done", "claimed", "claimed"]
    # the scheduler goes on with the rest of its claim
    assert scheduler.run_once(sessions, clock, "w").fired == 0  # leases still held by "w"
    clock.advance(timers.LEASE + timedelta(seconds=1))
    assert scheduler.run_once(sessions, clock, "w2").fired == 2
    assert fired(sessions) == Counter(cases)


def test_a_group_skips_a_case_another_transaction_holds(
        engine: Engine, session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        world: World) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: no other transaction holds a case meanwhile")
    cases = overdue(session, clock, world, 3)
    with sessions() as s:
        claimed = timers.claim_due(s, clock, "w")
    with sessions() as holder, transaction(holder):
        runtime.lock(holder, cases[1])  # a user completing a step on the second case
        with sessions() as s:
            group = timers.fire_together(s, clock, "w", claimed)
        assert group.fired == group.settled == [claimed[0], claimed[2]]
    assert status_of(sessions, cases[1]) == "claimed"
    with sessions() as s:
        assert timers.fire(s, clock, "w", claimed[1])
    assert fired(sessions) == Counter(cases)


def test_a_failing_timer_sends_the_others_one_by_one(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock, world: World,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The group is rolled back as a whole; the scheduler fires the rest of its claim alone:
    the healthy timers fire once, the failing one backs off with its error recorded."""
    cases = overdue(session, clock, world, 4)
    broken = cases[2]
    real_load = runtime.load

    def load(session_: Session, case: Case, clock_: Any) -> Any:
        if case.id == broken:
            raise WorkflowError("état illisible (panne simulée)")
        return real_load(session_, case, clock_)

    monkeypatch.setattr(runtime, "load", load)
    assert scheduler.run_once(sessions, clock, "w") == scheduler.Tick(4, 3, 1)
    assert fired(sessions) == Counter(c for c in cases if c != broken)
    with sessions() as fresh:
        timer = fresh.scalars(select(Timer).where(Timer.case_id == broken,
                                                  Timer.bpmn_id == "relance_timer")).one()
        assert (timer.status, timer.attempts, timer.last_error) == (
            "waiting", 1, "état illisible (panne simulée)")
