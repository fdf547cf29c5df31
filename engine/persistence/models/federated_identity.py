"""The identity at an OpenID Connect provider an account was first matched with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class FederatedIdentity(Base):
    """An account bound to a provider's (issuer, subject): later sign-ins match it first,
    and the account's e-mail presented with another subject is refused. One per account
    and issuer; a subject opens one account only."""

    __tablename__ = "federated_identity"
    __table_args__ = (UniqueConstraint("issuer", "subject"),
                      UniqueConstraint("user_id", "issuer"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    first_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_at: Mapped[datetime] = mapped_column(UtcDateTime)
