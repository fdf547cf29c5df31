"""Database plumbing: declarative base, UTC datetimes, engines for SQLite and PostgreSQL,
and ``transaction()``, the one place that commits.

SQLite (the embedded default) runs in WAL mode with foreign keys on, a busy timeout, and
``BEGIN IMMEDIATE`` for every write transaction, so a read-then-write never fails with "database
is locked" (RELIABILITY.md §5). PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import DateTime, Engine, MetaData, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.types import TypeDecorator

from engine.errors import ConcurrentUpdate, Unavailable

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
DEFAULT_URL_ENV = "AIGUILLAGE_DATABASE_URL"
SESSION_STATES = "aiguillage.states"  # session.info: case states read with their row
UNIT_OF_WORK = "aiguillage.unit_of_work"  # session.info: a transaction() is open
# SQLite's OperationalError also reports mistakes in a statement (no such column...): only
# these say that the file cannot be used now
SQLITE_UNAVAILABLE = ("unable to open database file", "database is locked", "disk i/o error",
                      "readonly database", "database or disk is full", "file is not a database",
                      "database disk image is malformed", "database table is locked")


class Base(DeclarativeBase):
    """Base of every model."""

    metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store UTC instants")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def default_url(instance: Path | None = None) -> str:
    """``AIGUILLAGE_DATABASE_URL``, else a SQLite file under ``instance/``."""
    url = os.environ.get(DEFAULT_URL_ENV)
    if url:
        return url
    folder = instance or Path("instance")
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'aiguillage.sqlite').resolve()}"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine configured for its database (SQLite pragmas and IMMEDIATE writes)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               **kwargs)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
    event.listen(engine, "handle_error", _unavailable)
    return engine


def _unavailable(context: ExceptionContext) -> None:
    """A database that cannot be reached or did not answer (refused connection, lost
    connection, server shutting down, locked or missing file) becomes ``Unavailable``: the
    transaction is rolled back, so nothing was saved. Other errors pass unchanged."""
    error = context.original_exception
    dbapi = context.dialect.loaded_dbapi if context.dialect else None
    if context.is_disconnect or (dbapi is not None and isinstance(error, dbapi.InterfaceError)):
        raise Unavailable(code="svc.unavailable") from context.sqlalchemy_exception
    if dbapi is None or not isinstance(error, dbapi.OperationalError):
        return
    if context.dialect.name == "sqlite" and not any(
            sign in str(error).lower() for sign in SQLITE_UNAVAILABLE):
        return
    raise Unavailable(code="svc.unavailable") from context.sqlalchemy_exception


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Write transactions take the write lock up front; reads stay deferred (WAL readers
    # never block). A deferred read that later writes could fail with "database is locked".
    write = connection.get_execution_options().get("aiguillage_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def table(model: type[Base]) -> Table:
    """A model's table, for plain statements (typed)."""
    return cast(Table, model.__table__)


def upsert(session: Session, table: Table) -> Any:
    """An ``INSERT`` for ``table`` that can take ``ON CONFLICT`` (both databases have it)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (views read them afterwards)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """One unit of work: the outermost call commits on success and rolls back on any error.

    A use case called inside another joins the caller's unit of work: its ``transaction()``
    neither commits nor rolls back, so use cases compose into one commit (creating a person
    with a first role is one transaction, never two). A stale version counter (another writer
    changed the same case) becomes ``ConcurrentUpdate``.
    """
    if session.info.get(UNIT_OF_WORK):
        yield session  # the caller's unit of work commits or rolls back, once
        return
    if session.in_transaction():
        session.commit()  # end a read snapshot left open by an earlier read
    session.info.pop(SESSION_STATES, None)  # what an earlier transaction read
    session.connection(execution_options={"aiguillage_write": True})
    session.info[UNIT_OF_WORK] = True
    try:
        yield session
        session.commit()
    except StaleDataError as exc:
        session.rollback()
        raise ConcurrentUpdate(code="svc.case_changed") from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop(UNIT_OF_WORK, None)


def in_unit_of_work(session: Session) -> bool:
    """True inside a ``transaction()`` (a use case called by another use case)."""
    return bool(session.info.get(UNIT_OF_WORK))
