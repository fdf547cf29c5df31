"""orientations, refusal reasons, answer links and households

``orientation`` is the platform's central act as a record (a case proposed to a directory
service, with its state) and ``orientation_event`` its log; ``refusal_reason`` the
territory's editable coded reasons (seeded with the defaults of
``engine.core.orientation.DEFAULT_REASONS``); ``answer_link`` the signed single-use links
that answer an orientation without an account (token hashed). ``household`` links a
household's cases across circuits (``case.household_id``); ``household_match`` keeps the
likely duplicates until a coordinator merges or dismisses them. Every existing case gets a
household record of its own (``_households_of_existing_cases``).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 20:39:24.813021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.core.household import name_key
from engine.core.orientation import DEFAULT_REASONS
from engine.persistence.db import UtcDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "household",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("commune", sa.String(length=100), nullable=False),
        sa.Column("commune_key", sa.String(length=100), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("merged_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("merged_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merged_by_id"], ["user.id"], name=op.f("fk_household_merged_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["household.id"], name=op.f("fk_household_merged_into_id_household")
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"], ["territory.id"], name=op.f("fk_household_territory_id_territory")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household")),
    )
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.create_index(
            "ix_household_match", ["territory_id", "commune_key", "birth_year"], unique=False
        )
        batch_op.create_index("ix_household_name", ["territory_id", "name_key"], unique=False)

    op.create_table(
        "refusal_reason",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("needs_detail", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territory.id"],
            name=op.f("fk_refusal_reason_territory_id_territory"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refusal_reason")),
        sa.UniqueConstraint("territory_id", "code", name="uq_refusal_reason_territory_id"),
    )
    op.create_table(
        "household_match",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("other_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("found_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["user.id"], name=op.f("fk_household_match_decided_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["household.id"],
            name=op.f("fk_household_match_household_id_household"),
        ),
        sa.ForeignKeyConstraint(
            ["other_id"], ["household.id"], name=op.f("fk_household_match_other_id_household")
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territory.id"],
            name=op.f("fk_household_match_territory_id_territory"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household_match")),
    )
    with op.batch_alter_table("household_match", schema=None) as batch_op:
        batch_op.create_index(
            "ix_household_match_household", ["household_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_household_match_open", ["territory_id", "status", "found_at"], unique=False
        )
        batch_op.create_index("ix_household_match_other", ["other_id", "status"], unique=False)

    op.create_table(
        "orientation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("measure", sa.String(length=40), nullable=False),
        sa.Column("part", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("step", sa.String(length=300), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.Column("answered_via", sa.String(length=20), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("reason_detail", sa.String(length=500), nullable=False),
        sa.Column("message_referrer", sa.String(length=2000), nullable=False),
        sa.Column("answer_household", sa.String(length=2000), nullable=False),
        sa.Column("place_taken", sa.Boolean(), nullable=False),
        sa.Column("place_returned_at", UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["answered_by_id"], ["user.id"], name=op.f("fk_orientation_answered_by_id_user")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_orientation_case_id_case")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_orientation_created_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_orientation_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["directory_service.id"],
            name=op.f("fk_orientation_service_id_directory_service"),
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"], ["territory.id"], name=op.f("fk_orientation_territory_id_territory")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orientation")),
    )
    with op.batch_alter_table("orientation", schema=None) as batch_op:
        batch_op.create_index("ix_orientation_case", ["case_id", "id"], unique=False)
        batch_op.create_index(
            "ix_orientation_organisation", ["organisation_id", "state", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_orientation_service", ["service_id", "state", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_orientation_territory", ["territory_id", "state", "created_at"], unique=False
        )

    op.create_table(
        "answer_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("orientation_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_answer_link_created_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["orientation_id"],
            ["orientation.id"],
            name=op.f("fk_answer_link_orientation_id_orientation"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["human_task.id"], name=op.f("fk_answer_link_task_id_human_task")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answer_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_answer_link_token_hash")),
    )
    with op.batch_alter_table("answer_link", schema=None) as batch_op:
        batch_op.create_index(
            "ix_answer_link_orientation", ["orientation_id", "created_at"], unique=False
        )

    op.create_table(
        "orientation_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("orientation_id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("before", sa.String(length=20), nullable=True),
        sa.Column("after", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.ForeignKeyConstraint(
            ["orientation_id"],
            ["orientation.id"],
            name=op.f("fk_orientation_event_orientation_id_orientation"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_orientation_event_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orientation_event")),
    )
    with op.batch_alter_table("orientation_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orientation_event_orientation", ["orientation_id", "at", "id"], unique=False
        )

    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.add_column(sa.Column("household_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_case_household_id"), ["household_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_case_household_id_household"), "household", ["household_id"], ["id"]
        )

    _seed_reasons()
    _households_of_existing_cases()


def _seed_reasons() -> None:
    """Each existing territory starts with the default refusal reasons."""
    reasons = sa.table(
        "refusal_reason",
        sa.column("territory_id", sa.Integer()),
        sa.column("code", sa.String()),
        sa.column("label", sa.String()),
        sa.column("needs_detail", sa.Boolean()),
        sa.column("active", sa.Boolean()),
        sa.column("position", sa.Integer()),
    )
    territories = [row[0] for row in op.get_bind().execute(sa.text("SELECT id FROM territory"))]
    rows = [
        {
            "territory_id": t,
            "code": code,
            "label": label,
            "needs_detail": detail,
            "active": True,
            "position": n,
        }
        for t in territories
        for n, (code, label, detail) in enumerate(DEFAULT_REASONS)
    ]
    if rows:
        op.bulk_insert(reasons, rows)


BATCH = 5000  # name keys computed and written per round trip


def _households_of_existing_cases() -> None:
    """Each existing case gets a household record of its own, under the case's own id (the
    table is new and empty), named as the case; no birth year or commune (old start forms
    did not ask). Two statements for the rows, then the name keys in batches (they fold the
    name in Python: ``engine.core.household.name_key``). Likely duplicates among old cases
    are not searched: they would flood the coordination's list at once."""
    bind = op.get_bind()
    bind.execute(sa.text(
        'INSERT INTO household (id, territory_id, name, name_key, birth_year, commune, '
        'commune_key, created_at) SELECT id, territory_id, household_name, \'\', NULL, \'\', '
        '\'\', created_at FROM "case" WHERE household_id IS NULL'))
    bind.execute(sa.text('UPDATE "case" SET household_id = id WHERE household_id IS NULL'))
    last = 0
    while True:
        rows = bind.execute(sa.text(
            "SELECT id, name FROM household WHERE id > :last ORDER BY id LIMIT :size"),
            {"last": last, "size": BATCH}).all()
        if not rows:
            break
        last = rows[-1][0]
        keys = [{"i": i, "k": name_key(name)} for i, name in rows]
        keys = [k for k in keys if k["k"]]
        if keys:
            bind.execute(sa.text("UPDATE household SET name_key = :k WHERE id = :i"), keys)
    if bind.dialect.name == "postgresql":  # ids were given: the sequence goes on after them
        bind.execute(sa.text(
            "SELECT setval(pg_get_serial_sequence('household', 'id'), "
            "COALESCE((SELECT MAX(id) FROM household), 0) + 1, false)"))


def downgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_case_household_id_household"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_case_household_id"))
        batch_op.drop_column("household_id")

    with op.batch_alter_table("orientation_event", schema=None) as batch_op:
        batch_op.drop_index("ix_orientation_event_orientation")

    op.drop_table("orientation_event")
    with op.batch_alter_table("answer_link", schema=None) as batch_op:
        batch_op.drop_index("ix_answer_link_orientation")

    op.drop_table("answer_link")
    with op.batch_alter_table("orientation", schema=None) as batch_op:
        batch_op.drop_index("ix_orientation_territory")
        batch_op.drop_index("ix_orientation_service")
        batch_op.drop_index("ix_orientation_organisation")
        batch_op.drop_index("ix_orientation_case")

    op.drop_table("orientation")
    with op.batch_alter_table("household_match", schema=None) as batch_op:
        batch_op.drop_index("ix_household_match_other")
        batch_op.drop_index("ix_household_match_open")
        batch_op.drop_index("ix_household_match_household")

    op.drop_table("household_match")
    op.drop_table("refusal_reason")
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.drop_index("ix_household_name")
        batch_op.drop_index("ix_household_match")

    op.drop_table("household")
