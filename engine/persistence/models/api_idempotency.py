"""The idempotency keys of the REST API's case starts (``Idempotency-Key``): one row per
caller and key, written in the start's unit of work, so that two identical requests, even
at the same instant, open one case (the unique constraint makes the second wait for, then
collide with, the first). A row older than the window is free again (purged on write)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class ApiIdempotency(Base):
    """A key a caller used to open a case: for which request (fingerprint), which case."""

    __tablename__ = "api_idempotency"
    __table_args__ = (
        UniqueConstraint("user_id", "key", name="uq_api_idempotency_user_id_key"),
        Index("ix_api_idempotency_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of circuit and data
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))  # set in the same commit
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
