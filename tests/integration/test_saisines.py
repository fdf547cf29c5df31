"""Cases opened by other software (``saisines``): one case per idempotency key and caller
within a day (even for twin requests racing each other), a key reused for another request
refused, a case found by its reference."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import FixedClock
from engine.errors import Conflict, FormInvalid, InvalidInput, NotFound
from engine.persistence.models import ApiIdempotency, Case
from engine.services import cases, saisines
from tests.integration.factories import World, make_world
from tests.integration.test_concurrency import race


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return make_world(session, clock)


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Case)) or 0)


def test_one_case_per_key_and_caller_within_a_day(session: Session, clock: FixedClock,
                                                  world: World) -> None:
    data = {"nom_menage": "Ménage Clé"}
    first = saisines.start_once(session, clock, world.coordinator, world.circuit.id, data, "k1")
    again = saisines.start_once(session, clock, world.coordinator, world.circuit.id, data, "k1")
    assert first.created and not again.created and again.case.id == first.case.id
    assert [s.bpmn_id for s in again.steps] == ["analyse"]
    assert _count(session) == 1
    with pytest.raises(Conflict):  # the same key for another request
        saisines.start_once(session, clock, world.coordinator, world.circuit.id,
                            {"nom_menage": "Autre"}, "k1")
    other = saisines.start_once(session, clock, world.operator, world.circuit.id, data, "k1")
    assert other.created  # another caller's key is its own
    clock.advance(saisines.IDEMPOTENCY_WINDOW + timedelta(minutes=1))
    later = saisines.start_once(session, clock, world.coordinator, world.circuit.id, data, "k1")
    assert later.created and _count(session) == 3
    # the expired key was purged when it was claimed again: one row per caller and key
    assert session.scalar(select(func.count()).select_from(ApiIdempotency).where(
        ApiIdempotency.user_id == world.coordinator.user_id)) == 1
    assert saisines.start_once(session, clock, world.coordinator, world.circuit.id, data).created


def test_refusals_store_nothing(session: Session, clock: FixedClock, world: World) -> None:
    for bad in ("k" * 201, "k\x00", "k\n"):
        with pytest.raises(InvalidInput):
            saisines.start_once(session, clock, world.coordinator, world.circuit.id,
                                {"nom_menage": "X"}, bad)
    with pytest.raises(FormInvalid):
        saisines.start_once(session, clock, world.coordinator, world.circuit.id, {}, "k2")
    assert _count(session) == 0
    # the refused request did not use the key up
    assert saisines.start_once(session, clock, world.coordinator, world.circuit.id,
                               {"nom_menage": "X"}, "k2").created


def test_a_case_by_its_reference(session: Session, clock: FixedClock, world: World) -> None:
    opened = saisines.start_once(session, clock, world.coordinator, world.circuit.id,
                                 {"nom_menage": "Réf"})
    assert cases.id_of_reference(session, world.operator, opened.case.reference) == \
        opened.case.id
    for reference, actor in ((opened.case.reference, world.outsider), ("", world.operator),
                             ("X" * 41, world.operator), ("INCONNU-1", world.operator),
                             ("TLS\x00-1", world.operator)):
        with pytest.raises(NotFound):
            cases.id_of_reference(session, actor, reference)


def test_twin_requests_at_the_same_instant_open_one_case(
        sessions: sessionmaker[Session], clock: FixedClock, world: World) -> None:
    """Four identical requests released together, each in its own session: one opens the
    case, the others wait for its commit and return it (PostgreSQL: the unique index makes
    them wait; SQLite: one writer at a time)."""
    data = {"nom_menage": "Ménage Jumeau"}

    def start(racing: Session) -> saisines.Started:
        return saisines.start_once(racing, clock, world.coordinator, world.circuit.id,
                                   data, "jumeau-1")

    results = race(sessions, start, start, start, start)
    assert [kind for kind, _ in results] == ["ok"] * 4, results
    started = [value for _, value in results]
    assert sum(s.created for s in started) == 1
    assert len({s.case.id for s in started}) == 1
    with sessions() as fresh:
        assert _count(fresh) == 1
        assert fresh.scalar(select(func.count()).select_from(ApiIdempotency)) == 1


def test_twin_keys_for_different_requests_one_wins(
        sessions: sessionmaker[Session], clock: FixedClock, world: World) -> None:
    """The same key sent at once with two different requests: one case, the other 409."""
    def start(name: str) -> Callable[[Session], saisines.Started]:
        return lambda racing: saisines.start_once(racing, clock, world.coordinator,
                                                  world.circuit.id, {"nom_menage": name}, "k")

    results = race(sessions, start("Un"), start("Deux"))
    kinds = sorted(kind for kind, _ in results)
    assert kinds == ["error", "ok"], results
    assert isinstance(next(v for kind, v in results if kind == "error"), Conflict)
    with sessions() as fresh:
        assert _count(fresh) == 1


def test_the_scheduler_forgets_expired_keys_hourly(
        sessions: sessionmaker[Session], session: Session, clock: FixedClock,
        world: World) -> None:
    """An account that never sends another key leaves none behind: the scheduler's tick
    deletes the expired ones, at its first tick and then at most once an hour."""
    from engine import scheduler  # a test of the entry point (imports the whole engine)

    data = {"nom_menage": "Ménage Oublié"}
    saisines.start_once(session, clock, world.coordinator, world.circuit.id, data, "k-old")
    clock.advance(saisines.IDEMPOTENCY_WINDOW - timedelta(minutes=30))
    saisines.start_once(session, clock, world.operator, world.circuit.id, data, "k-new")
    session.commit()
    worker = f"test-forget-{id(sessions)}"  # its own hourly rhythm
    scheduler.run_once(sessions, clock, worker)  # first tick: nothing expired yet
    session.rollback()  # a fresh read of what the scheduler wrote
    assert session.scalar(select(func.count()).select_from(ApiIdempotency)) == 2
    clock.advance(timedelta(minutes=45))  # k-old expired, but the hour has not passed
    scheduler.run_once(sessions, clock, worker)
    session.rollback()  # a fresh read of what the scheduler wrote
    assert session.scalar(select(func.count()).select_from(ApiIdempotency)) == 2
    clock.advance(timedelta(minutes=20))
    scheduler.run_once(sessions, clock, worker)
    session.rollback()  # a fresh read of what the scheduler wrote
    assert [k for (k,) in session.execute(select(ApiIdempotency.key))] == ["k-new"]
    assert _count(session) == 2  # the cases stay
