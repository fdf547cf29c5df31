"""A household's case (dossier) running on one circuit version."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class CaseStatus(StrEnum):
    """Where a case stands; stored as its value in ``case.status`` (a plain string column)."""

    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    CLOSED = "closed"
    ERROR = "error"


class Case(Base):
    """The case row: status, listing columns, version counter (its state is in CaseState)."""

    __tablename__ = "case"
    __table_args__ = (
        Index("ix_case_territory_status", "territory_id", "status", "created_at"),
        # covers the case list, its filters and its search: no table row is read to count
        Index("ix_case_listing", "territory_id", "created_at", "id", "circuit_id", "status",
              "reference", "household_name"),
        Index("ix_case_next_due", "next_due_at"),
        # the retention sweep: cases of a circuit not anonymised, by closing date
        Index("ix_case_retention", "anonymised_at", "circuit_id", "closed_at"),
        # the search's ILIKE '%…%' on PostgreSQL (pg_trgm, migration 0021; absent elsewhere)
        *(Index(f"ix_case_{short}_trgm", column, postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"}).ddl_if(dialect="postgresql")
          for short, column in (("household", "household_name"), ("reference", "reference"))),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"))
    circuit_id: Mapped[int] = mapped_column(ForeignKey("circuit.id"), index=True)
    circuit_version_id: Mapped[int] = mapped_column(ForeignKey("circuit_version.id"), index=True)
    household_name: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20), default=CaseStatus.OPEN)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_state: Mapped[str | None] = mapped_column(String(200))
    end_label: Mapped[str | None] = mapped_column(String(300))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    referent_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    close_reason: Mapped[str | None] = mapped_column(String(500))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("household.id"), index=True)
    # set once its household's data were anonymised (``engine.services.retention``)
    anonymised_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # a legal hold: why the case is kept past its retention (None: no hold)
    retention_hold: Mapped[str | None] = mapped_column(String(500))

    __mapper_args__ = {"version_id_col": version}


class CaseState(Base):
    """The workflow state of a case (SpiffWorkflow JSON as TEXT, never JSONB: key order
    matters), kept apart so that lists and searches never read it."""

    __tablename__ = "case_state"

    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), primary_key=True)
    state: Mapped[str] = mapped_column(Text)


class ReferenceCounter(Base):
    """Last case number given per territory and year (``TLS-2026-00042``)."""

    __tablename__ = "reference_counter"

    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    last: Mapped[int] = mapped_column(default=0)
