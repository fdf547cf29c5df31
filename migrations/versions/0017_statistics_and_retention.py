"""statistics and the life cycle of personal data (issue #16)

Reserved so that work landing in parallel keeps one chain of revisions; filled in by the
change that needs it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 23:45:00
"""

from __future__ import annotations

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
