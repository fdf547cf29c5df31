"""Is the service up and ready? (``/healthz``, ``/readyz``, the schedulers' heartbeats)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import Unavailable
from engine.persistence.db import impatient, table, transaction, upsert
from engine.persistence.migrate import alembic_config
from engine.persistence.models import SchedulerHeartbeat

FORGET_AFTER = timedelta(days=1)  # a scheduler silent that long is gone (its row deleted)


def database_reachable(session: Session) -> bool:
    """True if a trivial query answers."""
    try:
        session.execute(text("SELECT 1"))
    except (SQLAlchemyError, Unavailable):
        session.rollback()
        return False
    return True


@dataclass(frozen=True)
class Readiness:
    """Each check's outcome: ``ok`` or a short word saying what is wrong (no internals)."""

    database: str
    migrations: str
    scheduler: str

    @property
    def ready(self) -> bool:
        """Every check passed."""
        return self.database == self.migrations == self.scheduler == "ok"

    def as_dict(self) -> dict[str, str]:
        """The checks by name, and ``status``: ``ok`` or ``error``."""
        return {"status": "ok" if self.ready else "error", "database": self.database,
                "migrations": self.migrations, "scheduler": self.scheduler}


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest migration this code knows (read once per process)."""
    # Alembic's script reader is only needed here, not on every import of the services
    from alembic.script import ScriptDirectory
    head: str | None = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return head


def readiness(session: Session, clock: Clock, scheduler_max_age: timedelta | None) -> Readiness:
    """The database answers, its schema is at this code's head, and a scheduler swept the
    timers within ``scheduler_max_age`` (None: not checked). Three reads, no write. The
    database is ``busy`` when every pooled connection is lent out: said at once, without
    waiting the pool's timeout (``impatient``), so a load balancer hears it in time."""
    try:
        with impatient():
            revision = session.scalar(text("SELECT version_num FROM alembic_version"))
            last = session.scalar(select(func.max(SchedulerHeartbeat.beat_at)))
    except Unavailable as exc:  # out of reach or every connection busy: asking again waits
        session.rollback()      # as long again, for the same answer
        return Readiness("busy" if exc.code == "svc.busy" else "unreachable", "unknown",
                         "unknown")
    except SQLAlchemyError:
        session.rollback()
        reachable = database_reachable(session)
        return Readiness("ok" if reachable else "unreachable",
                         "behind" if reachable else "unknown", "unknown")
    migrations = "ok" if revision == head_revision() else "behind"
    if scheduler_max_age is None:
        scheduler = "ok"
    elif last is None:
        scheduler = "never"
    else:
        scheduler = "ok" if clock.now() - last <= scheduler_max_age else "late"
    return Readiness("ok", migrations, scheduler)


def beat(session: Session, clock: Clock, worker: str, started_at: datetime,
         forget: bool = False) -> None:
    """Record that scheduler ``worker`` (running since ``started_at``) is sweeping now;
    ``forget``: also delete the rows of schedulers silent for ``FORGET_AFTER``."""
    now = clock.now()
    heartbeat = table(SchedulerHeartbeat)
    with transaction(session):
        statement = upsert(session, heartbeat).values(worker=worker, started_at=started_at,
                                                      beat_at=now)
        session.execute(statement.on_conflict_do_update(index_elements=["worker"],
                                                        set_={"beat_at": now}))
        if forget:
            session.execute(delete(SchedulerHeartbeat).where(
                SchedulerHeartbeat.beat_at < now - FORGET_AFTER))


def last_beat(session: Session) -> datetime | None:
    """When a scheduler last swept the timers (None: never)."""
    found: datetime | None = session.scalar(select(func.max(SchedulerHeartbeat.beat_at)))
    return found
