"""commission sessions (issue #15, item 3)

Reserved so that work landing in parallel keeps one chain of revisions; filled in by the
change that needs it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 23:45:00
"""

from __future__ import annotations

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
