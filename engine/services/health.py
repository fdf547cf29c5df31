"""Is the database reachable? (for /healthz and monitoring)"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from engine.errors import Unavailable


def database_reachable(session: Session) -> bool:
    """True if a trivial query answers."""
    try:
        session.execute(text("SELECT 1"))
    except (SQLAlchemyError, Unavailable):
        session.rollback()
        return False
    return True
