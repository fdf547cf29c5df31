"""the directory of services: entries per territory and organisation, and their places' history

``directory_service`` replaces the unused ``resource`` table: one row per service an
organisation runs (a support measure or a specialised partner's service) with the communes
it serves, its public, capacity and places, contact and hours; folded search columns let the
list filter in SQL. ``directory_place_change`` keeps every change of the places available.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 18:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.persistence.db import UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resource") as batch:
        batch.drop_index("ix_resource_territory_id")
    op.drop_table("resource")
    op.create_table(
        "directory_service",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("measure", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("domains", sa.JSON(), nullable=False),
        sa.Column("communes", sa.JSON(), nullable=False),
        sa.Column("public", sa.String(length=500), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("places_available", sa.Integer(), nullable=True),
        sa.Column("waiting_list", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("hours_walk_in", sa.String(length=500), nullable=False),
        sa.Column("hours_appointment", sa.String(length=500), nullable=False),
        sa.Column("languages", sa.String(length=300), nullable=False),
        sa.Column("charter_signed", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("domain_tags", sa.String(length=400), nullable=False),
        sa.Column("commune_tags", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name="fk_directory_service_organisation_id_organisation"),
        sa.ForeignKeyConstraint(["territory_id"], ["territory.id"],
                                name="fk_directory_service_territory_id_territory"),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user.id"],
                                name="fk_directory_service_updated_by_id_user"),
        sa.PrimaryKeyConstraint("id", name="pk_directory_service"),
    )
    op.create_index("ix_directory_service_list", "directory_service",
                    ["territory_id", "active", "name", "id"])
    op.create_index("ix_directory_service_measure", "directory_service",
                    ["territory_id", "measure", "active", "name"])
    op.create_index("ix_directory_service_organisation", "directory_service",
                    ["organisation_id", "active"])
    op.create_table(
        "directory_place_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.Integer(), nullable=True),
        sa.Column("after", sa.Integer(), nullable=True),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["directory_service.id"],
                                name="fk_directory_place_change_service_id_directory_service"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"],
                                name="fk_directory_place_change_user_id_user"),
        sa.PrimaryKeyConstraint("id", name="pk_directory_place_change"),
    )
    op.create_index("ix_directory_place_change_service", "directory_place_change",
                    ["service_id", "at", "id"])


def downgrade() -> None:
    op.drop_index("ix_directory_place_change_service", table_name="directory_place_change")
    op.drop_table("directory_place_change")
    op.drop_index("ix_directory_service_organisation", table_name="directory_service")
    op.drop_index("ix_directory_service_measure", table_name="directory_service")
    op.drop_index("ix_directory_service_list", table_name="directory_service")
    op.drop_table("directory_service")
    op.create_table(
        "resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("partner_type", sa.String(length=40), nullable=False),
        sa.Column("domains", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name="fk_resource_organisation_id_organisation"),
        sa.ForeignKeyConstraint(["territory_id"], ["territory.id"],
                                name="fk_resource_territory_id_territory"),
        sa.PrimaryKeyConstraint("id", name="pk_resource"),
    )
    with op.batch_alter_table("resource") as batch:
        batch.create_index("ix_resource_territory_id", ["territory_id"], unique=False)
