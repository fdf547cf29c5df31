"""The delays the statistics count are written when they happen (issue #16, item 1), on
SQLite and PostgreSQL: an orientation carries the whole hours from the case's request (the
case's first orientation only) and to its answer; migration 0020 fills them for the
orientations already there; anonymising keeps them, so the statistics count the same."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.core.retention import Rule, Rules, parse_duration
from engine.persistence.migrate import alembic_config, upgrade
from engine.persistence.models import Case, Orientation, Territory
from engine.services import retention
from tests.integration.orientation_world import (
    Oriented,
    answer,
    new_case,
    orient,
    oriented_world,
)


def _hours(session: Session) -> list[tuple[int, int | None, int | None]]:
    session.expire_all()
    return [tuple(r) for r in session.execute(  # type: ignore[misc]
        select(Orientation.case_id, Orientation.request_hours, Orientation.answer_hours)
        .order_by(Orientation.id))]


def _two_cases(session: Session, clock: FixedClock, where: Oriented) -> tuple[int, int]:
    """A case oriented 30 h after its request and answered 50 h later; another oriented
    twice (its second orientation is not its first), never answered."""
    first = new_case(session, clock, where, "Ménage Premier")
    clock.advance(timedelta(hours=30, minutes=20))
    orient(session, clock, where, first, where.free)
    clock.advance(timedelta(hours=50, minutes=59))
    answer(session, clock, where.worker_a, first, decision="acceptee")
    second = new_case(session, clock, where, "Ménage Second")
    clock.advance(timedelta(hours=3))
    orient(session, clock, where, second, where.free)
    session.add(Orientation(territory_id=where.world.territory.id, case_id=second,
                            service_id=where.free, organisation_id=where.org_a,
                            measure="avdl", state="envoyee",
                            created_at=clock.now() + timedelta(days=2),
                            updated_at=clock.now() + timedelta(days=2), reasons=[]))
    session.commit()
    return first, second


def test_an_orientation_carries_its_delays_from_when_they_happen(
        session: Session, clock: FixedClock, tmp_path: Path) -> None:
    where = oriented_world(session, clock, tmp_path)
    first, second = _two_cases(session, clock, where)
    assert _hours(session) == [(first, 30, 50), (second, 3, None), (second, None, None)]


def test_migration_0020_fills_the_delays_already_there(
        session: Session, clock: FixedClock, tmp_path: Path, engine: Engine) -> None:
    where = oriented_world(session, clock, tmp_path)
    _two_cases(session, clock, where)
    written = _hours(session)
    session.execute(update(Orientation).values(request_hours=None, answer_hours=None))
    session.commit()
    session.close()
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0019")
    finally:
        upgrade(engine)
    assert _hours(session) == written


def test_anonymising_keeps_the_delays(session: Session, clock: FixedClock,
                                      tmp_path: Path) -> None:
    where = oriented_world(session, clock, tmp_path)
    territory = session.get(Territory, where.world.territory.id)
    assert territory is not None
    territory.retention = Rules(Rule(parse_duration("6M"))).as_json()
    first, _ = _two_cases(session, clock, where)
    before = _hours(session)
    case = session.get(Case, first)
    assert case is not None
    case.status, case.closed_at = "completed", clock.now()
    session.commit()
    clock.advance(timedelta(days=200))
    assert retention.anonymise(session, clock, first)
    assert _hours(session) == before
