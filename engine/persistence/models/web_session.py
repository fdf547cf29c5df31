"""Signed-in sessions kept on the server: the browser's cookie holds only a random id.

A session row can be revoked (sign-out, password change or reset, deactivation, role
removal, « se déconnecter partout ») and expires on the server after its idle and absolute
lifetimes, whatever the browser still holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class WebSession(Base):
    """One browser session; ``token_hash`` is the SHA-256 of the cookie's random id."""

    __tablename__ = "web_session"
    __table_args__ = (
        Index("ix_web_session_user", "user_id", "revoked_at"),
        Index("ix_web_session_last_seen", "last_seen_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(40))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class SignInThrottle(Base):
    """Failed sign-ins counted per key (an account's e-mail, or a client address), shared by
    every worker and kept across restarts."""

    __tablename__ = "sign_in_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
