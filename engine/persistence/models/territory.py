"""Territories (tenants) and the organisations working in them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class Territory(Base):
    """A territory's platform: its roles (lanes) and its case reference prefix."""

    __tablename__ = "territory"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(8))
    roles: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    parts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    holiday_subdivision: Mapped[str | None] = mapped_column(String(10))
    # yearly periods (the winter truce): {"key", "label", "from", "to"}, ``MM-DD``
    periods: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # how long closed cases are kept (``engine.core.retention.Rules.as_json``): {"default":
    # rule or None, "circuits": {circuit key: rule}}; none: cases are kept
    retention: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Organisation(Base):
    """A partner organisation (SIAO, CCAS, association, bailleur social...)."""

    __tablename__ = "organisation"
    __table_args__ = (UniqueConstraint("territory_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(default=True)
