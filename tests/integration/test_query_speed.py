"""Settings of the database connections that keep the pages fast at volume (issue #17)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from engine.persistence.db import make_engine


def test_postgresql_connections_do_not_compile_queries(db_url: str) -> None:
    """A partner's case search at 100k cases spent 200 ms of its 500 ms in PostgreSQL's JIT
    compiler: the app's connections turn it off, with the options a caller gives kept."""
    if db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only")
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SHOW jit")).scalar_one() == "off"
    engine.dispose()
    given = make_engine(db_url, connect_args={"options": "-c statement_timeout=5000"})
    with given.connect() as conn:
        assert conn.execute(text("SHOW jit")).scalar_one() == "off"
        assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "5s"
    given.dispose()
