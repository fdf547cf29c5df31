"""covering indexes for the case list and the supervision views

At 100k cases, counting a search or the overdue steps looked every matching row up in the
table; these indexes hold every column those lists filter and count on.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 15:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

WATCH = ["status", "due_at", "territory_id", "circuit_id", "role", "bpmn_id", "assignee_id",
         "ready_at", "name"]
LISTING = ["territory_id", "created_at", "id", "circuit_id", "status", "reference",
           "household_name"]


def upgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index("ix_case_territory_created")
        batch_op.create_index("ix_case_listing", LISTING, unique=False)
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.drop_index("ix_human_task_overdue")
        batch_op.create_index("ix_human_task_watch", WATCH, unique=False)
        batch_op.create_index("ix_human_task_waiting",
                              ["status", "due_sort", "territory_id", "ready_at", "id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.drop_index("ix_human_task_waiting")
        batch_op.drop_index("ix_human_task_watch")
        batch_op.create_index("ix_human_task_overdue", ["status", "due_at"], unique=False)
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index("ix_case_listing")
        batch_op.create_index("ix_case_territory_created", ["territory_id", "created_at", "id"],
                              unique=False)
