"""statistics and the life cycle of personal data (issue #16)

``case_fact`` holds the answers the statistics count (a form field marked
``x-aiguillage-statistic``: the entry route of a request, the needs found and whether the
directory answered them, the needs a commission found unmet, the stage an eviction procedure
reached), so that ``/statistiques`` counts them in SQL without reading a workflow.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 23:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.persistence.db import UtcDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_fact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=100), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.String(length=40), nullable=False),
        sa.Column("recorded_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_case_fact_case_id_case")),
        sa.ForeignKeyConstraint(["territory_id"], ["territory.id"],
                                name=op.f("fk_case_fact_territory_id_territory")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_fact")),
    )
    op.create_index("ix_case_fact_count", "case_fact",
                    ["territory_id", "kind", "recorded_at", "value", "detail", "case_id"])
    op.create_index("ix_case_fact_case", "case_fact", ["case_id", "kind"])


def downgrade() -> None:
    op.drop_index("ix_case_fact_case", table_name="case_fact")
    op.drop_index("ix_case_fact_count", table_name="case_fact")
    op.drop_table("case_fact")
