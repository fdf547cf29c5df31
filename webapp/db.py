"""One SQLAlchemy session per request, created lazily in ``g`` and closed at teardown."""

from __future__ import annotations

import logging

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from engine.bootstrap import Engine
from engine.clock import Clock
from engine.errors import Unavailable
from engine.services import audit

log = logging.getLogger("aiguillage.web")


def engine() -> Engine:
    """The process's engine (database, sessions, clock)."""
    built: Engine = current_app.extensions["aiguillage"]
    return built


def get_session() -> Session:
    """The request's session (a page built by several services records one read of a
    case, ``audit.one_read_per_request``)."""
    if "db_session" not in g:
        g.db_session = engine().sessions()
        audit.one_read_per_request(g.db_session)
    session: Session = g.db_session
    return session


def clock() -> Clock:
    """The clock services receive."""
    return engine().clock


def close_session(_exc: BaseException | None = None) -> None:
    """Teardown: close the request's session if one was opened.

    Closing rolls back what the request left open; on a connection the server dropped
    meanwhile (PostgreSQL restarted after the page was built) that rollback fails. The page
    is already made and nothing of it was left to save: the connection is discarded (the
    pool already let it go) and the user gets the page, not a 500."""
    session = g.pop("db_session", None)
    if session is None:
        return
    try:
        session.close()
    except Unavailable as exc:
        log.warning("session closed on a lost connection: %s", exc.__cause__ or exc)


def init_app(app: Flask) -> None:
    """Register the teardown."""
    app.teardown_appcontext(close_session)
