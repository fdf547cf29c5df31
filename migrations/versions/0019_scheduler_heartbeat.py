"""scheduler heartbeat (issue #17, item 3)

``scheduler_heartbeat``: one row per scheduler process (``aiguillage scheduler`` or the
embedded one), its ``beat_at`` written at each tick; ``/readyz`` reports the database not
ready for work when the latest beat is older than its bound. Rows of schedulers gone for a
day are deleted by the next scheduler that starts.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.persistence.db import UtcDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_heartbeat",
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.Column("started_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker", name="pk_scheduler_heartbeat"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_heartbeat")
