"""A territory's coded refusal reasons (``refusal_reason``): the list an operator picks from
when refusing an orientation, kept by the territory's coordination.

A reason is never deleted: past refusals keep its code, so a reason no longer wanted is
retired (``active`` false) and its label stays readable on the cases that used it. Each
territory starts with ``engine.core.orientation.DEFAULT_REASONS`` (the migration seeds the
existing ones, ``seed`` a new one). Every change is audited.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.directory import fold
from engine.core.orientation import DEFAULT_REASONS, MAX_REASON_CODE, MAX_REASON_LABEL
from engine.errors import Conflict, InvalidInput, NotFound
from engine.persistence.db import transaction
from engine.persistence.models import RefusalReason
from engine.services import audit
from engine.services.access import Actor, require_coordinator

CODE = re.compile(r"^[a-z0-9_]{1,40}$")


@dataclass(frozen=True)
class ReasonItem:
    """A refusal reason of the territory."""

    id: int
    code: str
    label: str
    needs_detail: bool
    active: bool
    position: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def seed(session: Session, territory_id: int) -> None:
    """Give a territory without reasons the default ones (inside the caller's unit of
    work)."""
    if session.scalar(select(RefusalReason.id).where(
            RefusalReason.territory_id == territory_id).limit(1)) is not None:
        return
    session.add_all(RefusalReason(territory_id=territory_id, code=code, label=label,
                                  needs_detail=detail, active=True, position=n)
                    for n, (code, label, detail) in enumerate(DEFAULT_REASONS))
    session.flush()


def listed(session: Session, actor: Actor, territory_id: int) -> list[ReasonItem]:
    """Coordination: the territory's reasons, active first, in their order.

    :raises NotFound: the actor has no role in the territory.
    :raises PermissionDenied: the actor does not coordinate it.
    """
    require_coordinator(actor, territory_id)
    rows = session.scalars(select(RefusalReason).where(
        RefusalReason.territory_id == territory_id).order_by(
        RefusalReason.active.desc(), RefusalReason.position, RefusalReason.id))
    return [_item(r) for r in rows]


def active_of(session: Session, territory_id: int) -> list[ReasonItem]:
    """The reasons an operator may pick now, in their order (no permission: no personal
    data; the caller has checked the reader)."""
    rows = session.scalars(select(RefusalReason).where(
        RefusalReason.territory_id == territory_id, RefusalReason.active.is_(True))
        .order_by(RefusalReason.position, RefusalReason.id))
    return [_item(r) for r in rows]


def labels_of(session: Session, territory_id: int, codes: Iterable[str]) -> dict[str, str]:
    """Code → label for the codes asked, retired ones included (unknown codes left out)."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    return dict(session.execute(select(RefusalReason.code, RefusalReason.label).where(
        RefusalReason.territory_id == territory_id, RefusalReason.code.in_(wanted))).all())


def territory_of(session: Session, actor: Actor, reason_id: int) -> int:
    """The territory of a reason, for a member of it.

    :raises NotFound: unknown reason, or of a territory where the actor has no role.
    """
    territory_id = session.scalar(select(RefusalReason.territory_id).where(
        RefusalReason.id == reason_id))
    if territory_id is None or not actor.is_member(territory_id):
        raise NotFound(code="svc.reason_unknown")
    return territory_id


def add(session: Session, clock: Clock, actor: Actor, territory_id: int, label: str,
        code: str = "", needs_detail: bool = False) -> ReasonItem:
    """Coordination: a new reason, at the end of the list; its code is typed, or derived
    from the label (made unique).

    :raises NotFound: the actor has no role in the territory.
    :raises PermissionDenied: the actor does not coordinate it (audited).
    :raises InvalidInput: no label, one too long, or a code that is not letters, digits
        and « _ ».
    :raises Conflict: the code typed is already one of the territory's, or the label (a
        reason of the same wording, retired or not: a double submit).
    """
    audit.coordination_only(session, clock, actor, territory_id, "reason.refused", "create")
    label = _label(label)
    typed = code.strip().lower()
    if typed and not CODE.match(typed):
        raise InvalidInput(code="svc.reason_code_invalid", maximum=MAX_REASON_CODE)
    with transaction(session):
        rows = session.execute(select(RefusalReason.code, RefusalReason.label).where(
            RefusalReason.territory_id == territory_id)).all()
        taken = {code for code, _ in rows}
        if any(fold(existing) == fold(label) for _, existing in rows):
            raise Conflict(code="svc.reason_label_taken", value=label)  # a double submit too
        if typed and typed in taken:
            raise Conflict(code="svc.reason_code_taken", value=typed)
        chosen = typed or _derived(label, taken)
        last = session.scalar(select(func.max(RefusalReason.position)).where(
            RefusalReason.territory_id == territory_id))
        row = RefusalReason(territory_id=territory_id, code=chosen, label=label,
                            needs_detail=needs_detail, active=True,
                            position=(last if last is not None else -1) + 1)
        session.add(row)
        session.flush()
        audit.record(session, clock, actor, "reason.create", territory_id=territory_id,
                     reason=chosen, label=label, needs_detail=needs_detail)
        return _item(row)


