"""Timer rows: the only truth about when a case must be woken up."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class TimerStatus(StrEnum):
    """Where a timer stands; stored as its value in ``timer.status``."""

    WAITING = "waiting"
    CLAIMED = "claimed"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


# a timer that may still fire: waiting, claimed by a worker, or failed and waiting for a retry
ARMED_STATUSES = (TimerStatus.WAITING, TimerStatus.CLAIMED, TimerStatus.FAILED)


class Timer(Base):
    """One armed occurrence of a BPMN timer (a cycle arms one row per occurrence)."""

    __tablename__ = "timer"
    __table_args__ = (
        UniqueConstraint("case_id", "spiff_task_id", "due_at"),
        Index("ix_timer_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(20), default=TimerStatus.WAITING)
    attempts: Mapped[int] = mapped_column(default=0)
    retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lateness_seconds: Mapped[float | None]
