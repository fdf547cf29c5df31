"""commission sessions (issue #15, item 3)

``commission_session``: a session of a territory's commission (date, place, agenda cut-off,
files-sent date, state; ``plan_key`` unique per territory for the sessions a timer start
event plans, so that each occurrence is created once). ``session_case``: the cases on its
agenda and the decision recorded for each.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 23:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.persistence.db import UtcDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "commission_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("agenda_closes_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("files_sent_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("plan_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("ended_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("ended_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["territory_id"], ["territory.id"],
                                name="fk_commission_session_territory_id_territory"),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"],
                                name="fk_commission_session_created_by_id_user"),
        sa.ForeignKeyConstraint(["ended_by_id"], ["user.id"],
                                name="fk_commission_session_ended_by_id_user"),
        sa.PrimaryKeyConstraint("id", name="pk_commission_session"),
        sa.UniqueConstraint("territory_id", "plan_key",
                            name="uq_commission_session_territory_id"),
    )
    with op.batch_alter_table("commission_session", schema=None) as batch_op:
        batch_op.create_index("ix_commission_session_territory", ["territory_id", "starts_at"],
                              unique=False)
        batch_op.create_index("ix_commission_session_state", ["state", "files_sent_at"],
                              unique=False)
    op.create_table(
        "session_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("joined_by_id", sa.Integer(), nullable=True),
        sa.Column("decision", sa.String(length=40), nullable=True),
        sa.Column("decided_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["commission_session.id"],
                                name="fk_session_case_session_id_commission_session"),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name="fk_session_case_case_id_case"),
        sa.ForeignKeyConstraint(["joined_by_id"], ["user.id"],
                                name="fk_session_case_joined_by_id_user"),
        sa.ForeignKeyConstraint(["decided_by_id"], ["user.id"],
                                name="fk_session_case_decided_by_id_user"),
        sa.PrimaryKeyConstraint("id", name="pk_session_case"),
        sa.UniqueConstraint("session_id", "case_id", name="uq_session_case_session_id"),
    )
    with op.batch_alter_table("session_case", schema=None) as batch_op:
        batch_op.create_index("ix_session_case_case", ["case_id", "decided_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("session_case", schema=None) as batch_op:
        batch_op.drop_index("ix_session_case_case")
    op.drop_table("session_case")
    with op.batch_alter_table("commission_session", schema=None) as batch_op:
        batch_op.drop_index("ix_commission_session_state")
        batch_op.drop_index("ix_commission_session_territory")
    op.drop_table("commission_session")