def edit(session: Session, clock: Clock, actor: Actor, reason_id: int, label: str,
         needs_detail: bool) -> ReasonItem:
    """Coordination: rename a reason, or say whether it asks for a detail (its code stays:
    past refusals keep it).

    :raises NotFound: unknown reason, or of a territory where the actor has no role.
    :raises PermissionDenied: the actor does not coordinate its territory (audited).
    :raises InvalidInput: no label, or one too long.
    """
    label = _label(label)
    territory_id = _territory_of(session, clock, actor, reason_id, "update")
    with transaction(session):
        row = _row(session, territory_id, reason_id)
        if (row.label, row.needs_detail) != (label, needs_detail):
            before = (row.label, row.needs_detail)
            row.label, row.needs_detail = label, needs_detail
            audit.record(session, clock, actor, "reason.update",
                         territory_id=row.territory_id, reason=row.code, label=label,
                         before=before[0], needs_detail=needs_detail)
        return _item(row)


def set_active(session: Session, clock: Clock, actor: Actor, reason_id: int,
               active: bool) -> ReasonItem:
    """Coordination: retire a reason (it is no longer offered; past refusals keep its
    label) or bring it back.

    :raises NotFound: unknown reason, or of a territory where the actor has no role.
    :raises PermissionDenied: the actor does not coordinate its territory (audited).
    """
    territory_id = _territory_of(session, clock, actor, reason_id, "active")
    with transaction(session):
        row = _row(session, territory_id, reason_id)
        if row.active != active:
            row.active = active
            audit.record(session, clock, actor,
                         "reason.reactivate" if active else "reason.retire",
                         territory_id=row.territory_id, reason=row.code, label=row.label)
        return _item(row)


def _territory_of(session: Session, clock: Clock, actor: Actor, reason_id: int,
                  attempt: str) -> int:
    """The reason's territory, once the actor is known to coordinate it.

    :raises NotFound: unknown reason, or of a territory where the actor has no role.
    :raises PermissionDenied: the actor does not coordinate it (audited).
    """
    territory_id = territory_of(session, actor, reason_id)
    audit.coordination_only(session, clock, actor, territory_id, "reason.refused", attempt)
    return territory_id


def _row(session: Session, territory_id: int, reason_id: int) -> RefusalReason:
    row = session.scalar(select(RefusalReason).where(
        RefusalReason.id == reason_id, RefusalReason.territory_id == territory_id)
        .with_for_update())
    if row is None:  # pragma: no cover - reasons are never deleted
        raise NotFound(code="svc.reason_unknown")
    return row


def _label(label: str) -> str:
    """:raises InvalidInput: empty, or longer than ``MAX_REASON_LABEL``."""
    label = " ".join((label or "").split())
    if not label:
        raise InvalidInput(code="svc.reason_label_required")
    if len(label) > MAX_REASON_LABEL:
        raise InvalidInput(code="svc.reason_label_too_long", maximum=MAX_REASON_LABEL)
    return label


def _derived(label: str, taken: set[str]) -> str:
    """A code from a label (« Logement indigne » → ``logement_indigne``), unique in
    ``taken``."""
    base = re.sub(r"[^a-z0-9]+", "_", fold(label)).strip("_")[:MAX_REASON_CODE - 4] or "motif"
    code, n = base, 2
    while code in taken:
        code, n = f"{base}_{n}", n + 1
    return code


def _item(row: RefusalReason) -> ReasonItem:
    return ReasonItem(row.id, row.code, row.label, row.needs_detail, row.active, row.position)
