"""Durable by default (issue #17, item 6): SQLite syncs at every commit (``synchronous=FULL``)
unless ``AIGUILLAGE_SQLITE_SYNCHRONOUS=NORMAL``; a PostgreSQL server with
``synchronous_commit`` off is reported in the log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from engine.persistence.db import SQLITE_SYNCHRONOUS_ENV, make_engine
from webapp.cli import cli

FULL, NORMAL = 2, 1  # PRAGMA synchronous answers with the level's number


def _synchronous(url: str, **options: str) -> int:
    engine = make_engine(url, **options)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("PRAGMA synchronous")).scalar_one())
    finally:
        engine.dispose()


def test_sqlite_syncs_every_commit_by_default(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SQLITE_SYNCHRONOUS_ENV, raising=False)
    url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    assert _synchronous(url) == FULL
    monkeypatch.setenv(SQLITE_SYNCHRONOUS_ENV, "")
    assert _synchronous(url) == FULL


def test_sqlite_normal_when_the_setting_says_so(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    monkeypatch.setenv(SQLITE_SYNCHRONOUS_ENV, "normal")
    assert _synchronous(url) == NORMAL
    assert _synchronous(url, synchronous="FULL") == FULL  # the argument wins (bench)
    monkeypatch.setenv(SQLITE_SYNCHRONOUS_ENV, "FULL")
    assert _synchronous(url) == FULL


def test_a_wrong_setting_is_refused_clearly(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SQLITE_SYNCHRONOUS_ENV, "OFF")
    with pytest.raises(ValueError, match="FULL ou NORMAL attendu, pas « OFF »"):
        make_engine(f"sqlite:///{tmp_path / 'a.sqlite'}")
    monkeypatch.setenv("AIGUILLAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'b.sqlite'}")
    result = CliRunner().invoke(cli, ["territory", "list"])
    assert result.exit_code == 1
    assert "AIGUILLAGE_SQLITE_SYNCHRONOUS : FULL ou NORMAL attendu" in result.output


def test_postgresql_without_synchronous_commit_is_reported(
        db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only")
    caplog.set_level(logging.WARNING, logger="aiguillage.db")
    durable = make_engine(db_url)
    with durable.connect() as conn:
        assert conn.execute(text("SHOW synchronous_commit")).scalar_one() == "on"
    durable.dispose()
    assert not caplog.records
    lax = make_engine(db_url, connect_args={"options": "-c synchronous_commit=off"})
    for _ in range(2):  # reported once, at the first connection
        with lax.connect() as conn:
            conn.execute(text("SELECT 1"))
    lax.dispose()
    [record] = caplog.records
    assert "synchronous_commit = off" in record.getMessage()
