"""A territory's periods (the winter truce) are stored with the territory when its files are
loaded, so a circuit checked and deployed from the modeler (a bundle without the territory's
files) knows them: its ``period`` rules are checked and applied (issue #15, item 3)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.core.bundles import load_territory
from engine.core.calendar import end_of_day
from engine.persistence.models import HumanTask, Territory
from engine.services import cases, circuits
from engine.services.territories import ensure_territory
from tests.integration.factories import make_world
from tests.unit.test_periods import TRUCE, truce_bundle
from tests.unit.test_relative_timers import DATES


def test_loading_the_territory_stores_its_periods(session: Session) -> None:
    world = make_world(session, FixedClock(datetime(2026, 9, 1, tzinfo=UTC)), DATES)
    territory = session.get(Territory, world.territory.id)
    assert territory is not None and territory.periods == [TRUCE]


def test_a_circuit_from_the_modeler_is_checked_and_shifted_with_them(
        session: Session, tmp_path: Path) -> None:
    clock = FixedClock(datetime(2026, 10, 2, 9, 0, tzinfo=UTC))
    world = make_world(session, clock, DATES)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    unknown = truce_bundle(tmp_path / "a", "shift:treve")
    unknown.periods = None  # as the modeler sends it: no territory file
    problems, compiled = circuits.check_and_compile_bundle(session, world.territory.id, unknown)
    [problem] = [p for p in problems if p.code.startswith("bpmn.period")]
    assert problem.is_error and problem.message("fr").startswith(
        "Période de « Préparer l'audience » : la règle « shift:treve » nomme la période "
        "« treve » que le territoire ne définit pas")
    assert not [p for p in problems if p.code == "bpmn.period_unchecked"]

    bundle = truce_bundle(tmp_path / "b")
    bundle.periods = None
    version = circuits.deploy(session, clock, world.coordinator, world.territory.id, "treve",
                              bundle)
    case = cases.start(session, clock, world.coordinator, version.circuit_id,
                       {"date_audience": "2026-12-20"})
    due = session.query(HumanTask.due_at).filter(HumanTask.case_id == case.id,
                                                 HumanTask.bpmn_id == "preparer").scalar()
    assert due == end_of_day(date(2027, 4, 1))  # 13 December is in the truce


def test_updating_the_territory_replaces_its_periods(session: Session) -> None:
    clock = FixedClock(datetime(2026, 9, 1, tzinfo=UTC))
    world = make_world(session, clock, DATES)
    settings = load_territory(DATES)
    ensure_territory(session, clock, world.coordinator, replace(settings, periods=()))
    territory = session.get(Territory, world.territory.id)
    assert territory is not None and territory.periods == []
