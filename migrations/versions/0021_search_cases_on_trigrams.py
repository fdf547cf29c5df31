"""search cases on trigrams (issue #17, item 5): the cases search at 100,000 cases

The cases search matches ``reference`` and ``household_name`` anywhere in the text
(``ILIKE '%…%'``), which no b-tree serves: at 100k cases a partner's search read the 50,000
cases its organisation is party to, one row at a time (300-380 ms on PostgreSQL). On
PostgreSQL, trigram GIN indexes (``pg_trgm``) find the matching cases first, whatever the
text's place in the name. Where the extension cannot be installed (not shipped, or a role
without the right) the migration leaves them out and the search works as before, slower.
SQLite has no such index: nothing to do there.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

INDEXES = {"ix_case_household_trgm": "household_name", "ix_case_reference_trgm": "reference"}


def _trigrams() -> bool:
    """Is ``pg_trgm`` there (installed here if it can be)? A failure rolls back to a
    savepoint so that the rest of the upgrade goes on."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as error:
        logging.getLogger("alembic").warning(
            "pg_trgm unavailable, the cases search runs without its index: %s", error.orig)
        return False
    return True


def upgrade() -> None:
    if not _trigrams():
        return
    for name, column in INDEXES.items():
        op.create_index(name, "case", [column], postgresql_using="gin",
                        postgresql_ops={column: "gin_trgm_ops"})


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f'DROP INDEX IF EXISTS "{name}"')  # absent where pg_trgm was not
