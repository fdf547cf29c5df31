"""Factory functions for service tests (synthetic people and places only)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.persistence.models import Circuit, Territory
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
              *roles: str) -> Actor:
    user = users.create_user(session, clock, SYSTEM, email, email.split("@")[0].title(),
                             PASSWORD)
    for role in roles:
        assert territory_id is not None
        users.add_membership(session, clock, SYSTEM, user.id, territory_id, role)
    return load_actor(session, user.id)


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
