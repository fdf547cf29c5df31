"""The hot path (every completion, every timer, every task list) on SQLite and PostgreSQL.

Statement budgets stand in for the benchmark in tests (bench/services.py has the times):
each is what the path needs today, so that a change that reads a row twice or flushes the
case row once more fails here instead of slowly in production. And the plain-statement
writes keep what the unit of work gave: the version check, the incident rows, the row
objects in step with the database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, update
from sqlalchemy.orm import Session, sessionmaker

from engine import scheduler
from engine.clock import FixedClock
from engine.errors import ConcurrentUpdate
from engine.persistence.db import transaction
from engine.persistence.models import Case, HumanTask, Timer
from engine.services import cases, circuits, runtime, tasks, timers
from tests.integration.factories import World, make_world, start_at_decision

REMINDER, ESCALATION = timedelta(days=10), timedelta(days=15)


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return make_world(session, clock)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements run meanwhile (transaction control left out)."""
    seen: list[str] = []

    def note(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            seen.append(" ".join(statement.split())[:90])

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def step_of(session: Session, case_id: int, bpmn_id: str) -> int:
    found = session.scalar(select(HumanTask.id).where(
        HumanTask.case_id == case_id, HumanTask.bpmn_id == bpmn_id, HumanTask.status == "open"))
    assert found is not None
    return found


def test_a_completion_runs_seven_statements(engine: Engine, sessions: sessionmaker[Session],
                                           clock: FixedClock, world: World) -> None:
    """Lock the case with its state, read its open steps, write the state and the case row,
    the step done with the next one (one upsert), arm the timers, audit."""
    with sessions() as session:
        case = cases.start(session, clock, world.coordinator, world.circuit.id,
                           {"nom_menage": "Ménage Budget"})
        analyse = step_of(session, case.id, "analyse")
    with sessions() as session, statements(engine) as seen:
        tasks.complete(session, clock, world.coordinator, analyse, {"mesure": "avdl"})
    assert len(seen) <= 7, "\n".join(seen)
    assert sum(s.startswith('UPDATE "case"') for s in seen) == 1, "\n".join(seen)


def test_a_submission_reads_its_step_in_one_statement_and_completes_in_seven(
        engine: Engine, sessions: sessionmaker[Session], clock: FixedClock,
        world: World) -> None:
    """What the page's POST runs: the step with its case, checksum and circuit title (one
    statement: five before), then the completion, which checks the end to confirm on the
    case it loads (three statements and a second load fewer than a preview beforehand)."""
    with sessions() as session:
        case = cases.start(session, clock, world.coordinator, world.circuit.id,
                           {"nom_menage": "Ménage Soumis"})
        analyse = step_of(session, case.id, "analyse")
        tasks.form_of(session, world.coordinator, analyse)  # the circuit in the cache
    with sessions() as session, statements(engine) as seen:
        step, form = tasks.form_of(session, world.coordinator, analyse, clock)
        assert (step.case_reference, form is not None) == (case.reference, True)
        assert len(seen) == 1, "\n".join(seen)
        tasks.complete(session, clock, world.coordinator, analyse, {"mesure": "avdl"},
                       confirmed_end="")
    assert len(seen) <= 1 + 7, "\n".join(seen)


def test_the_circuits_offered_as_filters_are_one_statement(
        engine: Engine, sessions: sessionmaker[Session], clock: FixedClock,
        world: World) -> None:
    """Their versions' checksums come with them: a cached circuit reads nothing more."""
    with sessions() as session:
        circuits.list_circuits(session, world.coordinator, world.circuit.territory_id)
    with sessions() as session, statements(engine) as seen:
        listed = circuits.list_circuits(session, world.coordinator,
                                        world.circuit.territory_id)
    assert listed and len(seen) == 1, "\n".join(seen)


def test_a_timer_fires_in_eight_statements(engine: Engine, sessions: sessionmaker[Session],
                                           clock: FixedClock, world: World) -> None:
    with sessions() as session:
        start_at_decision(session, clock, world, "Ménage Relancé")
    clock.advance(REMINDER + timedelta(minutes=1))
    with sessions() as session:
        [timer_id] = timers.claim_due(session, clock, "w")
    with sessions() as session, statements(engine) as seen:
        assert timers.fire(session, clock, "w", timer_id)
    assert len(seen) <= 8, "\n".join(seen)


def test_my_tasks_is_two_statements_whatever_the_list(
        engine: Engine, sessions: sessionmaker[Session], clock: FixedClock,
        world: World) -> None:
    with sessions() as session:
        for n in range(30):
            cases.start(session, clock, world.coordinator, world.circuit.id,
                        {"nom_menage": f"Ménage {n:02d}"})
    for options in ({}, {"due": "overdue"}, {"step": "analyse", "page": 2, "per_page": 10},
                    {"assigned": False, "sort": "ready_desc"}):
        with sessions() as session, statements(engine) as seen:
            page = tasks.my_tasks(session, clock, world.coordinator, **options)
        assert len(seen) == 2, (options, seen)
        assert page.total == (0 if options.get("due") else 30)


def test_the_case_row_object_stays_in_step_with_the_database(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        world: World) -> None:
    case_id = start_at_decision(session, clock, world, "Ménage Suivi")
    case = session.get(Case, case_id)
    assert case is not None
    with sessions() as fresh:
        stored = fresh.get(Case, case_id)
        assert stored is not None
        assert (case.version, case.next_due_at) == (stored.version, stored.next_due_at)
    assert not session.dirty  # nothing left for a flush to write again


def test_a_stale_case_row_is_refused(session: Session, sessions: sessionmaker[Session],
                                     clock: FixedClock, world: World) -> None:
    """The version check the unit of work made is made by the plain UPDATE too."""
    case_id = start_at_decision(session, clock, world, "Ménage Concurrent")
    with sessions() as other:
        case = runtime.lock(other, case_id)  # read, then someone else saves first
        assert case is not None
        instance = runtime.load(other, case, clock)
        other.commit()
        with sessions() as third, transaction(third):
            third.execute(update(Case).where(Case.id == case_id)
                          .values(version=Case.version + 1))
        with pytest.raises(ConcurrentUpdate), transaction(other):
            runtime.save(other, case, instance, clock)


def _incident(sessions: sessionmaker[Session], case_id: int, bpmn_id: str) -> int:
    with sessions() as session, transaction(session):
        timer = session.scalar(select(Timer).where(Timer.case_id == case_id,
                                                   Timer.bpmn_id == bpmn_id))
        assert timer is not None
        timer.status, timer.attempts, timer.last_error = "failed", 3, "panne simulée"
        return timer.id


def test_a_save_leaves_an_incident_alone_while_its_timer_is_armed(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        world: World) -> None:
    """Before, a save (a move to another version, a repair) inserted the incident's timer
    again and failed on its unique key."""
    case_id = start_at_decision(session, clock, world, "Ménage En Incident")
    failed = _incident(sessions, case_id, "relance_timer")
    with sessions() as other, transaction(other):
        case = runtime.lock(other, case_id)
        assert case is not None
        runtime.save(other, case, runtime.load(other, case, clock), clock)
    with sessions() as fresh:
        timer = fresh.get(Timer, failed)
        assert timer is not None
        assert (timer.status, timer.last_error) == ("failed", "panne simulée")
        assert len(list(fresh.scalars(select(Timer).where(Timer.case_id == case_id)))) == 2


def test_an_incident_the_case_moved_past_is_withdrawn(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        world: World) -> None:
    """The reminder failed; then the escalation fired and took the step away: the reminder
    no longer waits, so its incident goes (it stayed in the list before, to be retried)."""
    case_id = start_at_decision(session, clock, world, "Ménage Escaladé")
    failed = _incident(sessions, case_id, "relance_timer")
    clock.advance(ESCALATION + timedelta(minutes=1))
    assert scheduler.run_once(sessions, clock, "w").fired == 1
    with sessions() as fresh:
        timer = fresh.get(Timer, failed)
        assert timer is not None and timer.status == "cancelled"
        assert step_of(fresh, case_id, "escalade")


def test_a_writer_that_waited_for_the_lock_reads_the_state_its_winner_saved(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        world: World) -> None:
    """The case row, its state and its version come in one locking statement. On
    PostgreSQL a statement that waited for a row lock sees the new version of the locked row
    but the old version of the rows it joined: unless the state row is locked too, the waiter
    would run on the state from before the winner's save with the winner's version number,
    and its save would pass the version check and erase the winner's step."""
    case_id = start_at_decision(session, clock, world, "Ménage Attendu")
    seen: list[tuple[int, list[str]]] = []
    locked = threading.Event()

    def waiter() -> None:
        locked.wait(10)
        with sessions() as other, transaction(other):
            case = runtime.lock(other, case_id)  # waits for the winner's commit
            assert case is not None
            ready = runtime.load(other, case, clock).ready_tasks()
            seen.append((case.version, [t.bpmn_id for t in ready]))

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    with sessions() as winner, transaction(winner):
        case = runtime.lock(winner, case_id)
        assert case is not None
        locked.set()
        time.sleep(0.5)  # the waiter is now blocked on the case lock
        instance = runtime.load(winner, case, clock)
        [decision] = instance.ready_tasks()
        instance.complete(decision.id, {"decision": "acceptee"})
        runtime.save(winner, case, instance, clock)
        version = case.version
    thread.join(20)
    assert seen == [(version, [])]  # the winner's version, and its state: nothing left to do
