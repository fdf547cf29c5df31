"""The organisations on a case (parties, by part) and its référent·e de parcours, with history.

A row is current while ``until`` is empty; changing a party or the référent ends the current
row (``until``, ``ended_by_id``, ``end_reason``) and adds a new one, so the history stays.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class CaseParty(Base):
    """An organisation playing a part (a key of the territory's ``parts``) in a case."""

    __tablename__ = "case_party"
    __table_args__ = (
        Index("ix_case_party_case", "case_id", "until", "part"),
        # the list of cases oriented to an operator without a référent
        Index("ix_case_party_part_since", "part", "until", "since", "case_id"),
        # the cases an organisation is a current party to (the visibility rule)
        Index("ix_case_party_organisation", "organisation_id", "until", "case_id", "part"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    part: Mapped[str] = mapped_column(String(40))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    since: Mapped[datetime] = mapped_column(UtcDateTime)
    until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    reason: Mapped[str] = mapped_column(String(500))
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    end_reason: Mapped[str | None] = mapped_column(String(500))


class CaseReferent(Base):
    """A person named référent·e de parcours of a case; ``case.referent_id`` is the current one."""

    __tablename__ = "case_referent"
    __table_args__ = (Index("ix_case_referent_case", "case_id", "until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    since: Mapped[datetime] = mapped_column(UtcDateTime)
    until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    reason: Mapped[str] = mapped_column(String(500))
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    end_reason: Mapped[str | None] = mapped_column(String(500))
