"""statistics speed (issue #16, item 1): the delays written when they happen

``orientation.request_hours``: the whole hours from the case's request to its first
orientation (on that orientation only); ``orientation.answer_hours``: from an orientation to
its answer. Both are written with the orientation (``engine/persistence/models/statistic.py``)
and filled here for the orientations already there, so that the statistics' delays count
integers on ``ix_orientation_stat_hours`` instead of doing date arithmetic over a year of
orientations joined to their cases. ``case_fact`` of kind ``eviction_furthest``: each
case's furthest eviction stage, one fact kept up to date as stages are recorded, filled here
from the stages already there, so that the statistics count it without a maximum per case.
``ix_case_stat_territory``: the requests by referrer check each case's territory on it
rather than on the case's row.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _hours(start: str, end: str) -> str:
    """SQL: whole hours from ``start`` to ``end`` (never negative where it is used)."""
    if op.get_bind().dialect.name == "sqlite":
        return (f"(CAST(strftime('%s', {end}) AS INTEGER)"
                f" - CAST(strftime('%s', {start}) AS INTEGER)) / 3600")
    return f"CAST(floor(extract(epoch FROM {end} - {start}) / 3600) AS INTEGER)"


def upgrade() -> None:
    # plain ALTER TABLE (SQLite 3.35+): no copy of the table, whose rows others reference
    op.add_column("orientation", sa.Column("request_hours", sa.Integer(), nullable=True))
    op.add_column("orientation", sa.Column("answer_hours", sa.Integer(), nullable=True))
    answered = _hours("created_at", "answered_at")
    op.execute(f"UPDATE orientation SET answer_hours = {answered} "  # noqa: S608 (no input)
               "WHERE answered_at IS NOT NULL AND answered_at >= created_at")
    request = '(SELECT c.created_at FROM "case" c WHERE c.id = orientation.case_id)'
    first = ("NOT EXISTS (SELECT 1 FROM orientation o WHERE o.case_id = orientation.case_id"
             " AND o.id < orientation.id)")
    op.execute(f"UPDATE orientation SET request_hours = "  # noqa: S608 (no input)
               f"{_hours(request, 'orientation.created_at')} "
               f"WHERE {first} AND orientation.created_at >= {request}")
    op.create_index("ix_orientation_stat_hours", "orientation",
                    ["territory_id", "created_at", "request_hours", "answer_hours"])
    op.create_index("ix_case_stat_territory", "case", ["territory_id", "id"])
    # each case's furthest eviction stage: its stage of highest order (the first recorded
    # among equals)
    op.execute(
        "INSERT INTO case_fact (territory_id, case_id, kind, value, label, detail, recorded_at)"
        " SELECT f.territory_id, f.case_id, 'eviction_furthest', f.value, f.label, f.detail,"
        " f.recorded_at FROM case_fact f WHERE f.kind = 'eviction_stage' AND NOT EXISTS"
        " (SELECT 1 FROM case_fact g WHERE g.case_id = f.case_id"
        " AND g.kind = 'eviction_stage'"
        " AND (g.detail > f.detail OR (g.detail = f.detail AND g.id < f.id)))"
        " ORDER BY f.case_id")


def downgrade() -> None:
    op.execute("DELETE FROM case_fact WHERE kind = 'eviction_furthest'")
    op.drop_index("ix_case_stat_territory", table_name="case")
    op.drop_index("ix_orientation_stat_hours", table_name="orientation")
    op.drop_column("orientation", "answer_hours")
    op.drop_column("orientation", "request_hours")
