"""What the statistics count is written when it happens (issue #16, item 1), on SQLite and
PostgreSQL: an orientation carries the whole hours from the case's request (the case's first
orientation only) and to its answer; a case's furthest eviction stage is one fact, kept up
to date as stages are recorded; migration 0020 fills both for the rows already there;
anonymising keeps them, so the statistics count the same."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.core.forms import form_from_schema
from engine.core.retention import Rule, Rules, parse_duration
from engine.persistence.migrate import alembic_config, upgrade
from engine.persistence.models import Case, CaseFact, Orientation, Territory
from engine.services import case_facts, retention, subject_access
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


STAGES = form_from_schema({"type": "object", "properties": {"stade": {
    "type": "string", "x-aiguillage-statistic": "eviction_stage",
    "oneOf": [{"const": "commandement", "title": "Commandement de payer"},
              {"const": "assignation", "title": "Assignation"},
              {"const": "audience", "title": "Audience"}]}}})


def _furthest(session: Session) -> list[tuple[int, str, str, str]]:
    session.expire_all()
    return [tuple(r) for r in session.execute(  # type: ignore[misc]
        select(CaseFact.case_id, CaseFact.value, CaseFact.label, CaseFact.detail)
        .where(CaseFact.kind == "eviction_furthest").order_by(CaseFact.case_id))]


def _staged(session: Session, clock: FixedClock, where: Oriented) -> tuple[int, int]:
    """A case whose procedure went to the hearing then had an earlier act noted again;
    another whose stage was written straight into the table (an import, a test)."""
    one = new_case(session, clock, where, "Ménage Audience")
    case = session.get(Case, one)
    assert case is not None
    for stage in ("commandement", "audience", "assignation"):
        clock.advance(timedelta(days=30))
        case_facts.record(session, clock, case, STAGES, {"stade": stage})
        session.commit()
    two = new_case(session, clock, where, "Ménage Importé")
    session.add(CaseFact(territory_id=where.world.territory.id, case_id=two,
                         kind="eviction_stage", value="assignation", label="Assignation",
                         detail="01", recorded_at=clock.now()))
    session.commit()
    return one, two


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


def test_a_case_keeps_its_furthest_eviction_stage_as_stages_are_recorded(
        session: Session, clock: FixedClock, tmp_path: Path) -> None:
    where = oriented_world(session, clock, tmp_path)
    one, two = _staged(session, clock, where)
    assert _furthest(session) == [(one, "audience", "Audience", "02"),
                                  (two, "assignation", "Assignation", "01")]
    # a person's access to their data names it in French, never by its code
    case = session.get(Case, one)
    assert case is not None and case.household_id is not None
    export = json.dumps(subject_access.as_json(subject_access.export(
        session, clock, where.world.coordinator, case.household_id)), ensure_ascii=False)
    assert "Stade le plus avancé de la procédure d'expulsion" in export
    assert "eviction_furthest" not in export


def test_migration_0020_fills_the_delays_already_there(
        session: Session, clock: FixedClock, tmp_path: Path, engine: Engine) -> None:
    where = oriented_world(session, clock, tmp_path)
    _two_cases(session, clock, where)
    _staged(session, clock, where)
    written, furthest = _hours(session), _furthest(session)
    session.execute(update(Orientation).values(request_hours=None, answer_hours=None))
    session.execute(delete(CaseFact).where(CaseFact.kind == "eviction_furthest"))
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
    assert _furthest(session) == furthest


def test_anonymising_keeps_the_delays_and_the_furthest_stage(session: Session, clock: FixedClock,
                                      tmp_path: Path) -> None:
    where = oriented_world(session, clock, tmp_path)
    territory = session.get(Territory, where.world.territory.id)
    assert territory is not None
    territory.retention = Rules(Rule(parse_duration("6M"))).as_json()
    first, _ = _two_cases(session, clock, where)
    staged, _ = _staged(session, clock, where)
    before, furthest = _hours(session), _furthest(session)
    for case_id in (first, staged):
        case = session.get(Case, case_id)
        assert case is not None
        case.status, case.closed_at = "completed", clock.now()
    session.commit()
    clock.advance(timedelta(days=200))
    assert retention.anonymise(session, clock, first)
    assert _hours(session) == before
    # held by its unsettled procedure until three years after its closing
    clock.advance(timedelta(days=3 * 366))
    assert retention.anonymise(session, clock, staged)
    assert _furthest(session) == furthest
