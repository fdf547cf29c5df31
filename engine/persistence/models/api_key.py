"""API keys of organisations (issue #18, item 2): a piece of software acting in a territory.

Only the SHA-256 of the full token is stored (the token is 32 random bytes: a slow hash adds
nothing); the ``prefix`` names the key in lists and finds its row. Each key acts as a
technical account (``user.kind == "api"``) holding the key's roles in its organisation, so
that every rule made for people (steps offered, visibility, audit) applies unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class ApiKey(Base):
    """One key: what software it is, for which organisation, roles, rights and circuits."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(20), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list[str]] = mapped_column(JSON)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    circuits: Mapped[list[int] | None] = mapped_column(JSON)  # None: every circuit
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # revoked at this instant (maybe later than the revocation: a rotation's overlap)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    rotated_from_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))

    def detail(self) -> dict[str, Any]:
        """What the audit trail keeps of the key (never its secret)."""
        return {"api_key_id": self.id, "prefix": self.prefix, "name": self.name}
