"""circuit drafts: the files coordinators edit in the browser before deploying

One draft per circuit key of a territory, with its BPMN and form files and a revision
counter (optimistic locking: two coordinators saving the same draft get a conflict).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.persistence.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "circuit_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("circuit_id", sa.Integer(), nullable=True),
        sa.Column("base_version_id", sa.Integer(), nullable=True),
        sa.Column("process_id", sa.String(length=200), nullable=True),
        sa.Column("main_file", sa.String(length=200), nullable=False),
        sa.Column("bpmn_files", sa.JSON(), nullable=False),
        sa.Column("form_files", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", engine.persistence.db.UtcDateTime(), nullable=False),
        sa.Column("updated_at", engine.persistence.db.UtcDateTime(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["base_version_id"], ["circuit_version.id"],
                                name=op.f("fk_circuit_draft_base_version_id_circuit_version")),
        sa.ForeignKeyConstraint(["circuit_id"], ["circuit.id"],
                                name=op.f("fk_circuit_draft_circuit_id_circuit")),
        sa.ForeignKeyConstraint(["territory_id"], ["territory.id"],
                                name=op.f("fk_circuit_draft_territory_id_territory")),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user.id"],
                                name=op.f("fk_circuit_draft_updated_by_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circuit_draft")),
        sa.UniqueConstraint("territory_id", "key", name=op.f("uq_circuit_draft_territory_id")),
    )
    with op.batch_alter_table("circuit_draft", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_circuit_draft_territory_id"), ["territory_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("circuit_draft", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_circuit_draft_territory_id"))
    op.drop_table("circuit_draft")
