"""sort steps on an index: human_task.due_sort

Task lists order open steps by due date with steps without deadline last; ordering on an
expression (due_at IS NULL) defeated every index, so lists sorted all open steps at 100k
cases. ``due_sort`` is due_at, or 9999-12-31 for steps without deadline.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.persistence.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_sort", engine.persistence.db.UtcDateTime(),
                                      nullable=True))
    op.execute("UPDATE human_task SET due_sort = COALESCE(due_at, '9999-12-31 00:00:00')")
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.alter_column("due_sort", existing_type=engine.persistence.db.UtcDateTime(),
                              nullable=False)
        batch_op.create_index("ix_human_task_queue", ["status", "due_sort", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.drop_index("ix_human_task_queue")
        batch_op.drop_column("due_sort")
