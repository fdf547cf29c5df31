"""webhooks out (issue #18, item 3)

``webhook_subscription``: an organisation's subscription (target URL, chosen events, signing
secret, active flag); ``webhook_attempt``: every attempt to deliver one of its events (the
deliveries are ``outbox`` rows of kind ``webhook``).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.persistence.db import UtcDateTime

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("deactivated_at", UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["territory_id"], ["territory.id"],
                                name="fk_webhook_subscription_territory_id_territory"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name="fk_webhook_subscription_organisation_id_organisation"),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"],
                                name="fk_webhook_subscription_created_by_id_user"),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_subscription"),
    )
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_subscription_territory", ["territory_id", "active"],
                              unique=False)
    op.create_table(
        "webhook_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("next_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["webhook_subscription.id"],
                                name="fk_webhook_attempt_subscription_id_webhook_subscription"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"],
                                name="fk_webhook_attempt_outbox_id_outbox"),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempt"),
    )
    with op.batch_alter_table("webhook_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_attempt_subscription", ["subscription_id", "at"],
                              unique=False)
        batch_op.create_index("ix_webhook_attempt_outbox_id", ["outbox_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_attempt_outbox_id")
        batch_op.drop_index("ix_webhook_attempt_subscription")
    op.drop_table("webhook_attempt")
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_subscription_territory")
    op.drop_table("webhook_subscription")
