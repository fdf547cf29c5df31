"""territory periods and dated timers (issue #15, item 1)

Reserved so that work landing in parallel keeps one chain of revisions; filled in by the
change that needs it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 23:45:00
"""

from __future__ import annotations

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
