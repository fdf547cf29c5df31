"""index cases by territory and creation date

The case list orders a territory's cases newest first with no status filter; without this
index SQLite sorted every case of the territory.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 14:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.create_index("ix_case_territory_created", ["territory_id", "created_at", "id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index("ix_case_territory_created")
