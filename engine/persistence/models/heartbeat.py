"""The schedulers' heartbeats: when each one last swept the timers (for ``/readyz``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class SchedulerHeartbeat(Base):
    """One row per scheduler process (dedicated or embedded), written at each tick."""

    __tablename__ = "scheduler_heartbeat"

    worker: Mapped[str] = mapped_column(String(100), primary_key=True)  # host:pid:random
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    beat_at: Mapped[datetime] = mapped_column(UtcDateTime)
