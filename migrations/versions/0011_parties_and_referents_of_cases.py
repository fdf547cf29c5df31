"""parts per territory; the organisations on a case and its référent·e, with history

A territory declares the parts organisations play in its cases (``territory.parts``, from
territory.json). ``case_party`` records which organisation plays which part in a case, since
and until when, set by whom and why; ``case_referent`` records the référent·e de parcours
named on a case the same way (``case.referent_id`` stays the current one).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.persistence.db import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _history(name: str, *subject: sa.SchemaItem) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        *subject,
        sa.Column("since", UtcDateTime(timezone=True), nullable=False),
        sa.Column("until", UtcDateTime(timezone=True), nullable=True),
        sa.Column("set_by_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("ended_by_id", sa.Integer(), nullable=True),
        sa.Column("end_reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=f"fk_{name}_case_id_case"),
        sa.ForeignKeyConstraint(["set_by_id"], ["user.id"], name=f"fk_{name}_set_by_id_user"),
        sa.ForeignKeyConstraint(["ended_by_id"], ["user.id"],
                                name=f"fk_{name}_ended_by_id_user"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
    )


def upgrade() -> None:
    with op.batch_alter_table("territory") as batch:
        batch.add_column(sa.Column("parts", sa.JSON(), nullable=True))
    op.execute("UPDATE territory SET parts = '[]'")
    with op.batch_alter_table("territory") as batch:
        batch.alter_column("parts", existing_type=sa.JSON(), nullable=False)
    _history("case_party", sa.Column("part", sa.String(length=40), nullable=False),
             sa.Column("organisation_id", sa.Integer(), nullable=False),
             sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                     name="fk_case_party_organisation_id_organisation"))
    op.create_index("ix_case_party_case", "case_party", ["case_id", "until", "part"])
    op.create_index("ix_case_party_part_since", "case_party",
                    ["part", "until", "since", "case_id"])
    op.create_index("ix_case_party_organisation_id", "case_party", ["organisation_id"])
    _history("case_referent", sa.Column("user_id", sa.Integer(), nullable=False),
             sa.ForeignKeyConstraint(["user_id"], ["user.id"],
                                     name="fk_case_referent_user_id_user"))
    op.create_index("ix_case_referent_case", "case_referent", ["case_id", "until"])
    op.create_index("ix_case_referent_user_id", "case_referent", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_case_referent_user_id", table_name="case_referent")
    op.drop_index("ix_case_referent_case", table_name="case_referent")
    op.drop_table("case_referent")
    op.drop_index("ix_case_party_organisation_id", table_name="case_party")
    op.drop_index("ix_case_party_part_since", table_name="case_party")
    op.drop_index("ix_case_party_case", table_name="case_party")
    op.drop_table("case_party")
    with op.batch_alter_table("territory") as batch:
        batch.drop_column("parts")
