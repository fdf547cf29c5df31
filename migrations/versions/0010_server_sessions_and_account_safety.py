"""keep sessions on the server; throttle sign-ins; scope account audit events

Sessions lived entirely in the signed cookie, so a copied cookie outlived sign-out, a
password reset and a deactivation. ``web_session`` holds them on the server (the cookie keeps
a random id only). ``sign_in_throttle`` counts failed sign-ins per account and per address in
the database, so every worker shares the count and a restart does not reset it. A temporary
password must be changed at the next sign-in. Account events concern every territory of the
account: ``audit_event_territory`` lets each territory's administrators see them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.persistence.db import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=40), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name="fk_web_session_user_id_user"),
        sa.PrimaryKeyConstraint("id", name="pk_web_session"),
        sa.UniqueConstraint("token_hash", name="uq_web_session_token_hash"),
    )
    op.create_index("ix_web_session_user", "web_session", ["user_id", "revoked_at"])
    op.create_index("ix_web_session_last_seen", "web_session", ["last_seen_at"])
    op.create_table(
        "sign_in_throttle",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_sign_in_throttle"),
    )
    op.create_table(
        "audit_event_territory",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["audit_event.id"],
                                name="fk_audit_event_territory_event_id_audit_event"),
        sa.ForeignKeyConstraint(["territory_id"], ["territory.id"],
                                name="fk_audit_event_territory_territory_id_territory"),
        sa.PrimaryKeyConstraint("event_id", "territory_id", name="pk_audit_event_territory"),
    )
    op.create_index("ix_audit_event_territory_territory_id", "audit_event_territory",
                    ["territory_id"])
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("password_changed_at", UtcDateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user") as batch:
        batch.drop_column("password_changed_at")
        batch.drop_column("must_change_password")
    op.drop_index("ix_audit_event_territory_territory_id", table_name="audit_event_territory")
    op.drop_table("audit_event_territory")
    op.drop_table("sign_in_throttle")
    op.drop_index("ix_web_session_last_seen", table_name="web_session")
    op.drop_index("ix_web_session_user", table_name="web_session")
    op.drop_table("web_session")
