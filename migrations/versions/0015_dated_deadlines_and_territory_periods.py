"""territory periods and dated timers (issue #15, item 1)

A territory's yearly periods (the winter truce), read from its ``territory.json`` when the
territory is loaded or updated, as the holiday subdivision is: ``territory.periods``, a list of
``{"key", "label", "from", "to"}`` (``MM-DD``). A circuit checked or deployed from the modeler
reads them there, so a step's or a timer's ``period`` rule is checked and applied for every
circuit. Existing territories start with none until their files are loaded again. Dated
timers (``timerRelative``) need no column: their due time is the timer row's.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 23:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("territory") as batch:
        batch.add_column(sa.Column("periods", sa.JSON(), nullable=True))
    op.execute("UPDATE territory SET periods = '[]'")
    with op.batch_alter_table("territory") as batch:
        batch.alter_column("periods", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("territory") as batch:
        batch.drop_column("periods")
