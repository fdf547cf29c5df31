"""Composition root: one ``Engine`` per process (web app, scheduler, CLI)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine as SqlEngine
from sqlalchemy.orm import Session, sessionmaker

from engine import metrics
from engine.clock import Clock, SystemClock
from engine.logs import REQUEST_ID as REQUEST_ID  # entry points read them here
from engine.logs import configure_logging as configure_logging
from engine.persistence.db import default_url as default_url  # entry points read it here
from engine.persistence.db import make_engine, session_factory


@dataclass
class Engine:
    """What every entry point needs: a database, sessions, and the clock."""

    url: str
    database: SqlEngine = field(repr=False)
    sessions: sessionmaker[Session] = field(repr=False)
    clock: Clock = field(default_factory=SystemClock)


def build(url: str | None = None, clock: Clock | None = None) -> Engine:
    """Build the engine for ``url`` (default: ``AIGUILLAGE_DATABASE_URL`` or instance/)."""
    logging.getLogger("spiff").setLevel(logging.WARNING)  # it logs task data (PII) at INFO
    url = url or default_url()
    database = make_engine(url)
    metrics.watch_pool(database)  # connections in use, for /metrics
    return Engine(url=url, database=database, sessions=session_factory(database),
                  clock=clock or SystemClock())
