"""Webhooks out (issue #18, item 3): an organisation's subscriptions, and the log of every
attempt to deliver one of their events (the deliveries themselves are outbox rows of kind
``webhook``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class WebhookSubscription(Base):
    """An organisation's subscription: where to POST which events, and the secret that
    signs them (kept as is: the sender needs it; see docs/security.md)."""

    __tablename__ = "webhook_subscription"
    __table_args__ = (Index("ix_webhook_subscription_territory", "territory_id", "active"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    url: Mapped[str] = mapped_column(String(500))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    deactivated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebhookAttempt(Base):
    """One attempt to deliver a webhook: when, the answer's status code or the error, how
    long it took, and when the next attempt is due (None once delivered or given up)."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_subscription", "subscription_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscription.id"))
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    delivery_id: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(default=0)
    next_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
