"""Administrators move running cases onto another version of their circuit: preview per
case (blocked when a removed step is active), then move with an audit record."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.spiff import migration
from engine.errors import InvalidTransition, NotFound
from engine.persistence.db import transaction
from engine.persistence.models import Case, Circuit, CircuitVersion
from engine.persistence.models.case import CaseStatus
from engine.services import audit, runtime
from engine.services.access import Actor, require_admin

MAX_PREVIEW = 500


@dataclass(frozen=True)
class CaseMove:
    """One open case and what moving it would do."""

    case_id: int
    reference: str
    household_name: str
    from_version: int
    preview: migration.MovePreview


def _target(session: Session, actor: Actor, circuit_id: int,
            version_id: int) -> tuple[Circuit, CircuitVersion]:
    circuit = session.get(Circuit, circuit_id)
    version = session.get(CircuitVersion, version_id)
    if circuit is None or version is None or version.circuit_id != circuit_id \
            or not actor.is_member(circuit.territory_id):
        raise NotFound(code="svc.version_not_found")
    require_admin(actor, circuit.territory_id)
    return circuit, version


def preview(session: Session, clock: Clock, actor: Actor, circuit_id: int,
            version_id: int) -> list[CaseMove]:
    """Open cases of the circuit on other versions, with what a move would do (read only)."""
    _, version = _target(session, actor, circuit_id, version_id)
    target = runtime.compiled(session, version.id)
    numbers = dict(session.execute(select(CircuitVersion.id, CircuitVersion.number).where(
        CircuitVersion.circuit_id == circuit_id)).all())
    rows = session.scalars(select(Case).where(
        Case.circuit_id == circuit_id, Case.status == CaseStatus.OPEN,
        Case.circuit_version_id != version.id).order_by(Case.created_at).limit(MAX_PREVIEW))
    return [CaseMove(c.id, c.reference, c.household_name, numbers[c.circuit_version_id],
                     migration.preview(runtime.load(session, c, clock), target)) for c in rows]


def move(session: Session, clock: Clock, actor: Actor, case_id: int,
         version_id: int) -> CaseMove:
    """Move one open case onto ``version_id``; steps the version changed are reset.

    :raises Conflict: a step the new version removed is active in the case.
    :raises InvalidTransition: the case is closed or already on that version.
    """
    with transaction(session):
        case = runtime.lock(session, case_id)
        if case is None or not actor.is_member(case.territory_id):
            raise NotFound(code="svc.case_not_found")
        _, version = _target(session, actor, case.circuit_id, version_id)
        if case.status != CaseStatus.OPEN or case.circuit_version_id == version.id:
            raise InvalidTransition(code="svc.case_not_on_other_version")
        before = session.get(CircuitVersion, case.circuit_version_id)
        instance = runtime.load(session, case, clock)
        target = runtime.compiled(session, version.id)
        found = migration.preview(instance, target)
        moved = migration.move(instance, target)
        case.circuit_version_id = version.id
        runtime.save(session, case, moved, clock)
        audit.record(session, clock, actor, "case.move", territory_id=case.territory_id,
                     case_id=case.id, from_version=before.number if before else None,
                     to_version=version.number, reset=found.changed_active)
        return CaseMove(case.id, case.reference, case.household_name,
                        before.number if before else 0, found)
