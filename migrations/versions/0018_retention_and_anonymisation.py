"""retention and anonymisation of closed cases (issue #16, item 2)

``territory.retention``: how long a territory keeps each circuit's closed cases, read from
its ``territory.json`` when it is loaded (``engine.core.retention``); existing territories
keep their cases until their files are loaded again. ``case.anonymised_at``: when the
household's data of the case were anonymised; ``case.retention_hold``: the reason a case is
kept past its rule (a legal hold). ``ix_case_retention`` serves the scheduler's sweep.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 23:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.persistence.db import UtcDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("territory") as batch:
        batch.add_column(sa.Column("retention", sa.JSON(), nullable=True))
    op.execute("UPDATE territory SET retention = '{}'")
    with op.batch_alter_table("territory") as batch:
        batch.alter_column("retention", existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("anonymised_at", UtcDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("retention_hold", sa.String(length=500), nullable=True))
    op.create_index("ix_case_retention", "case", ["anonymised_at", "circuit_id", "closed_at"])


def downgrade() -> None:
    op.drop_index("ix_case_retention", table_name="case")
    with op.batch_alter_table("case") as batch:
        batch.drop_column("retention_hold")
        batch.drop_column("anonymised_at")
    with op.batch_alter_table("territory") as batch:
        batch.drop_column("retention")
