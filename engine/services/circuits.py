"""Deploying circuits as immutable versions, listing them, choosing the active one."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.circuits import CircuitBundle, Role, load_territory
from engine.core.circuits import Territory as TerritoryFile
from engine.core.loader import load_path
from engine.core.problems import Problem
from engine.core.spiff.compiler import check, compile_circuit
from engine.errors import NotFound, ProcessDefinitionError
from engine.persistence.db import transaction
from engine.persistence.models import Case, Circuit, CircuitVersion, Territory
from engine.persistence.models.case import OPEN
from engine.services import audit, territories
from engine.services.access import Actor, require_coordinator, require_member


@dataclass(frozen=True)
class VersionInfo:
    """A deployed version as lists show it."""

    id: int
    number: int
    note: str
    deployed_at: datetime
    deployed_by_id: int | None
    active: bool
    open_cases: int


def check_bundle(session: Session, territory_id: int, bundle: CircuitBundle) -> list[Problem]:
    """Every problem of a bundle, checked with the territory's roles (read only)."""
    territory = _territory(session, territory_id)
    return check(_with_territory(bundle, territory))


def deploy(session: Session, clock: Clock, actor: Actor, territory_id: int, key: str,
           bundle: CircuitBundle, note: str = "", activate: bool = True) -> CircuitVersion:
    """Store a checked circuit as a new immutable version (the same files twice: no new one).

    :raises PermissionDenied: the actor does not coordinate the territory.
    :raises ProcessDefinitionError: the circuit fails the check; nothing is stored.
    """
    require_coordinator(actor, territory_id)
    with transaction(session):
        territory = _territory(session, territory_id)
        bundle = _with_territory(bundle, territory)
        compiled = compile_circuit(bundle)
        circuit = session.scalar(select(Circuit).where(Circuit.territory_id == territory_id,
                                                       Circuit.key == key))
        if circuit is None:
            circuit = Circuit(territory_id=territory_id, key=key,
                              title=(bundle.title or compiled.title)[:200])
            session.add(circuit)
            session.flush()
        latest = session.scalar(select(CircuitVersion).where(
            CircuitVersion.circuit_id == circuit.id).order_by(CircuitVersion.number.desc()))
        if latest is not None and latest.checksum == compiled.checksum:
            return latest
        version = CircuitVersion(
            circuit_id=circuit.id, number=(latest.number + 1) if latest else 1,
            process_id=compiled.process_id, main_file=bundle.main_file,
            bpmn_files={k: v.decode() for k, v in bundle.bpmn.items()},
            form_files={k: v.decode() for k, v in bundle.forms.items()},
            spec=compiled.spec_json, checksum=compiled.checksum, note=note[:500],
            deployed_by_id=actor.user_id, deployed_at=clock.now())
        session.add(version)
        session.flush()
        if activate or circuit.active_version_id is None:
            circuit.active_version_id = version.id
        audit.record(session, clock, actor, "circuit.deploy", territory_id=territory_id,
                     circuit=key, version=version.number)
    return version


def deploy_folder(session: Session, clock: Clock, actor: Actor, folder: Path,
                  forms_root: Path, note: str = "",
                  into: TerritoryFile | None = None, prefix: str | None = None,
                  ) -> list[CircuitVersion]:
    """Create or update the territory of a folder (or ``into``, keeping the folder's roles)
    and deploy each circuit it lists.

    :raises ProcessDefinitionError: a circuit fails the check; nothing is stored.
    """
    settings = load_territory(folder)
    target = replace(into, roles=settings.roles, circuits=settings.circuits) if into else settings
    loaded = load_path(folder, forms_root)
    problems = loaded.problems + [p for _, b in loaded.bundles for p in check(b) if p.is_error]
    if problems:  # refuse the whole folder before anything is stored
        raise ProcessDefinitionError(problems)
    territory = territories.ensure_territory(session, clock, actor, target, prefix)
    by_label = dict(loaded.bundles)
    return [deploy(session, clock, actor, territory.id, entry.key,
                   by_label[f"{folder.name}/{entry.key}"], note)
            for entry in settings.circuits]


def versions(session: Session, actor: Actor, circuit_id: int) -> list[VersionInfo]:
    """Versions of a circuit, newest first, with their open case counts."""
    circuit = _circuit(session, actor, circuit_id)
    counts = dict(session.execute(
        select(Case.circuit_version_id, func.count()).where(
            Case.circuit_id == circuit_id, Case.status == OPEN)
        .group_by(Case.circuit_version_id)).all())
    rows = session.scalars(select(CircuitVersion).where(CircuitVersion.circuit_id == circuit_id)
                           .order_by(CircuitVersion.number.desc()))
    return [VersionInfo(v.id, v.number, v.note, v.deployed_at, v.deployed_by_id,
                        v.id == circuit.active_version_id, counts.get(v.id, 0)) for v in rows]


def activate(session: Session, clock: Clock, actor: Actor, circuit_id: int,
             version_id: int) -> None:
    """Make a version the one new cases start on (running cases stay on theirs).

    :raises NotFound: the version is not one of the circuit's.
    """
    with transaction(session):
        circuit = _circuit(session, actor, circuit_id)
        require_coordinator(actor, circuit.territory_id)
        version = session.get(CircuitVersion, version_id)
        if version is None or version.circuit_id != circuit_id:
            raise NotFound("version inconnue")
        circuit.active_version_id = version.id
        audit.record(session, clock, actor, "circuit.activate", territory_id=circuit.territory_id,
                     circuit_id=circuit_id, version=version.number)


def list_circuits(session: Session, actor: Actor, territory_id: int) -> list[Circuit]:
    """Circuits of a territory that have an active version."""
    require_member(actor, territory_id)
    return list(session.scalars(select(Circuit).where(
        Circuit.territory_id == territory_id, Circuit.active_version_id.is_not(None))
        .order_by(Circuit.title)))


def start_form(session: Session, actor: Actor, circuit_id: int) -> tuple[Circuit, Any]:
    """The circuit and the start form (``FormSpec`` or None) of its active version.

    :raises NotFound: unknown circuit, no active version, or outside the actor's territories.
    """
    circuit = _circuit(session, actor, circuit_id)
    if circuit.active_version_id is None:
        raise NotFound("circuit sans version active")
    from engine.core.spiff.runner import start_form as form_of
    from engine.services import runtime
    return circuit, form_of(runtime.compiled(session, circuit.active_version_id))


def _circuit(session: Session, actor: Actor, circuit_id: int) -> Circuit:
    circuit = session.get(Circuit, circuit_id)
    if circuit is None:
        raise NotFound("circuit inconnu")
    require_member(actor, circuit.territory_id)
    return circuit


def _territory(session: Session, territory_id: int) -> Territory:
    territory = session.get(Territory, territory_id)
    if territory is None:
        raise NotFound("territoire inconnu")
    return territory


def _with_territory(bundle: CircuitBundle, territory: Territory) -> CircuitBundle:
    bundle.roles = tuple(Role(r["key"], r["label"]) for r in territory.roles)
    bundle.holiday_subdivision = territory.holiday_subdivision
    return bundle
