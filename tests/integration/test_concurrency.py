"""Real threads racing on one case, each with its own session (SQLite: one shared file).

Whoever commits first wins; the others get ``InvalidTransition`` or ``ConcurrentUpdate``,
never a database error, and the case advances exactly once.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import scheduler
from engine.clock import FixedClock
from engine.errors import ConcurrentUpdate, InvalidTransition
from engine.persistence.models import AuditEvent, Case, HumanTask, Timer
from engine.services import cases, tasks, timers
from engine.services.access import Actor
from tests.integration.factories import World, make_user, make_world, start_at_decision

ROUNDS = 5
JOIN_SECONDS = 120  # a hung thread fails the test instead of hanging it
LOSING = (InvalidTransition, ConcurrentUpdate)


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return make_world(session, clock)


def race(sessions: sessionmaker[Session], *actions: Callable[[Session], Any]) -> list[Any]:
    """Run each action in its own thread and session, all released at once by a barrier.

    Returns, in order, the action's result or the exception it raised.
    """
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def run(index: int, action: Callable[[Session], Any]) -> None:
        try:
            with sessions() as session:
                session.execute(select(1))  # connect before the barrier
                session.rollback()
                barrier.wait(timeout=JOIN_SECONDS)
                results[index] = ("ok", action(session))
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            results[index] = ("error", exc)

    threads = [threading.Thread(target=run, args=(i, a), daemon=True)
               for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)
    assert not any(t.is_alive() for t in threads), "a racing thread hung"
    return results


def outcome(results: list[Any]) -> tuple[list[Any], list[BaseException]]:
    """Split results into wins and losses; anything but a clean refusal fails the test."""
    wins = [value for kind, value in results if kind == "ok"]
    losses = [value for kind, value in results if kind == "error"]
    unexpected = [e for e in losses if not isinstance(e, LOSING)]
    assert not unexpected, "unexpected errors: " + " | ".join(map(str, unexpected))
    return wins, losses


def read(sessions: sessionmaker[Session], model: Any, *where: Any) -> list[Any]:
    with sessions() as fresh:
        return list(fresh.scalars(select(model).where(*where).order_by(model.id)))


def completions(sessions: sessionmaker[Session], case_id: int) -> Counter[str]:
    events = read(sessions, AuditEvent, AuditEvent.case_id == case_id,
                  AuditEvent.action == "task.complete")
    return Counter(e.detail["task"] for e in events)


def complete(actor: Actor, clock: FixedClock, task_id: int,
             data: dict[str, str]) -> Callable[[Session], Any]:
    return lambda session: tasks.complete(session, clock, actor, task_id, data)


def test_the_same_step_completed_at_once_advances_the_case_once(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        world: World) -> None:
    coordinator2 = make_user(session, clock, "coord2@demo.test", world.territory.id,
                             "coordination")
    operator2 = make_user(session, clock, "op2@demo.test", world.territory.id, "operateur")
    refusals: Counter[str] = Counter()
    for number in range(ROUNDS):
        case = cases.start(session, clock, world.coordinator, world.circuit.id,
                           {"nom_menage": f"Ménage Pressé {number}"})
        [analyse] = read(sessions, HumanTask, HumanTask.case_id == case.id)
        # Two coordinators at once, and a double submit by the first one.
        wins, losses = outcome(race(
            sessions, complete(world.coordinator, clock, analyse.id, {"mesure": "avdl"}),
            complete(coordinator2, clock, analyse.id, {"mesure": "asll"}),
            complete(world.coordinator, clock, analyse.id, {"mesure": "avdl"})))
        assert (len(wins), len(losses)) == (1, 2)
        refusals.update(type(e).__name__ for e in losses)
        steps = read(sessions, HumanTask, HumanTask.case_id == case.id)
        assert [(t.bpmn_id, t.status) for t in steps] == [("analyse", "completed"),
                                                          ("decision", "open")]
        assert completions(sessions, case.id) == Counter({"analyse": 1})
        assert len(read(sessions, Timer, Timer.case_id == case.id)) == 2

        decision = steps[1]
        wins, losses = outcome(race(
            sessions, complete(world.operator, clock, decision.id, {"decision": "acceptee"}),
            complete(operator2, clock, decision.id, {"decision": "refus_personne"}),
            complete(operator2, clock, decision.id, {"decision": "refus_personne"})))
        assert (len(wins), len(losses)) == (1, 2)
        refusals.update(type(e).__name__ for e in losses)
        [row] = read(sessions, Case, Case.id == case.id)
        assert row.status == "completed"
        assert row.end_state in {"end_ok", "end_refus"}
        assert completions(sessions, case.id) == Counter({"analyse": 1, "decision": 1})
        assert [t.bpmn_id for t in read(sessions, HumanTask, HumanTask.case_id == case.id)] == \
            ["analyse", "decision"]
        assert {t.status for t in read(sessions, Timer, Timer.case_id == case.id)} == \
            {"cancelled"}
    print(f"\nrefusals over {ROUNDS} rounds: {dict(refusals)}")


def test_a_timer_firing_while_the_form_is_submitted_never_both_win(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        world: World) -> None:
    winners: Counter[str] = Counter()
    for number in range(ROUNDS * 2):
        case_id = start_at_decision(session, clock, world, f"Ménage Sur Le Fil {number}")
        [decision] = read(sessions, HumanTask, HumanTask.case_id == case_id,
                          HumanTask.bpmn_id == "decision")
        clock.advance(timedelta(days=10, minutes=1))
        assert scheduler.run_once(sessions, clock, "sched").fired == 1  # the reminder
        clock.advance(timedelta(days=5))  # the escalation is due, the operator answers now
        submit = complete(world.operator, clock, decision.id, {"decision": "acceptee"})
        [escalation] = read(sessions, Timer, Timer.case_id == case_id, Timer.status == "waiting")
        if number % 2 == 0:  # already claimed: fire against submit
            with sessions() as s:
                assert timers.claim_due(s, clock, "sched") == [escalation.id]

            def tick(session_: Session, timer_id: int = escalation.id) -> Any:
                return timers.fire(session_, clock, "sched", timer_id)
        else:  # the whole sweep (claim and fire) against submit
            def tick(session_: Session) -> Any:
                return scheduler.run_once(sessions, clock, "sched").fired == 1

        submitted, fired = race(sessions, submit, tick)
        assert fired[0] == "ok", f"the timer side failed: {fired[1]}"
        outcome([submitted])
        [timer] = read(sessions, Timer, Timer.id == escalation.id)
        steps = {t.bpmn_id: t.status for t in read(sessions, HumanTask,
                                                     HumanTask.case_id == case_id)}
        [row] = read(sessions, Case, Case.id == case_id)
        if submitted[0] == "ok":  # the operator won: no escalation, ever
            winners["submit"] += 1
            assert fired[1] is False
            assert timer.status == "cancelled"
            assert steps == {"analyse": "completed", "decision": "completed"}
            assert (row.status, row.end_state) == ("completed", "end_ok")
            assert completions(sessions, case_id)["decision"] == 1
        else:  # the timer won: the answer is refused, the escalation is open
            winners["timer"] += 1
            assert fired[1] is True
            assert timer.status == "done"
            assert steps == {"analyse": "completed", "decision": "cancelled",
                             "escalade": "open"}
            assert row.status == "open"
            assert completions(sessions, case_id)["decision"] == 0
        events = read(sessions, AuditEvent, AuditEvent.case_id == case_id,
                      AuditEvent.action == "timer.fired")
        assert [e.detail["fired"] for e in events] == (
            [["relance_timer"]] if submitted[0] == "ok"
            else [["relance_timer"], ["escalade_timer"]])
    print(f"\nwinners over {ROUNDS * 2} rounds: {dict(winners)}")


def test_first_cases_of_the_year_opened_at_once_get_distinct_references(
        sessions: sessionmaker[Session], clock: FixedClock, world: World) -> None:
    def start(session: Session) -> str:
        return cases.start(session, clock, world.coordinator, world.circuit.id,
                           {"nom_menage": "Ménage Simultané"}).reference

    results = race(sessions, start, start, start)
    assert [kind for kind, _ in results] == ["ok", "ok", "ok"], results
    references = sorted(value for _, value in results)
    assert references == [f"{world.territory.prefix}-2026-0000{n}" for n in (1, 2, 3)]
