"""retention and anonymisation of closed cases (issue #16, item 2)

Reserved so that work landing in parallel keeps one chain of revisions; filled in by the
change that needs it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 23:55:00
"""

from __future__ import annotations

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
