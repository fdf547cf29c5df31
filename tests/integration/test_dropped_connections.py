"""Connections PostgreSQL dropped (a restart: every backend terminated) — issue #17,
« Bad input ». The slow end-to-end run is tests/web/test_serve_database_restart.py; these
pin its two causes of failure, each in a fraction of a second:

- a pooled connection the server dropped fails its pre-ping, and the pool opens a new one:
  the next request works, it is not a 503 (nor a heartbeat the scheduler skips);
- a request's session closed at teardown on a connection dropped after its page was built
  (the rollback fails) gives the page, not a 500.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flask import Flask, g
from sqlalchemy import Engine, text

from engine.persistence.db import make_engine, session_factory
from tests.integration.conftest import PG_DB, create_pg_database
from webapp.db import close_session

pytestmark = pytest.mark.skipif(bool(os.environ.get("AIGUILLAGE_SKIP_POSTGRES")),
                                reason="PostgreSQL only (AIGUILLAGE_SKIP_POSTGRES is set)")


@pytest.fixture(scope="module")
def pg() -> Iterator[tuple[Engine, Engine, str]]:
    """An engine on a fresh database, an engine on ``postgres`` to drop its connections,
    and the database's name."""
    name = f"{PG_DB}_dropped"
    url = create_pg_database(name)
    engine = make_engine(url)
    admin = make_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    yield engine, admin, name
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def restart(admin: Engine, name: str) -> int:
    """What clients see when the server restarts: every connection to ``name`` dropped."""
    with admin.connect() as conn:
        return len(conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name}).all())


def test_a_pooled_connection_dropped_by_a_restart_is_replaced_at_checkout(
        pg: tuple[Engine, Engine, str]) -> None:
    engine, admin, name = pg
    with engine.connect() as conn:  # one connection, back in the pool
        before = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    assert restart(admin, name) >= 1
    with engine.connect() as conn:  # no Unavailable: the ping failed, a new one was opened
        after = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    assert after != before


def test_a_session_closed_on_a_dropped_connection_ends_the_request_quietly(
        pg: tuple[Engine, Engine, str]) -> None:
    engine, admin, name = pg
    app = Flask(__name__)
    with app.app_context():
        g.db_session = session_factory(engine)()
        g.db_session.execute(text("SELECT 1"))  # the page was built: a transaction is open
        assert restart(admin, name) >= 1
        close_session()  # its rollback fails: no error for the user
        assert "db_session" not in g
    assert engine.pool.checkedout() == 0  # the dropped connection was let go
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
