"""index each source of "my tasks" in due order

My tasks merges the steps assigned to me and those offered to each of my roles; each source
is now read in due order on its own index (offered steps: a partial index on unassigned
rows), so a page costs the same at 1k and 100k open cases.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 15:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.drop_index("ix_human_task_offer")
        batch_op.drop_index("ix_human_task_assignee")
        batch_op.create_index("ix_human_task_offered",
                              ["territory_id", "role", "status", "due_sort", "id"], unique=False,
                              sqlite_where=sa.text("assignee_id IS NULL"),
                              postgresql_where=sa.text("assignee_id IS NULL"))
        batch_op.create_index("ix_human_task_mine", ["assignee_id", "status", "due_sort", "id"],
                              unique=False, sqlite_where=sa.text("assignee_id IS NOT NULL"),
                              postgresql_where=sa.text("assignee_id IS NOT NULL"))


def downgrade() -> None:
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.drop_index("ix_human_task_mine")
        batch_op.drop_index("ix_human_task_offered")
        batch_op.create_index("ix_human_task_assignee", ["assignee_id", "status", "due_at"],
                              unique=False)
        batch_op.create_index("ix_human_task_offer", ["territory_id", "role", "status", "due_at"],
                              unique=False)
