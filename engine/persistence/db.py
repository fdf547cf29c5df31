"""Database plumbing: declarative base, UTC datetimes, engines for SQLite and PostgreSQL,
and ``transaction()``, the one place that commits.

SQLite (the embedded default) runs in WAL mode with foreign keys on, a busy timeout, and
``BEGIN IMMEDIATE`` for every write transaction, so a read-then-write never fails with "database
is locked" (RELIABILITY.md §5). It syncs the log at every commit (``synchronous=FULL``): a step
the user saw confirmed survives a power cut (``AIGUILLAGE_SQLITE_SYNCHRONOUS=NORMAL`` trades
that for speed, see docs/performance.md « Durabilité »). PostgreSQL goes through psycopg 3; a
server with ``synchronous_commit`` off is reported in the log at the first connection.

Each process keeps a pool of connections (``AIGUILLAGE_DB_POOL_SIZE`` kept,
``AIGUILLAGE_DB_MAX_OVERFLOW`` more when busy). A request that finds every one lent out waits
at most ``AIGUILLAGE_DB_POOL_TIMEOUT`` seconds, then fails as ``Unavailable`` (a 503 saying
to retry, nothing saved), never a hang nor a 500.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import DateTime, Engine, MetaData, Table, create_engine, event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, QueuePool
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import queue as sa_queue

from engine.errors import ConcurrentUpdate, Unavailable

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
DEFAULT_URL_ENV = "AIGUILLAGE_DATABASE_URL"
SQLITE_SYNCHRONOUS_ENV = "AIGUILLAGE_SQLITE_SYNCHRONOUS"
SQLITE_SYNCHRONOUS = ("FULL", "NORMAL")  # FULL, the default, first
# the connection pool: environment variable, create_engine() argument, default
POOL_SETTINGS = (("AIGUILLAGE_DB_POOL_SIZE", "pool_size", 5),
                 ("AIGUILLAGE_DB_MAX_OVERFLOW", "max_overflow", 10),
                 ("AIGUILLAGE_DB_POOL_TIMEOUT", "pool_timeout", 5))
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


def sqlite_synchronous(raw: str | None = None) -> str:
    """The ``synchronous`` mode for SQLite: ``raw`` or ``AIGUILLAGE_SQLITE_SYNCHRONOUS``,
    else FULL.

    :raises ValueError: a value other than FULL or NORMAL (any case).
    """
    value = (raw if raw is not None else os.environ.get(SQLITE_SYNCHRONOUS_ENV, "")).strip()
    if not value:
        return SQLITE_SYNCHRONOUS[0]
    if value.upper() not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"{SQLITE_SYNCHRONOUS_ENV} : FULL ou NORMAL attendu, pas « {value} »")
    return value.upper()


def pool_settings(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """``pool_size``, ``max_overflow`` and ``pool_timeout`` (seconds) from ``environ``
    (default: the process's environment), else their defaults (5, 10, 5).

    :raises ValueError: a value that is not a whole number, or a size below 1, an overflow
        below 0, a timeout below 1.
    """
    source = os.environ if environ is None else environ
    found: dict[str, int] = {}
    for name, argument, default in POOL_SETTINGS:
        raw = source.get(name, "").strip()
        try:
            value = int(raw) if raw else default
        except ValueError:
            raise ValueError(f"{name} : un nombre entier est attendu, pas « {raw} »") from None
        lowest = 0 if argument == "max_overflow" else 1
        if value < lowest:
            raise ValueError(f"{name} : {lowest} au moins, pas {value}")
        found[argument] = value
    return found


class BoundedQueuePool(QueuePool):
    """A ``QueuePool`` whose wait for a free connection ends in ``Unavailable``: every
    connection lent out for ``pool_timeout`` seconds (too many requests at once, or held
    too long) is a 503 asking to retry, like a database out of reach. SQLAlchemy's
    ``TimeoutError`` is raised at checkout, where ``handle_error`` never sees it."""

    def connect(self) -> PoolProxiedConnection:
        try:
            return super().connect()
        except sa_exc.TimeoutError as exc:
            raise Unavailable(code="svc.busy") from exc

    def _do_get(self) -> ConnectionPoolEntry:
        """Inside ``impatient()``, a pool with every connection lent out and no overflow
        left answers at once instead of waiting ``pool_timeout``."""
        full = self._max_overflow > -1 and self._overflow >= self._max_overflow
        if full and _IMPATIENT.get():
            try:
                return self._pool.get(False)
            except sa_queue.Empty:
                raise sa_exc.TimeoutError("every pooled connection is lent out") from None
        return super()._do_get()


_IMPATIENT: ContextVar[bool] = ContextVar("aiguillage_impatient_checkout", default=False)


@contextmanager
def impatient() -> Iterator[None]:
    """Within the block, a connection taken from a full pool fails at once as
    ``Unavailable("svc.busy")`` rather than after ``pool_timeout`` seconds: for a readiness
    probe, which must say « busy » before the load balancer's own timeout, not 5 s later."""
    token = _IMPATIENT.set(True)
    try:
        yield
    finally:
        _IMPATIENT.reset(token)


def make_engine(url: str, *, synchronous: str | None = None, **kwargs: Any) -> Engine:
    """An engine configured for its database (SQLite pragmas and IMMEDIATE writes;
    ``synchronous`` overrides ``AIGUILLAGE_SQLITE_SYNCHRONOUS``; ``pool_size``,
    ``max_overflow``, ``pool_timeout`` override ``pool_settings()``).

    :raises ValueError: a SQLite ``synchronous`` mode other than FULL or NORMAL, a pool
        setting out of range.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    _bounded_pool(url, kwargs)
    # a database error's message never carries the statement's values (names, answers):
    # it is logged (a failed timer, a 500) and logs hold no personal data
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        mode = sqlite_synchronous(synchronous)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               **kwargs)

        def connect(dbapi_connection: Any, _record: Any) -> None:
            _sqlite_connect(dbapi_connection, mode)

        event.listen(engine, "connect", connect)
        event.listen(engine, "close", _sqlite_close)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        if url.startswith("postgresql"):
            # no JIT: it compiled for 200 ms a partner's case search that then ran in 300 ms
            # (its estimated cost passes jit_above_cost at 100k cases); the app runs short
            # queries, where compiling never pays
            connect_args = dict(kwargs.pop("connect_args", {}))
            connect_args["options"] = f"{connect_args.get('options', '')} -c jit=off".strip()
            kwargs["connect_args"] = connect_args
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
        if engine.dialect.name == "postgresql":
            event.listen(engine, "first_connect", _check_synchronous_commit)
    event.listen(engine, "handle_error", _unavailable)
    return engine


def _bounded_pool(url: str, kwargs: dict[str, Any]) -> None:
    """Where SQLAlchemy would pool with a ``QueuePool`` (PostgreSQL, a SQLite file), use
    ``BoundedQueuePool`` sized by ``pool_settings()`` (arguments given win). Others (an
    in-memory SQLite database, a pool class chosen by the caller) are left as they are."""
    if "poolclass" in kwargs or "pool" in kwargs:
        return
    parsed = make_url(url)
    dialect = parsed.get_dialect()
    if not issubclass(dialect, DefaultDialect) or dialect.get_pool_class(parsed) is not QueuePool:
        return
    kwargs["poolclass"] = BoundedQueuePool
    for argument, value in pool_settings().items():
        kwargs.setdefault(argument, value)


def _check_synchronous_commit(dbapi_connection: Any, _record: Any) -> None:
    """Warn (once per process) when the server acknowledges commits before they are on disk:
    a step the user saw confirmed could then be lost in a crash of the server."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SHOW synchronous_commit")
        row = cursor.fetchone()
    finally:
        cursor.close()
    dbapi_connection.rollback()  # end the transaction SHOW opened
    setting = str(row[0]) if row else "?"
    if setting.lower() == "off":
        logging.getLogger("aiguillage.db").warning(
            "PostgreSQL : synchronous_commit = off ; les dernières validations peuvent être "
            "perdues si le serveur s'arrête brutalement (mettez-le à on)")


