"""The connection pool's size, overflow and timeout (AIGUILLAGE_DB_POOL_*), and a checkout
that times out becoming ``Unavailable`` rather than SQLAlchemy's ``TimeoutError``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.pool import SingletonThreadPool

from engine.errors import Unavailable
from engine.persistence.db import BoundedQueuePool, make_engine, pool_settings


def test_defaults_wait_five_seconds_not_thirty() -> None:
    assert pool_settings({}) == {"pool_size": 5, "max_overflow": 10, "pool_timeout": 5}


def test_the_environment_sets_each_value() -> None:
    found = pool_settings({"AIGUILLAGE_DB_POOL_SIZE": "2", "AIGUILLAGE_DB_MAX_OVERFLOW": "0",
                           "AIGUILLAGE_DB_POOL_TIMEOUT": " 3 "})
    assert found == {"pool_size": 2, "max_overflow": 0, "pool_timeout": 3}


@pytest.mark.parametrize(("name", "raw", "said"), [
    ("AIGUILLAGE_DB_POOL_TIMEOUT", "cinq", "un nombre entier est attendu"),
    ("AIGUILLAGE_DB_POOL_TIMEOUT", "0", "1 au moins"),
    ("AIGUILLAGE_DB_POOL_SIZE", "0", "1 au moins"),
    ("AIGUILLAGE_DB_MAX_OVERFLOW", "-1", "0 au moins"),
])
def test_a_bad_value_is_refused_by_name(name: str, raw: str, said: str) -> None:
    with pytest.raises(ValueError, match=said) as refused:
        pool_settings({name: raw})
    assert name in str(refused.value)


def test_a_sqlite_file_gets_the_bounded_pool_sized_by_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIGUILLAGE_DB_POOL_SIZE", "1")
    monkeypatch.setenv("AIGUILLAGE_DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("AIGUILLAGE_DB_POOL_TIMEOUT", "1")
    database = make_engine(f"sqlite:///{tmp_path / 'pool.sqlite'}")
    try:
        pool = database.pool
        assert isinstance(pool, BoundedQueuePool)
        assert (pool.size(), pool.timeout()) == (1, 1)  # no overflow: the 2nd waits
        held = database.connect()
        with pytest.raises(Unavailable) as busy:
            database.connect()
        assert busy.value.code == "svc.busy"
        held.close()
        database.connect().close()  # given back: the next checkout succeeds
    finally:
        database.dispose()


def test_an_in_memory_database_keeps_its_own_pool() -> None:
    database = make_engine("sqlite://")
    assert isinstance(database.pool, SingletonThreadPool)
    database.dispose()
