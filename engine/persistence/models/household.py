"""Households: one record linking a household's cases across circuits, and the likely
duplicates found when a case is opened, until a coordinator merges or dismisses them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class Household(Base):
    """A household of a territory; ``merged_into_id`` points to the record it was merged
    into (its cases moved there)."""

    __tablename__ = "household"
    __table_args__ = (
        # likely duplicates: same territory, commune and birth year, then the name compared
        Index("ix_household_match", "territory_id", "commune_key", "birth_year"),
        Index("ix_household_name", "territory_id", "name_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"))
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))  # folded, words sorted
    birth_year: Mapped[int | None] = mapped_column()
    commune: Mapped[str] = mapped_column(String(100), default="")
    commune_key: Mapped[str] = mapped_column(String(100), default="")  # folded
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("household.id"))
    merged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    merged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))


class HouseholdMatch(Base):
    """Two household records that are likely the same household (``open``), until a
    coordinator merges them (``merged``) or says they differ (``dismissed``)."""

    __tablename__ = "household_match"
    __table_args__ = (
        Index("ix_household_match_open", "territory_id", "status", "found_at"),
        Index("ix_household_match_household", "household_id", "status"),
        Index("ix_household_match_other", "other_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"))
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"))  # the new one
    other_id: Mapped[int] = mapped_column(ForeignKey("household.id"))  # the older one
    score: Mapped[int] = mapped_column()  # 0–100: how alike the names are
    status: Mapped[str] = mapped_column(String(20), default="open")
    found_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
