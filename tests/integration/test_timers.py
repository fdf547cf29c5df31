"""Timers through the services and the scheduler, on SQLite and PostgreSQL (RELIABILITY.md §4).

The ``timer`` table is the only truth: rows are armed in the transaction that saves the case,
fire when due and never before, fire exactly once after downtime, stop with their step,
back off and become incidents on failure, and a worker whose lease expired cannot commit.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine import scheduler
from engine.clock import FixedClock
from engine.errors import InvalidTransition, NotFound, PermissionDenied, WorkflowError
from engine.persistence.models import AuditEvent, Case, CaseState, HumanTask, OutboxMessage, Timer
from engine.services import audit, cases, runtime, tasks, timers
from tests.integration.factories import RELANCES, World, make_user, make_world, start_at_decision

REMINDER, ESCALATION = timedelta(days=10), timedelta(days=15)


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return make_world(session, clock)


def rows(sessions: sessionmaker[Session], model: Any, *where: Any) -> list[Any]:
    """Rows as committed now (a fresh session: no stale identity map)."""
    with sessions() as fresh:
        return list(fresh.scalars(select(model).where(*where).order_by(model.id)))


def count(sessions: sessionmaker[Session], model: Any, *where: Any) -> int:
    with sessions() as fresh:
        return fresh.scalar(select(func.count()).select_from(model).where(*where)) or 0


def stored_case(sessions: sessionmaker[Session], case_id: int) -> tuple[Any, ...]:
    """Version, state and next due time of a case as committed now."""
    with sessions() as fresh:
        row = fresh.execute(select(Case.version, CaseState.state, Case.next_due_at)
                            .join(CaseState, CaseState.case_id == Case.id)
                            .where(Case.id == case_id)).one()
    return tuple(row)


def fired_per_case(sessions: sessionmaker[Session]) -> Counter[tuple[int, str]]:
    """How many times each (case, timer element) fired, read from the audit trail."""
    out: Counter[tuple[int, str]] = Counter()
    for event in rows(sessions, AuditEvent, AuditEvent.action == "timer.fired"):
        for bpmn_id in event.detail["fired"]:
            out[(event.case_id, bpmn_id)] += 1
    return out


def test_timers_are_armed_in_the_same_transaction_as_the_case(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock, world: World,
        monkeypatch: pytest.MonkeyPatch) -> None:
    summary = cases.start(session, clock, world.coordinator, world.circuit.id,
                          {"nom_menage": "Ménage Armé"})
    assert rows(sessions, Timer) == []  # ``analyse`` has a due date, not a timer
    [analyse] = rows(sessions, HumanTask, HumanTask.case_id == summary.id)

    # A failure late in the completing transaction leaves no timer and no step behind.
    real_record = audit.record

    def failing_record(*args: Any, **kwargs: Any) -> Any:
        if args[3] == "task.complete":
            raise RuntimeError("panne simulée au moment de journaliser")
        return real_record(*args, **kwargs)

    monkeypatch.setattr(audit, "record", failing_record)
    before = stored_case(sessions, summary.id)
    with pytest.raises(RuntimeError, match="panne simulée"):
        tasks.complete(session, clock, world.coordinator, analyse.id, {"mesure": "avdl"})
    assert stored_case(sessions, summary.id) == before
    assert rows(sessions, Timer) == []
    assert [t.status for t in rows(sessions, HumanTask)] == ["open"]
    monkeypatch.undo()

    tasks.complete(session, clock, world.coordinator, analyse.id, {"mesure": "avdl"})
    armed = rows(sessions, Timer)
    assert [(t.bpmn_id, t.kind, t.status, t.due_at, t.attempts) for t in armed] == [
        ("relance_timer", "duration", "waiting", clock.now() + REMINDER, 0),
        ("escalade_timer", "duration", "waiting", clock.now() + ESCALATION, 0)]
    # the case's next deadline is its open step's due date, not the reminder's (issue #14)
    [decision] = rows(sessions, HumanTask, HumanTask.status == "open")
    assert rows(sessions, Case)[0].next_due_at == decision.due_at != clock.now() + REMINDER


def test_a_case_started_on_a_step_with_timers_has_them_at_once(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock) -> None:
    world = make_world(session, clock, RELANCES)
    summary = cases.start(session, clock, world.coordinator, world.circuit.id,
                          {"nom_menage": "Ménage Relancé"})
    armed = rows(sessions, Timer, Timer.case_id == summary.id)
    assert [(t.bpmn_id, t.due_at - clock.now(), t.status) for t in armed] == [
        ("relance_1_timer", timedelta(days=1), "waiting"),
        ("relance_2_timer", timedelta(days=2), "waiting"),
        ("relance_3_timer", timedelta(days=3), "waiting"),
        ("escalade_timer", timedelta(days=4), "waiting")]


def test_timers_fire_when_due_and_not_before(session: Session, sessions: sessionmaker[Session],
                                             clock: FixedClock, world: World) -> None:
    case_id = start_at_decision(session, clock, world, "Ménage Ponctuel")
    t0 = clock.now()

    clock.set(t0 + REMINDER - timedelta(seconds=1))
    assert scheduler.run_once(sessions, clock, "w") == scheduler.Tick(0, 0, 0)
    assert count(sessions, OutboxMessage) == 0

    clock.set(t0 + REMINDER)  # due exactly now
    assert scheduler.run_once(sessions, clock, "w") == scheduler.Tick(1, 1, 0)
    reminder, escalation = rows(sessions, Timer, Timer.case_id == case_id)
    assert (reminder.status, reminder.fired_at, reminder.lateness_seconds) == \
        ("done", t0 + REMINDER, 0.0)
    assert (reminder.lease_owner, reminder.lease_until) == (None, None)
    assert escalation.status == "waiting"
    [notice] = rows(sessions, OutboxMessage)
    assert (notice.kind, notice.case_id, notice.recipient_role, notice.status) == \
        ("relance", case_id, "operateur", "pending")
    assert notice.payload["step"] == "decision"
    assert [t.bpmn_id for t in rows(sessions, HumanTask, HumanTask.status == "open")] == \
        ["decision"]  # a non-interrupting reminder leaves the step open

    clock.set(t0 + ESCALATION - timedelta(seconds=1))
    assert scheduler.run_once(sessions, clock, "w").fired == 0
    clock.set(t0 + ESCALATION + timedelta(hours=1))  # one hour late
    assert scheduler.run_once(sessions, clock, "w") == scheduler.Tick(1, 1, 0)
    escalation = rows(sessions, Timer, Timer.id == escalation.id)[0]
    assert (escalation.status, escalation.lateness_seconds) == ("done", 3600.0)
    open_steps = rows(sessions, HumanTask, HumanTask.status == "open")
    assert [(t.bpmn_id, t.role) for t in open_steps] == [("escalade", "coordination")]
    assert rows(sessions, HumanTask, HumanTask.bpmn_id == "decision")[0].status == "cancelled"
    assert count(sessions, OutboxMessage) == 1

    events = rows(sessions, AuditEvent, AuditEvent.action == "timer.fired")
    assert [(e.case_id, e.user_id, e.detail["timer"], e.detail["fired"],
             e.detail["lateness_seconds"]) for e in events] == [
        (case_id, None, "relance_timer", ["relance_timer"], 0.0),
        (case_id, None, "escalade_timer", ["escalade_timer"], 3600.0)]
    assert rows(sessions, Case)[0].next_due_at is None
    assert scheduler.run_once(sessions, clock, "w") == scheduler.Tick(0, 0, 0)


def test_restart_fires_every_overdue_timer_exactly_once(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        world: World) -> None:
    t0 = clock.now()
    ids = []
    for number in range(30):
        clock.set(t0 + timedelta(hours=number))
        ids.append(start_at_decision(session, clock, world, f"Ménage {number}"))
    assert count(sessions, Timer, Timer.status == "waiting") == 60

    # The scheduler was stopped: no tick for 15 days and 14.5 hours. Every reminder is due,
    # and the escalations of the first 15 cases (created one hour apart).
    clock.set(t0 + ESCALATION + timedelta(hours=14, minutes=30))
    tick = scheduler.run_once(sessions, clock, "after-restart")
    assert tick.failed == 0
    assert tick.claimed == 45
    escalated = set(ids[:15])
    expected = Counter({(c, "relance_timer"): 1 for c in ids})
    expected.update({(c, "escalade_timer"): 1 for c in escalated})
    assert fired_per_case(sessions) == expected
    assert Counter(m.case_id for m in rows(sessions, OutboxMessage)) == Counter(ids)
    escalades = rows(sessions, HumanTask, HumanTask.bpmn_id == "escalade")
    assert sorted(t.case_id for t in escalades) == sorted(escalated)
    done = rows(sessions, Timer, Timer.status == "done")
    assert len(done) == 45
    assert all(t.lateness_seconds is not None and t.lateness_seconds > 0 for t in done)
    assert all(t.fired_at == clock.now() for t in done)
    assert {t.case_id for t in rows(sessions, Timer, Timer.status == "waiting")} == \
        set(ids) - escalated

    # A second sweep at the same instant finds nothing to do.
    assert scheduler.run_once(sessions, clock, "after-restart") == scheduler.Tick(0, 0, 0)
    assert fired_per_case(sessions) == expected
    with sessions() as fresh:
        status = timers.status(fresh, clock)
    assert (status.due, status.claimed, status.failed, status.waiting) == (0, 0, 0, 15)

    clock.advance(timedelta(days=1))
    assert scheduler.run_once(sessions, clock, "after-restart").fired == 15
    expected.update({(c, "escalade_timer"): 1 for c in set(ids) - escalated})
    assert fired_per_case(sessions) == expected
    assert count(sessions, HumanTask, HumanTask.bpmn_id == "escalade") == 30
    assert count(sessions, OutboxMessage) == 30
    assert count(sessions, Timer, Timer.status == "done") == 60
    assert scheduler.run_once(sessions, clock, "after-restart") == scheduler.Tick(0, 0, 0)


def test_completing_or_closing_stops_the_timers(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        world: World) -> None:
    answered = start_at_decision(session, clock, world, "Ménage Répondu")
    closed = start_at_decision(session, clock, world, "Ménage Clos")
    claimed = start_at_decision(session, clock, world, "Ménage Clos En Vol")
    [decision] = rows(sessions, HumanTask, HumanTask.case_id == answered,
                      HumanTask.bpmn_id == "decision")
    tasks.complete(session, clock, world.operator, decision.id, {"decision": "acceptee"})
    assert [(t.status, t.lease_owner) for t in rows(sessions, Timer, Timer.case_id == answered)] \
        == [("cancelled", None), ("cancelled", None)]
    cases.close(session, clock, world.coordinator, closed, "doublon")
    assert {t.status for t in rows(sessions, Timer, Timer.case_id == closed)} == {"cancelled"}

    # A timer already claimed by the scheduler when its case is closed does not fire.
    clock.advance(REMINDER)
    with sessions() as s:
        [timer_id] = timers.claim_due(s, clock, "w")
    cases.close(session, clock, world.coordinator, claimed, "déménagement")
    with sessions() as s:
        assert timers.fire(s, clock, "w", timer_id) is False
    clock.advance(timedelta(days=30))
    assert scheduler.run_once(sessions, clock, "w") == scheduler.Tick(0, 0, 0)
    assert count(sessions, OutboxMessage) == 0
    assert count(sessions, HumanTask, HumanTask.bpmn_id == "escalade") == 0
    assert {t.status for t in rows(sessions, Timer)} == {"cancelled"}
    assert count(sessions, AuditEvent, AuditEvent.action == "timer.fired") == 0


@pytest.mark.parametrize("fault", [WorkflowError, KeyError], ids=["engine-fault", "bug"])
def test_a_failing_timer_backs_off_then_becomes_an_incident_an_admin_retries(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock, world: World,
        monkeypatch: pytest.MonkeyPatch, fault: type[Exception]) -> None:
    """An engine fault (``WorkflowError``) or an unexpected exception (a library bug): the
    sweep goes on with the other timers, the failing one backs off, then is an incident."""
    broken = start_at_decision(session, clock, world, "Ménage En Panne")
    healthy = start_at_decision(session, clock, world, "Ménage En Forme")
    admin = make_user(session, clock, "admin@demo.test", world.territory.id, "admin")
    real_load = runtime.load

    def load(session_: Session, case: Case, clock_: Any) -> Any:
        if case.id == broken:
            raise fault("état illisible (panne simulée)")
        return real_load(session_, case, clock_)

    monkeypatch.setattr(runtime, "load", load)
    clock.advance(REMINDER + timedelta(minutes=1))
    assert scheduler.run_once(sessions, clock, "w") == scheduler.Tick(2, 1, 1)
    assert count(sessions, OutboxMessage, OutboxMessage.case_id == healthy) == 1
    [timer] = rows(sessions, Timer, Timer.case_id == broken, Timer.bpmn_id == "relance_timer")

    for attempt in range(1, timers.MAX_ATTEMPTS):
        backoff = timers.BACKOFF[attempt - 1]
        timer = rows(sessions, Timer, Timer.id == timer.id)[0]
        assert (timer.status, timer.attempts, timer.lease_owner) == ("waiting", attempt, None)
        assert timer.retry_at == clock.now() + backoff
        assert timer.last_error == str(fault("état illisible (panne simulée)"))
        clock.advance(backoff - timedelta(seconds=1))
        assert scheduler.run_once(sessions, clock, "w") == scheduler.Tick(0, 0, 0)
        clock.advance(timedelta(seconds=1))
        assert scheduler.run_once(sessions, clock, "w") == scheduler.Tick(1, 0, 1)

    timer = rows(sessions, Timer, Timer.id == timer.id)[0]
    assert (timer.status, timer.attempts, timer.lease_owner, timer.fired_at) == \
        ("failed", timers.MAX_ATTEMPTS, None, None)
    [incident] = rows(sessions, AuditEvent, AuditEvent.action == "timer.incident")
    assert (incident.case_id, incident.detail["timer_id"]) == (broken, timer.id)
    clock.advance(timedelta(hours=2))
    assert scheduler.run_once(sessions, clock, "w") == scheduler.Tick(0, 0, 0)
    with sessions() as s:
        assert timers.status(s, clock).failed == 1
    assert count(sessions, OutboxMessage, OutboxMessage.case_id == broken) == 0

    with sessions() as s, pytest.raises(PermissionDenied):
        timers.retry(s, clock, world.coordinator, timer.id)
    with sessions() as s, pytest.raises(NotFound):
        timers.retry(s, clock, world.outsider, timer.id)
    with sessions() as s:
        timers.retry(s, clock, admin, timer.id)
    timer = rows(sessions, Timer, Timer.id == timer.id)[0]
    assert (timer.status, timer.attempts, timer.retry_at, timer.last_error) == \
        ("waiting", 0, None, None)
    [retried] = rows(sessions, AuditEvent, AuditEvent.action == "timer.retry")
    assert (retried.user_id, retried.detail["timer_id"]) == (admin.user_id, timer.id)

    monkeypatch.setattr(runtime, "load", real_load)  # the administrator repaired the case
    assert scheduler.run_once(sessions, clock, "w") == scheduler.Tick(1, 1, 0)
    assert rows(sessions, Timer, Timer.id == timer.id)[0].status == "done"
    assert count(sessions, OutboxMessage, OutboxMessage.case_id == broken) == 1
    with sessions() as s, pytest.raises(InvalidTransition):
        timers.retry(s, clock, admin, timer.id)  # it already fired
    [waiting] = rows(sessions, Timer, Timer.case_id == broken, Timer.status == "waiting")
    with sessions() as s, pytest.raises(InvalidTransition):
        timers.retry(s, clock, admin, waiting.id)  # not in incident
    assert fired_per_case(sessions) == Counter({(broken, "relance_timer"): 1,
                                                (healthy, "relance_timer"): 1})


def test_a_worker_whose_lease_expired_cannot_commit(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        world: World) -> None:
    case_id = start_at_decision(session, clock, world, "Ménage Lent")
    clock.advance(REMINDER)
    with sessions() as s:
        [timer_id] = timers.claim_due(s, clock, "worker-a")
    with sessions() as s:
        assert timers.claim_due(s, clock, "worker-b") == []  # A's lease holds
    clock.advance(timers.LEASE + timedelta(seconds=1))  # A stalled past its lease
    with sessions() as s:
        assert timers.claim_due(s, clock, "worker-b") == [timer_id]
    [timer] = rows(sessions, Timer, Timer.id == timer_id)
    assert (timer.status, timer.lease_owner, timer.attempts) == ("claimed", "worker-b", 2)

    with sessions() as s:
        assert timers.fire(s, clock, "worker-a", timer_id) is False  # fenced off
    assert count(sessions, OutboxMessage) == 0
    assert rows(sessions, Timer, Timer.id == timer_id)[0].status == "claimed"
    with sessions() as s:
        assert timers.fire(s, clock, "worker-b", timer_id) is True
    for worker in ("worker-a", "worker-b"):
        with sessions() as s:
            assert timers.fire(s, clock, worker, timer_id) is False
    assert rows(sessions, Timer, Timer.id == timer_id)[0].status == "done"
    assert count(sessions, OutboxMessage, OutboxMessage.case_id == case_id) == 1
    assert fired_per_case(sessions) == Counter({(case_id, "relance_timer"): 1})
