"""People and what they may do where: memberships (territory, role, organisation)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime

ADMIN_ROLE = "admin"
COORDINATOR_ROLE = "coordination"
PERSON = "person"  # user.kind of people
API = "api"  # user.kind of an API key's technical account


class User(Base):
    """A person who signs in."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # A temporary password (set by an administrator) must be changed at the next sign-in.
    must_change_password: Mapped[bool] = mapped_column(default=False,
                                                       server_default=false())
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # notices of new steps: "immediate" (one e-mail per step) or "digest" (the daily one)
    notice_mode: Mapped[str] = mapped_column(String(20), default="digest",
                                             server_default="digest")
    # "person", or "api": the technical account of an API key (never signs in with a
    # password, never offered as a person to assign or notify)
    kind: Mapped[str] = mapped_column(String(10), default=PERSON, server_default=PERSON)


class Membership(Base):
    """A user holds a role (a lane role key, or ``admin``) in a territory, for an organisation."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "territory_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"), index=True)
    role: Mapped[str] = mapped_column(String(60))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
