"""Territories, their organisations, and importing a territory folder's settings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.bundles import Territory as TerritoryFile
from engine.core.bundles import role_for_lane
from engine.errors import Conflict, InvalidInput, NotFound
from engine.persistence.db import transaction
from engine.persistence.models import Circuit, Organisation, Territory
from engine.services import audit, refusal_reasons, runtime
from engine.services.access import Actor, overseen, require_admin

ORGANISATION_KINDS = {
    "plateforme": "Coordination de la plateforme", "siao": "SIAO", "ccas": "CCAS",
    "association": "Association",
    "bailleur": "Bailleur social", "departement": "Conseil départemental",
    "sante": "Service de santé", "etat": "Services de l'État", "autre": "Autre",
}
MAX_ORGANISATION_NAME = 200  # organisation.name


@dataclass(frozen=True)
class RoleInfo:
    """A role a territory declares (territory.json): its key and label."""

    key: str
    label: str


@dataclass(frozen=True)
class TerritoryInfo:
    """A territory as the administration pages show it."""

    id: int
    name: str
    roles: tuple[RoleInfo, ...]


@dataclass(frozen=True)
class OrganisationInfo:
    """An organisation of a territory."""

    id: int
    territory_id: int
    name: str
    kind: str


def get_by_code(session: Session, code: str) -> Territory:
    """:raises NotFound: no territory with that code."""
    territory = session.scalar(select(Territory).where(Territory.code == code))
    if territory is None:
        raise NotFound(code="svc.territory_code_unknown", territory=code)
    return territory


def ensure_territory(session: Session, clock: Clock, actor: Actor, settings: TerritoryFile,
                     prefix: str | None = None) -> Territory:
    """Create the territory of a ``territory.json`` (with the default refusal reasons), or
    update its name and roles."""
    with transaction(session):
        territory = session.scalar(select(Territory).where(Territory.code == settings.code))
        roles: list[dict[str, Any]] = [{"key": r.key, "label": r.label} for r in settings.roles]
        parts: list[dict[str, Any]] = [{"key": p.key, "label": p.label} for p in settings.parts]
        periods: list[dict[str, Any]] = [{"key": p.key, "label": p.label, "from": p.start,
                                          "to": p.end} for p in settings.periods]
        if territory is None:
            territory = Territory(code=settings.code, name=settings.name,
                                  prefix=(prefix or _prefix(settings.code)).upper(), roles=roles,
                                  parts=parts, periods=periods,
                                  holiday_subdivision=settings.holiday_subdivision,
                                  retention=settings.retention.as_json(),
                                  created_at=clock.now())
            session.add(territory)
            session.flush()
            refusal_reasons.seed(session, territory.id)
            audit.record(session, clock, actor, "territory.create", territory_id=territory.id,
                         code=settings.code)
        else:
            territory.name, territory.roles = settings.name, roles
            territory.parts = parts
            territory.holiday_subdivision = settings.holiday_subdivision
            territory.periods = periods
            territory.retention = settings.retention.as_json()
            audit.record(session, clock, actor, "territory.update", territory_id=territory.id)
    return territory


def _prefix(code: str) -> str:
    letters = re.sub(r"[^a-z]", "", code.lower())
    return (letters[:3] or "CAS").upper()


def create_organisation(session: Session, clock: Clock, actor: Actor, territory_id: int,
                        name: str, kind: str) -> OrganisationInfo:
    """Add an organisation to a territory.

    :raises PermissionDenied: the actor does not administer the territory.
    :raises Conflict: an organisation of that name exists; or the kind is unknown.
    :raises InvalidInput: no name, or one longer than ``MAX_ORGANISATION_NAME``.
    """
    require_admin(actor, territory_id)
    name = name.strip()
    if not name:
        raise InvalidInput(code="svc.organisation_name_required")
    if len(name) > MAX_ORGANISATION_NAME:
        raise InvalidInput(code="svc.organisation_name_too_long", maximum=MAX_ORGANISATION_NAME)
    if kind not in ORGANISATION_KINDS:
        raise Conflict(code="svc.organisation_kind_unknown", kind=kind)
    with transaction(session):
        if session.scalar(select(Organisation).where(Organisation.territory_id == territory_id,
                                                     Organisation.name == name)):
            raise Conflict(code="svc.organisation_exists", name=name)
        org = Organisation(territory_id=territory_id, name=name, kind=kind, active=True)
        session.add(org)
        session.flush()
        audit.record(session, clock, actor, "organisation.create", territory_id=territory_id,
                     organisation_id=org.id)
    return _organisation(org)


def role_map(session: Session, actor: Actor,
             territory_id: int) -> list[tuple[str, str, list[str]]]:
    """The territory's roles (key, label) and the lanes that name them, as
    « circuit : lane » for the active version of each circuit."""
    require_admin(actor, territory_id)
    territory = session.get(Territory, territory_id)
    if territory is None:
        raise NotFound(code="svc.territory_unknown")
    roles = [(r["key"], r["label"]) for r in territory.roles]
    lanes: dict[str, set[str]] = {key: set() for key, _ in roles}
    for circuit in session.scalars(select(Circuit).where(
            Circuit.territory_id == territory_id, Circuit.active_version_id.is_not(None))):
        compiled = runtime.compiled(session, circuit.active_version_id)  # type: ignore[arg-type]
        for process in [compiled.spec, *compiled.subprocess_specs.values()]:
            for spec in process.task_specs.values():
                role = role_for_lane(compiled.roles, getattr(spec, "lane", None))
                if getattr(spec, "manual", False) and role is not None:
                    lanes[role.key].add(f"{circuit.title} : {spec.lane}")
    return [(key, label, sorted(lanes[key])) for key, label in roles]


def overseen_places(session: Session, actor: Actor) -> tuple[list[TerritoryInfo],
                                                              list[OrganisationInfo]]:
    """The territories an administrator oversees and their organisations, by name.

    :raises PermissionDenied: the actor administers nothing.
    """
    ids = overseen(actor)
    places = [TerritoryInfo(t.id, t.name, tuple(RoleInfo(r["key"], r["label"]) for r in t.roles))
              for t in session.scalars(select(Territory).where(Territory.id.in_(ids))
                                       .order_by(Territory.name))]
    organisations = [_organisation(o) for o in session.scalars(select(Organisation).where(
        Organisation.territory_id.in_(ids)).order_by(Organisation.name))]
    return places, organisations


def _organisation(org: Organisation) -> OrganisationInfo:
    return OrganisationInfo(org.id, org.territory_id, org.name, org.kind)
