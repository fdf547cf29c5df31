"""Server-side sessions: opened at sign-in, revoked at sign-out, password change or reset,
deactivation and role removal, expired after their idle and absolute lifetimes.

The browser's cookie holds only a random id; a row holds its SHA-256 (``token_hash``), the
signed-in user and the session's data. ``expires_at`` is the absolute end (creation plus the
absolute lifetime); the idle end is ``last_seen_at`` plus the idle lifetime, and
``last_seen_at`` is written at most once a minute (``TOUCH_EVERY``), so a busy user costs one
write a minute, not one per request. Dead rows (idle past their end: revoked and expired rows
stop being touched) are deleted a few at a time whenever a row is opened.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.persistence.db import table, transaction
from engine.persistence.models import WebSession

_SESSIONS = table(WebSession)
TOUCH_EVERY = timedelta(minutes=1)
PURGE_BATCH = 50  # dead rows deleted per opened row: the table stays near its live size


@dataclass(frozen=True)
class Lifetimes:
    """How long a session lives: without a request (idle), and at most (absolute)."""

    idle: timedelta
    absolute: timedelta


@dataclass(frozen=True)
class StoredSession:
    """A session row as the web layer needs it; ``state`` says whether it is still usable."""

    token_hash: str
    user_id: int | None
    data: dict[str, Any] = field(default_factory=dict)
    last_seen_at: datetime | None = None
    state: str = "live"  # live, revoked, idle (ran out unused), absolute (reached its end)

    @property
    def live(self) -> bool:
        """True if the session may still be used."""
        return self.state == "live"


def digest(token: str) -> str:
    """The SHA-256 (hex) kept for a cookie's random id: a copy of the table opens nothing."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


# Built once: it runs at every request that carries a cookie.
_FIND = (select(_SESSIONS.c.user_id, _SESSIONS.c.data, _SESSIONS.c.last_seen_at,
                _SESSIONS.c.expires_at, _SESSIONS.c.revoked_at)
         .where(_SESSIONS.c.token_hash == bindparam("token_hash")))


def find(session: Session, clock: Clock, token_hash: str,
         lifetimes: Lifetimes) -> StoredSession | None:
    """The session stored under ``token_hash`` and its state, or None if there is none."""
    row = session.connection().execute(_FIND, {"token_hash": token_hash}).first()
    if row is None:
        return None
    now = clock.now()
    if row.revoked_at is not None:
        state = "revoked"
    elif now >= row.expires_at:
        state = "absolute"
    elif now >= row.last_seen_at + lifetimes.idle:
        state = "idle"
    else:
        state = "live"
    return StoredSession(token_hash, row.user_id, dict(row.data or {}), row.last_seen_at, state)


def open_session(session: Session, clock: Clock, token_hash: str, user_id: int | None,
                 data: dict[str, Any], lifetimes: Lifetimes, *, ip: str | None = None,
                 user_agent: str | None = None, replaces: str | None = None,
                 reason: str = "rotated") -> None:
    """Store a new session (a new id at sign-in and sign-out); end the one it replaces.

    A replaced session is revoked with ``reason`` (a signed-in one) or deleted (a visitor's).
    """
    now = clock.now()
    with transaction(session):
        if replaces is not None:
            end(session, clock, replaces, reason)
        purge(session, clock, lifetimes.idle)
        session.connection().execute(insert(_SESSIONS).values(
            token_hash=token_hash, user_id=user_id, data=data, created_at=now,
            last_seen_at=now, expires_at=now + lifetimes.absolute,
            ip=(ip or None) and ip[:45], user_agent=(user_agent or None) and user_agent[:200]))


def save(session: Session, clock: Clock, token_hash: str,
         data: dict[str, Any] | None) -> None:
    """Record activity on a live session, and its new data when given (never revives one)."""
    values: dict[str, Any] = {"last_seen_at": clock.now()}
    if data is not None:
        values["data"] = data
    with transaction(session):
        session.connection().execute(
            update(_SESSIONS).where(_SESSIONS.c.token_hash == token_hash,
                                    _SESSIONS.c.revoked_at.is_(None)).values(**values))


def needs_touch(stored_last_seen: datetime | None, clock: Clock) -> bool:
    """True if ``last_seen_at`` is old enough to be written again (at most once a minute)."""
    return stored_last_seen is None or clock.now() - stored_last_seen >= TOUCH_EVERY


def end(session: Session, clock: Clock, token_hash: str, reason: str) -> None:
    """End one session: a signed-in one is revoked (kept until purged), a visitor's deleted."""
    with transaction(session):
        connection = session.connection()
        connection.execute(delete(_SESSIONS).where(_SESSIONS.c.token_hash == token_hash,
                                                   _SESSIONS.c.user_id.is_(None)))
        connection.execute(update(_SESSIONS).where(
            _SESSIONS.c.token_hash == token_hash, _SESSIONS.c.revoked_at.is_(None))
            .values(revoked_at=clock.now(), revoked_reason=reason[:40]))


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


def sign_out_everywhere(session: Session, clock: Clock, user_id: int) -> int:
    """« Se déconnecter de tous les appareils »: revoke every session of the user, this one
    included. Returns how many were revoked."""
    with transaction(session):
        return revoke_all(session, clock, user_id, "sign_out_everywhere")


def purge(session: Session, clock: Clock, idle: timedelta, limit: int = PURGE_BATCH) -> int:
    """Delete up to ``limit`` dead sessions (unused for longer than ``idle``: revoked and
    expired rows are never touched again, so they all end up here). Returns how many."""
    dead = (select(_SESSIONS.c.id).where(_SESSIONS.c.last_seen_at < clock.now() - idle)
            .order_by(_SESSIONS.c.last_seen_at).limit(limit).scalar_subquery())
    with transaction(session):
        return session.connection().execute(
            delete(_SESSIONS).where(_SESSIONS.c.id.in_(dead))).rowcount or 0
