"""api keys of organisations (issue #18, item 2)

``api_key``: a key per piece of software of an organisation (its roles, rights and circuits
in the territory), stored as the SHA-256 of its token, found by its unique ``prefix``.
``user.kind``: ``person`` (default) or ``api``, the technical account each key acts as.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.persistence.db import UtcDateTime

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=10), nullable=False,
                                   server_default="person"))
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("prefix", sa.String(length=20), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("circuits", sa.JSON(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("last_used_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.Column("rotated_from_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["territory_id"], ["territory.id"],
                                name="fk_api_key_territory_id_territory"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name="fk_api_key_organisation_id_organisation"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name="fk_api_key_user_id_user"),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"],
                                name="fk_api_key_created_by_id_user"),
        sa.ForeignKeyConstraint(["revoked_by_id"], ["user.id"],
                                name="fk_api_key_revoked_by_id_user"),
        sa.ForeignKeyConstraint(["rotated_from_id"], ["api_key.id"],
                                name="fk_api_key_rotated_from_id_api_key"),
        sa.PrimaryKeyConstraint("id", name="pk_api_key"),
        sa.UniqueConstraint("prefix", name="uq_api_key_prefix"),
    )
    op.create_index("ix_api_key_territory_id", "api_key", ["territory_id"])
    op.create_index("ix_api_key_user_id", "api_key", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_api_key_user_id", table_name="api_key")
    op.drop_index("ix_api_key_territory_id", table_name="api_key")
    op.drop_table("api_key")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite (3.35 and later) drops the column in place: a batch would rebuild the table,
        # and dropping the old one trips over the rows that point at the accounts
        op.execute('ALTER TABLE "user" DROP COLUMN kind')
    else:
        with op.batch_alter_table("user") as batch:
            batch.drop_column("kind")
