"""Factory functions for service tests (synthetic people and places only)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.persistence.models import CaseConsent, Circuit, Territory
from engine.services import circuits, users
from engine.services.access import SYSTEM, Actor, load_actor

ROOT = Path(__file__).resolve().parents[2]
MINI = ROOT / "tests" / "unit" / "fixtures" / "mini"
PASSWORD = "mot-de-passe-de-test"


@dataclass
class World:
    """A territory with the small test circuit and people in its roles."""

    territory: Territory
    circuit: Circuit
    coordinator: Actor
    operator: Actor
    outsider: Actor


def make_user(session: Session, clock: Clock, email: str, territory_id: int | None = None,
              *roles: str, organisation: int | None = None) -> Actor:
    """An account holding ``roles`` in the territory (for ``organisation``, if given)."""
    user = users.create_user(session, clock, SYSTEM, email, email.split("@")[0].title(),
                             PASSWORD)
    for role in roles:
        assert territory_id is not None
        users.add_membership(session, clock, SYSTEM, user.id, territory_id, role, organisation)
    return load_actor(session, user.id)


REFERENCE_PARTS = [{"key": "referrer", "label": "Structure qui oriente"},
                   {"key": "platform", "label": "Coordination de la plateforme"},
                   {"key": "operator", "label": "Opérateur d'accompagnement"},
                   {"key": "landlord", "label": "Bailleur"}]


def declare_parts(session: Session, territory_id: int,
                  parts: list[dict[str, str]] | None = None) -> None:
    """Give a test territory the parts of a case (the reference ones by default)."""
    territory = session.get(Territory, territory_id)
    assert territory is not None
    territory.parts = list(parts or REFERENCE_PARTS)
    session.commit()


def make_org(session: Session, clock: Clock, territory_id: int, name: str,
             kind: str = "association") -> int:
    """An active organisation of the territory; its id."""
    from engine.services import territories
    return territories.create_organisation(session, clock, SYSTEM, territory_id, name, kind).id


def make_party(session: Session, clock: Clock, case_id: int, part: str,
               organisation_id: int) -> None:
    """Make an organisation a party to a case (as a coordinator would, through the service:
    the part must be declared, see ``declare_parts``)."""
    from engine.persistence.db import transaction
    from engine.services import parties
    with transaction(session):
        case = parties.case_for(session, SYSTEM, case_id, lock=True)
        parties.record(session, clock, SYSTEM, case, part, organisation_id, "Essai")


def give_consent(session: Session, clock: Clock, case_id: int, part: str,
                 categories: Iterable[str], *, purpose: str = "support",
                 valid_until: datetime | None = None, withdrawn_at: datetime | None = None,
                 given_at: datetime | None = None) -> None:
    """Record the household's consent for a part of a case (one row per category, given
    now unless said), possibly with an end or already withdrawn."""
    for category in categories:
        session.add(CaseConsent(
            case_id=case_id, part=part, purpose=purpose, category=category, basis="signed",
            witness=None, source="Essai", given_at=given_at or clock.now(), valid_until=valid_until,
            recorded_by_id=None, withdrawn_at=withdrawn_at,
            withdraw_reason="Essai" if withdrawn_at else None))
    session.commit()


def make_world(session: Session, clock: Clock, folder: Path = MINI) -> World:
    [version] = circuits.deploy_folder(session, clock, SYSTEM, folder, folder / "forms")
    circuit = session.get(Circuit, version.circuit_id)
    assert circuit is not None
    territory = session.get(Territory, circuit.territory_id)
    assert territory is not None
    other = users.create_user(session, clock, SYSTEM, "autre@demo.test", "Autre", PASSWORD)
    from engine.core.bundles import Role
    from engine.core.bundles import Territory as TerritoryFile
    from engine.services.territories import ensure_territory
    elsewhere = ensure_territory(session, clock, SYSTEM, TerritoryFile(
        "ailleurs", "Ailleurs", (Role("coordination", "Coordination"),)))
    users.add_membership(session, clock, SYSTEM, other.id, elsewhere.id, "coordination")
    return World(
        territory=territory, circuit=circuit,
        coordinator=make_user(session, clock, "coord@demo.test", territory.id, "coordination"),
        operator=make_user(session, clock, "op@demo.test", territory.id, "operateur"),
        outsider=load_actor(session, other.id),
    )


RELANCES = Path(__file__).resolve().parent / "fixtures" / "relances"


def start_at_decision(session: Session, clock: Clock, world: World, name: str) -> int:
    """Open a case on the small circuit and complete ``analyse``; return the case id.

    The case then waits on ``decision`` with its two timers armed (reminder at 10 days,
    escalation at 15 days).
    """
    from sqlalchemy import select

    from engine.persistence.models import HumanTask
    from engine.services import cases, tasks
    case = cases.start(session, clock, world.coordinator, world.circuit.id, {"nom_menage": name})
    task_id = session.scalar(select(HumanTask.id).where(
        HumanTask.case_id == case.id, HumanTask.bpmn_id == "analyse", HumanTask.status == "open"))
    assert task_id is not None
    tasks.complete(session, clock, world.coordinator, task_id, {"mesure": "avdl"})
    return case.id
