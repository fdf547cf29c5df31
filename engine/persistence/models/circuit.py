"""Circuits of a territory and their immutable deployed versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class Circuit(Base):
    """A circuit (for example « Plateforme de coordination ») of one territory."""

    __tablename__ = "circuit"
    __table_args__ = (UniqueConstraint("territory_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"), index=True)
    key: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200))
    active_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("circuit_version.id", use_alter=True))


class CircuitVersion(Base):
    """One deployed version: its files as deployed and its spec, stored once."""

    __tablename__ = "circuit_version"
    __table_args__ = (UniqueConstraint("circuit_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    circuit_id: Mapped[int] = mapped_column(ForeignKey("circuit.id"), index=True)
    number: Mapped[int]
    process_id: Mapped[str] = mapped_column(String(200))
    main_file: Mapped[str] = mapped_column(String(200))
    bpmn_files: Mapped[dict[str, str]] = mapped_column(JSON)
    form_files: Mapped[dict[str, str]] = mapped_column(JSON)
    spec: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(500), default="")
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    deployed_at: Mapped[datetime] = mapped_column(UtcDateTime)
