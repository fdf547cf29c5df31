"""The append-only audit trail: who read or changed what, when, on which case."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class AuditEvent(Base):
    """One audited action. Rows are never updated nor deleted (a trigger enforces it too)."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_case", "case_id", "at"),
        Index("ix_audit_event_user", "user_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    territory_id: Mapped[int | None] = mapped_column(ForeignKey("territory.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    action: Mapped[str] = mapped_column(String(60))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditEventTerritory(Base):
    """A further territory an audit event concerns (an account in several territories): the
    administrators of each see it. The event's own ``territory_id`` is the first one."""

    __tablename__ = "audit_event_territory"

    event_id: Mapped[int] = mapped_column(ForeignKey("audit_event.id"), primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"), primary_key=True,
                                              index=True)


def _refuse(*_: Any) -> None:
    raise PermissionError("audit events are append-only")


event.listen(AuditEvent, "before_update", _refuse)
event.listen(AuditEvent, "before_delete", _refuse)
