"""Sessions of the commission (séances) and the cases on their agenda (issue #15, item 3).

A session belongs to a territory; its agenda closes ``agenda_closes_at`` (N days before),
its files go to the members ``files_sent_at`` (M days before), it is held ``starts_at`` and
ends when the secretariat closes it. ``plan_key`` is set when a timer start event planned
it: unique per territory, so that two schedulers create each occurrence once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class CommissionSession(Base):
    """One session of the commission of a territory."""

    __tablename__ = "commission_session"
    __table_args__ = (
        UniqueConstraint("territory_id", "plan_key"),
        Index("ix_commission_session_territory", "territory_id", "starts_at"),
        Index("ix_commission_session_state", "state", "files_sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    place: Mapped[str] = mapped_column(String(200))
    agenda_closes_at: Mapped[datetime] = mapped_column(UtcDateTime)
    files_sent_at: Mapped[datetime] = mapped_column(UtcDateTime)
    state: Mapped[str] = mapped_column(String(20))  # planned … ended (commission_sessions)
    plan_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))


class SessionCase(Base):
    """A case on a session's agenda, and the decision recorded for it."""

    __tablename__ = "session_case"
    __table_args__ = (
        UniqueConstraint("session_id", "case_id"),
        Index("ix_session_case_case", "case_id", "decided_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("commission_session.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime)
    joined_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decision: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
