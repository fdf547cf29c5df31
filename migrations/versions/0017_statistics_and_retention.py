"""statistics and the life cycle of personal data (issue #16)

``case_fact`` holds the answers the statistics count (a form field marked
``x-aiguillage-statistic``: the entry route of a request, the needs found and whether the
directory answered them, the needs a commission found unmet, the stage an eviction procedure
reached), so that ``/statistiques`` counts them in SQL without reading a workflow; and
the indexes that cover the statistics' reads of ``human_task``, ``orientation`` and ``case``.

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


# the statistics' reads of other tables, each covered (engine/persistence/models/statistic.py)
INDEXES = (
    ("ix_human_task_stat_done", "human_task",
     ["territory_id", "status", "circuit_id", "name", "hours_taken", "completed_at"]),
    ("ix_human_task_stat_ready", "human_task",
     ["territory_id", "name", "role", "completed_by_id", "assignee_id", "ready_at", "due_at",
      "status", "completed_at"]),
    ("ix_orientation_stat", "orientation",
     ["territory_id", "created_at", "measure", "organisation_id", "state", "answered_at",
      "case_id", "id"]),
    ("ix_case_stat_closed", "case", ["territory_id", "closed_at", "circuit_id", "status",
                                     "end_label"]),
    ("ix_case_party_stat", "case_party", ["part", "until", "since", "organisation_id",
                                          "case_id"]),
)


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
    # a step's whole hours from its opening to its completion, written with the completion
    # (the time per step counted without date arithmetic); the steps completed so far
    op.add_column("human_task", sa.Column("hours_taken", sa.Integer(), nullable=True))
    elapsed = ("(CAST(strftime('%s', completed_at) AS INTEGER)"
               " - CAST(strftime('%s', ready_at) AS INTEGER)) / 3600"
               if op.get_bind().dialect.name == "sqlite"
               else "CAST(floor(extract(epoch FROM completed_at - ready_at) / 3600) AS INTEGER)")
    op.execute(f"UPDATE human_task SET hours_taken = {elapsed} "  # noqa: S608 (no input)
               "WHERE completed_at IS NOT NULL AND completed_at >= ready_at")
    op.create_index("ix_case_fact_count", "case_fact",
                    ["territory_id", "kind", "label", "detail", "recorded_at", "case_id"])
    op.create_index("ix_case_fact_case", "case_fact", ["case_id", "kind"])
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("human_task") as batch:
        batch.drop_column("hours_taken")
    op.drop_index("ix_case_fact_case", table_name="case_fact")
    op.drop_index("ix_case_fact_count", table_name="case_fact")
    op.drop_table("case_fact")
