"""cover the count of offered steps

The offered-steps index is partial (``assignee_id IS NULL``) but did not hold the column, so
SQLite read each table row to check it: counting the 1,001 steps a coordination sees cost
four times the page. With the column in the index, the count reads the index alone.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BEFORE = ["territory_id", "role", "status", "due_sort", "id"]
OFFERED = sa.text("assignee_id IS NULL")


def _offered(columns: list[str]) -> None:
    op.drop_index("ix_human_task_offered", table_name="human_task")
    op.create_index("ix_human_task_offered", "human_task", columns, unique=False,
                    sqlite_where=OFFERED, postgresql_where=OFFERED)


def upgrade() -> None:
    _offered([*BEFORE, "assignee_id"])


def downgrade() -> None:
    _offered(BEFORE)
