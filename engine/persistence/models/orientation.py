"""Orientations: a household proposed to a service of the directory, its answer and its log;
the territory's refusal reasons; the signed links that answer one without an account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class Orientation(Base):
    """One orientation of a case to a service (``engine.core.orientation.STATES``)."""

    __tablename__ = "orientation"
    __table_args__ = (
        Index("ix_orientation_case", "case_id", "id"),
        # an operator's inbox and the statistics: a service's orientations by state
        Index("ix_orientation_service", "service_id", "state", "created_at"),
        Index("ix_orientation_organisation", "organisation_id", "state", "created_at"),
        Index("ix_orientation_territory", "territory_id", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("directory_service.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    measure: Mapped[str] = mapped_column(String(40))  # the service's measure when sent
    part: Mapped[str] = mapped_column(String(40), default="operator")
    state: Mapped[str] = mapped_column(String(20))
    step: Mapped[str] = mapped_column(String(300), default="")  # the step that created it
    comment: Mapped[str] = mapped_column(String(2000), default="")  # the platform's argument
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    answered_via: Mapped[str | None] = mapped_column(String(20))  # compte / lien
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)  # refusal reason codes
    reason_detail: Mapped[str] = mapped_column(String(500), default="")
    message_referrer: Mapped[str] = mapped_column(String(2000), default="")
    answer_household: Mapped[str] = mapped_column(String(2000), default="")
    place_taken: Mapped[bool] = mapped_column(default=False)
    place_returned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # what the statistics' delays count, written as it happens (models/statistic.py): whole
    # hours from the request to this orientation (the case's first one only) and from this
    # orientation to its answer
    request_hours: Mapped[int | None] = mapped_column()
    answer_hours: Mapped[int | None] = mapped_column()


class OrientationEvent(Base):
    """One move of an orientation: when, who (or which link, or the timer), from, to, why."""

    __tablename__ = "orientation_event"
    __table_args__ = (Index("ix_orientation_event_orientation", "orientation_id", "at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    orientation_id: Mapped[int] = mapped_column(ForeignKey("orientation.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    via: Mapped[str] = mapped_column(String(20))  # compte / lien / minuteur / systeme
    before: Mapped[str | None] = mapped_column(String(20))  # None: created
    after: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(String(2000), default="")


class RefusalReason(Base):
    """A coded refusal reason of a territory; retired codes stay (``active`` false) so that
    past refusals keep their label."""

    __tablename__ = "refusal_reason"
    __table_args__ = (UniqueConstraint("territory_id", "code",
                                       name="uq_refusal_reason_territory_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"))
    code: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(200))
    needs_detail: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)


class AnswerLink(Base):
    """A signed, single-use link that lets an organisation without an account answer one
    orientation (its open answer step). Only the SHA-256 of the token is stored."""

    __tablename__ = "answer_link"
    __table_args__ = (Index("ix_answer_link_orientation", "orientation_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    orientation_id: Mapped[int] = mapped_column(ForeignKey("orientation.id"))
    task_id: Mapped[int] = mapped_column(ForeignKey("human_task.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), default="")  # where it was sent
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
