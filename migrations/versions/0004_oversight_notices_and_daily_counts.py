"""oversight: overdue notices, delivery leases, daily counts

human_task.overdue_noticed_at marks a step whose overdue notice was written (never twice);
outbox.lease_until lets one deliverer claim a message; daily_count keeps the administrators'
chart of overdue and due-soon steps.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 14:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.persistence.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daily_count",
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("overdue", sa.Integer(), nullable=False),
        sa.Column("due_soon", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["territory_id"], ["territory.id"],
                                name=op.f("fk_daily_count_territory_id_territory")),
        sa.PrimaryKeyConstraint("territory_id", "day", name=op.f("pk_daily_count")),
    )
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("overdue_noticed_at",
                                      engine.persistence.db.UtcDateTime(), nullable=True))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_until", engine.persistence.db.UtcDateTime(),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.drop_column("overdue_noticed_at")
    op.drop_table("daily_count")
