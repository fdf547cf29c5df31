"""Circuit drafts: the files a coordinator is editing, before they become a version."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class CircuitDraft(Base):
    """One draft per circuit of a territory (keyed by circuit key, so a variant copied from
    the reference or an imported circuit may have a draft before its first version).

    ``revision`` counts saves: a save names the revision it was made on, so two coordinators
    saving the same draft get a conflict instead of losing each other's work.
    """

    __tablename__ = "circuit_draft"
    __table_args__ = (UniqueConstraint("territory_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"), index=True)
    key: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200))
    circuit_id: Mapped[int | None] = mapped_column(ForeignKey("circuit.id"))
    base_version_id: Mapped[int | None] = mapped_column(ForeignKey("circuit_version.id"))
    process_id: Mapped[str | None] = mapped_column(String(200))
    main_file: Mapped[str] = mapped_column(String(200))
    bpmn_files: Mapped[dict[str, str]] = mapped_column(JSON)
    form_files: Mapped[dict[str, str]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    __mapper_args__ = {"version_id_col": revision}