def _unavailable(context: ExceptionContext) -> None:
    """A database that cannot be reached or did not answer (refused connection, lost
    connection, server shutting down, locked or missing file) becomes ``Unavailable``: the
    transaction is rolled back, so nothing was saved. Other errors pass unchanged.

    Not in the pool's pre-ping: a pooled connection the server dropped (it restarted) fails
    its ping, and SQLAlchemy then opens a new one, which only its own errors can stop."""
    if context.is_pre_ping:
        return
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


def _sqlite_connect(dbapi_connection: Any, mode: str) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={mode}")  # one of SQLITE_SYNCHRONOUS, checked
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # SQLite keeps no statistics of its own: ANALYZE what needs it, as its documentation
    # recommends for long-lived connections (at open, then at close, ``_sqlite_close``),
    # each ANALYZE bounded to a sample (a few ms, whatever the table's size)
    cursor.execute("PRAGMA analysis_limit=400")
    cursor.execute("PRAGMA optimize=0x10002")
    cursor.close()


def _sqlite_close(dbapi_connection: Any, _record: Any) -> None:
    """Before a pooled connection closes: statistics for the tables its queries lacked."""
    try:
        dbapi_connection.execute("PRAGMA optimize")
    except Exception:  # noqa: BLE001 - a database busy or gone: the next close tries again
        logging.getLogger("aiguillage.db").debug("PRAGMA optimize skipped at close",
                                                 exc_info=True)


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
