"""the household's consent per part, purpose and category; steps bound to a case's party

``case_consent`` replaces the unused ``consent`` table: one row per (part, purpose, data
category) the household agreed to, with its basis, witness, validity and withdrawal.
``human_task`` gets the part its lane is bound to and the organisation holding that part in
the case. "Mes tâches" reads, per role, the steps offered across the territory (no part: the
offered-steps index, now partial on them) and those offered to each of the person's
organisations (a new partial index, by organisation), each in deadline order.
``case_party`` gets an index by organisation for the cases an organisation is party to.
``user.notice_mode`` says how a person hears of new steps: at once, or in the daily digest.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 18:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.persistence.db import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

OFFERED = sa.text("assignee_id IS NULL")
COLUMNS = ["territory_id", "role", "status", "due_sort", "id", "assignee_id"]
UNBOUND = sa.text("assignee_id IS NULL AND organisation_id IS NULL AND part IS NULL")
BOUND = sa.text("assignee_id IS NULL AND organisation_id IS NOT NULL")


def _offered(where: sa.TextClause) -> None:
    op.drop_index("ix_human_task_offered", table_name="human_task")
    op.create_index("ix_human_task_offered", "human_task", COLUMNS, unique=False,
                    sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    with op.batch_alter_table("consent") as batch:
        batch.drop_index("ix_consent_case_id")
    op.drop_table("consent")
    op.create_table(
        "case_consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("basis", sa.String(length=20), nullable=False),
        sa.Column("witness", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("given_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", UtcDateTime(timezone=True), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("withdrawn_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by_id", sa.Integer(), nullable=True),
        sa.Column("withdraw_reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name="fk_case_consent_case_id_case"),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["user.id"],
                                name="fk_case_consent_recorded_by_id_user"),
        sa.ForeignKeyConstraint(["withdrawn_by_id"], ["user.id"],
                                name="fk_case_consent_withdrawn_by_id_user"),
        sa.PrimaryKeyConstraint("id", name="pk_case_consent"),
    )
    op.create_index("ix_case_consent_cover", "case_consent",
                    ["case_id", "part", "category", "withdrawn_at", "valid_until"])
    with op.batch_alter_table("human_task") as batch:
        batch.add_column(sa.Column("part", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("organisation_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_human_task_organisation_id_organisation", "organisation",
                                 ["organisation_id"], ["id"])
    _offered(UNBOUND)
    op.create_index("ix_human_task_bound", "human_task",
                    ["territory_id", "role", "organisation_id", "status", "due_sort", "id",
                     "assignee_id"], unique=False, sqlite_where=BOUND, postgresql_where=BOUND)
    op.drop_index("ix_case_party_organisation_id", table_name="case_party")
    op.create_index("ix_case_party_organisation", "case_party",
                    ["organisation_id", "until", "case_id", "part"])
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("notice_mode", sa.String(length=20), nullable=False,
                                   server_default="digest"))


def downgrade() -> None:
    with op.batch_alter_table("user") as batch:
        batch.drop_column("notice_mode")
    op.drop_index("ix_case_party_organisation", table_name="case_party")
    op.create_index("ix_case_party_organisation_id", "case_party", ["organisation_id"])
    op.drop_index("ix_human_task_bound", table_name="human_task")
    _offered(OFFERED)
    with op.batch_alter_table("human_task") as batch:
        batch.drop_constraint("fk_human_task_organisation_id_organisation", type_="foreignkey")
        batch.drop_column("organisation_id")
        batch.drop_column("part")
    op.drop_index("ix_case_consent_cover", table_name="case_consent")
    op.drop_table("case_consent")
    op.create_table(
        "consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("share", sa.Boolean(), nullable=False),
        sa.Column("health", sa.Boolean(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("collected_by_id", sa.Integer(), nullable=True),
        sa.Column("given_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name="fk_consent_case_id_case"),
        sa.ForeignKeyConstraint(["collected_by_id"], ["user.id"],
                                name="fk_consent_collected_by_id_user"),
        sa.PrimaryKeyConstraint("id", name="pk_consent"),
    )
    with op.batch_alter_table("consent") as batch:
        batch.create_index("ix_consent_case_id", ["case_id"], unique=False)
