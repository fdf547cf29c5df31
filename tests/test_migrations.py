"""Alembic: one head, upgrade from empty on SQLite and PostgreSQL, no drift from the models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from engine.persistence import models  # noqa: F401 - registers every table
from engine.persistence.db import Base, make_engine
from engine.persistence.migrate import alembic_config, upgrade
from tests.integration.conftest import create_pg_database

BACKENDS = ["sqlite"] + ([] if os.environ.get("AIGUILLAGE_SKIP_POSTGRES") else ["postgresql"])
# beside the suite's own database, so two suites (AIGUILLAGE_TEST_PG_DB) can run at once
MIGRATIONS_DB = os.environ.get("AIGUILLAGE_TEST_PG_DB", "aiguillage_test") + "_migrations"


def test_single_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1


def test_every_revision_has_a_message() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert all(rev.doc and rev.doc.strip() for rev in script.walk_revisions())


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_from_empty_matches_the_models(backend: str, tmp_path: Path) -> None:
    url = (create_pg_database(MIGRATIONS_DB) if backend == "postgresql"
           else f"sqlite:///{tmp_path / 'm.sqlite'}")
    engine = make_engine(url)
    upgrade(engine)
    with engine.connect() as conn:
        dialect = conn.dialect.name
        diff = compare_metadata(MigrationContext.configure(conn, opts={
            "compare_type": True, "include_object": lambda obj, *_: _for(obj, dialect)}),
            Base.metadata)
    engine.dispose()
    assert diff == []


def _for(obj: object, dialect: str) -> bool:
    """Is a model's object meant for this database (``ddl_if(dialect=…)``: the trigram
    indexes of the search exist on PostgreSQL only)?"""
    only = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
    return only is None or only == dialect


@pytest.mark.parametrize("backend", BACKENDS)
def test_downgrade_to_base_and_back(backend: str, tmp_path: Path) -> None:
    from alembic import command
    url = (create_pg_database(MIGRATIONS_DB) if backend == "postgresql"
           else f"sqlite:///{tmp_path / 'd.sqlite'}")
    engine = make_engine(url)
    upgrade(engine)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    upgrade(engine)
    engine.dispose()
