"""Services against real databases: every test here runs on SQLite and on PostgreSQL.

PostgreSQL: a database ``aiguillage_test`` (``AIGUILLAGE_TEST_PG_DB`` to run two suites at
once) is created fresh on the server named by ``AIGUILLAGE_TEST_POSTGRES`` (default: the
local trust-auth server) and migrated once; each test starts from empty tables. SQLite: a
migrated template file is copied for each test.
Set ``AIGUILLAGE_SKIP_POSTGRES=1`` to run on SQLite alone (CI never does).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from engine.persistence.db import Base, make_engine, session_factory
from engine.persistence.migrate import upgrade

PG_SERVER = os.environ.get("AIGUILLAGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
PG_DB = os.environ.get("AIGUILLAGE_TEST_PG_DB", "aiguillage_test")
BACKENDS = ["sqlite"] + ([] if os.environ.get("AIGUILLAGE_SKIP_POSTGRES") else ["postgresql"])


def create_pg_database(name: str) -> str:
    """Drop and create a PostgreSQL database; return its URL."""
    admin = make_engine(f"{PG_SERVER}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{PG_SERVER}/{name}"


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database URL (template for SQLite)."""
    if request.param == "postgresql":
        url = create_pg_database(PG_DB)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'template.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database for one test."""
    if backend.startswith("sqlite"):
        template = Path(backend.removeprefix("sqlite:///"))
        copy = tmp_path / "test.sqlite"
        shutil.copy(template, copy)
        yield f"sqlite:///{copy}"
        return
    engine = make_engine(backend)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield backend


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as s:
        yield s
