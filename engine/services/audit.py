"""Recording and reading the audit trail (append-only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.persistence.models import AuditEvent
from engine.services.access import Actor, require_member

READS = ("case.read",)


def record(session: Session, clock: Clock, actor: Actor, action: str, *,
           territory_id: int | None = None, case_id: int | None = None,
           **detail: Any) -> AuditEvent:
    """Add an audit event to the current transaction (helpers flush, services commit)."""
    event = AuditEvent(at=clock.now(), user_id=actor.user_id, territory_id=territory_id,
                       case_id=case_id, action=action, detail=detail)
    session.add(event)
    return event


def case_timeline(session: Session, actor: Actor, territory_id: int,
                  case_id: int) -> list[tuple[datetime, str, dict[str, Any], int | None]]:
    """What happened to a case, oldest first (reads are in the audit log, not the timeline)."""
    require_member(actor, territory_id)
    rows = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                    AuditEvent.action.not_in(READS))
                           .order_by(AuditEvent.at, AuditEvent.id))
    return [(r.at, r.action, r.detail, r.user_id) for r in rows]
