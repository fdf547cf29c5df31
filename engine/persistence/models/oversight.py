"""Daily counts kept for the administrators' chart of overdue and due-soon steps."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base


class DailyCount(Base):
    """Open steps overdue and due within three days, per territory, as seen each day."""

    __tablename__ = "daily_count"

    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    overdue: Mapped[int]
    due_soon: Mapped[int]
