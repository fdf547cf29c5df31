"""Facts of a case the statistics count: form answers marked ``x-aiguillage-statistic``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class CaseFact(Base):
    """One answer of a case the statistics count (``engine.core.statistics.KINDS``): its
    kind, its code and the label read when it was given; for a need, what the directory
    offered then (``engine.core.statistics.UNMET`` or ``servi``)."""

    __tablename__ = "case_fact"
    __table_args__ = (
        Index("ix_case_fact_count", "territory_id", "kind", "recorded_at", "value", "detail",
              "case_id"),
        Index("ix_case_fact_case", "case_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    kind: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(String(40), default="")
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
