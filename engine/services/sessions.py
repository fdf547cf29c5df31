"""Server-side sessions: opened at sign-in, revoked at sign-out, password change or reset,
deactivation and role removal, expired after their idle and absolute lifetimes."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.persistence.db import table
from engine.persistence.models import WebSession

_SESSIONS = table(WebSession)


def revoke_all(session: Session, clock: Clock, user_id: int, reason: str,
               keep_token_hash: str | None = None) -> int:
    """Revoke every live session of a user, in the caller's unit of work (but one kept).

    Returns how many were revoked.
    """
    query = (update(_SESSIONS)
             .where(_SESSIONS.c.user_id == user_id, _SESSIONS.c.revoked_at.is_(None))
             .values(revoked_at=clock.now(), revoked_reason=reason[:40]))
    if keep_token_hash is not None:
        query = query.where(_SESSIONS.c.token_hash != keep_token_hash)
    return session.connection().execute(query).rowcount or 0
