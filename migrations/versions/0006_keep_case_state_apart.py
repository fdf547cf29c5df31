"""keep the workflow state of a case in its own table

Searching cases by name read every case row, and each row carried its workflow JSON (several
kilobytes), so a LIKE over 100k cases read hundreds of megabytes. The state now lives in
case_state; case keeps the listing columns and gains updated_at, touched on every save so
the version counter moves.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.persistence.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_state",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_case_state_case_id_case")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_state")),
    )
    op.execute('INSERT INTO case_state (case_id, state) SELECT id, state FROM "case"')
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_column("state")
        batch_op.add_column(sa.Column("updated_at", engine.persistence.db.UtcDateTime(),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.add_column(sa.Column("state", sa.Text(), nullable=False, server_default=""))
    op.execute('UPDATE "case" SET state = (SELECT state FROM case_state '
               'WHERE case_state.case_id = "case".id)')
    op.drop_table("case_state")
