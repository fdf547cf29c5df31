"""The household's consent, per case: which part, for which purpose, which data category.

One row per (part, purpose, category) granted at once; the rows of one decision share
``given_at``, ``basis`` and who recorded it. A row counts while it is not withdrawn and not
past ``valid_until``. Withdrawal fills ``withdrawn_at`` (never deletes): the history stays.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class CaseConsent(Base):
    """The household agreed that the organisation playing ``part`` in the case reads the
    data of ``category``, for ``purpose``."""

    __tablename__ = "case_consent"
    __table_args__ = (
        # the visibility rule: is (case, part, category) covered now?
        Index("ix_case_consent_cover", "case_id", "part", "category", "withdrawn_at",
              "valid_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    part: Mapped[str] = mapped_column(String(40))
    purpose: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(40))
    basis: Mapped[str] = mapped_column(String(20))
    witness: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(300))  # « Étape « … » », « Page du dossier »
    given_at: Mapped[datetime] = mapped_column(UtcDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    withdraw_reason: Mapped[str | None] = mapped_column(String(500))
