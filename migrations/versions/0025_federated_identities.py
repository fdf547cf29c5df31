"""federated identities (issue #18, item 5)

``federated_identity``: the (issuer, subject) at an OpenID Connect provider an account was
first matched with, so that later sign-ins match it first and an e-mail address reassigned
at the provider to someone else is refused.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.persistence.db import UtcDateTime

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "federated_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("first_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"],
                                name="fk_federated_identity_user_id_user"),
        sa.PrimaryKeyConstraint("id", name="pk_federated_identity"),
        sa.UniqueConstraint("issuer", "subject", name="uq_federated_identity_issuer"),
        sa.UniqueConstraint("user_id", "issuer", name="uq_federated_identity_user_id"),
    )


def downgrade() -> None:
    op.drop_table("federated_identity")
