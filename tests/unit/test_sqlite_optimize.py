"""SQLite gathers the statistics its planner needs (issue #17 item 5): ``PRAGMA optimize``
runs when a connection opens (``0x10002``: every table, on SQLite 3.46 and later) and when
it closes (the tables this connection's queries lacked statistics for), as SQLite's
documentation recommends for long-lived connections."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from engine.persistence.db import make_engine


def test_optimize_is_issued_at_open_and_at_close(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'o.db'}")
    issued: list[str] = []
    with engine.connect() as conn:
        conn.connection.dbapi_connection.set_trace_callback(issued.append)  # type: ignore[union-attr]
    engine.dispose()  # closes the pooled connection
    assert "PRAGMA optimize" in issued
    opened = make_engine(f"sqlite:///{tmp_path / 'o.db'}")
    with opened.connect() as conn:
        limit = conn.exec_driver_sql("PRAGMA analysis_limit").scalar()
    opened.dispose()
    assert limit == 400  # set by the connect hook, just before its PRAGMA optimize=0x10002


def test_the_statistics_are_there_after_a_connection_closes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER)"))
        conn.execute(text("CREATE INDEX t_k ON t (k)"))
        conn.execute(text("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                          "SELECT i + 1 FROM n WHERE i < 500) "
                          "INSERT INTO t (k) SELECT i % 7 FROM n"))
    with engine.connect() as conn:
        conn.execute(text("SELECT id FROM t WHERE k = 3")).all()
    engine.dispose()
    check = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    with check.connect() as conn:
        stats = conn.execute(text("SELECT tbl FROM sqlite_stat1")).scalars().all()
    check.dispose()
    assert "t" in stats
