"""Sessions kept on the server (``web_session``): the cookie holds only a random id.

A visitor whose session stays empty gets no row and no cookie. Signing in, signing out or
changing who is signed in always starts a new id (a new row; the old one is revoked), so a
cookie copied earlier opens nothing afterwards. Flask-Login reads the user from the row's
``user_id``; idle and absolute lifetimes are decided on the server with the engine's clock.
Static files never touch the database. If the database cannot be read, the request carries
an empty session that is never saved, and the error is raised again inside the request so
that the error pages (which need a session) handle it.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from flask import Flask, Request, Response, flash, request, session
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSession, SessionInterface
from flask_babel import gettext
from sqlalchemy.exc import SQLAlchemyError

from engine.errors import Unavailable
from engine.services import sessions
from webapp.db import clock, engine

log = logging.getLogger("aiguillage.web")
USER_KEY = "_user_id"  # Flask-Login's key: filled from the row, never stored in its data
_SERIALIZER = TaggedJSONSerializer()  # what Flask's cookie sessions use: tuples, Markup...


class ServerSession(SecureCookieSession):
    """The session dict of one request, and where it is stored."""

    def __init__(self, initial: dict[str, Any] | None = None,
                 stored: sessions.StoredSession | None = None, had_cookie: bool = False) -> None:
        super().__init__(initial)
        self.stored = stored  # the live row this session was read from (None: not stored yet)
        self.saved = _dump(dict(self))  # what the row holds: write only when it changes
        self.had_cookie = had_cookie or stored is not None
        self.ended: str | None = None  # "idle" or "absolute": a signed-in session ran out
        self.readonly = False
        self.failure: Exception | None = None


class ServerSessionInterface(SessionInterface):
    """Flask's session, stored in ``web_session`` through ``engine.services.sessions``."""

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        """The request's session: the row named by the cookie if it is still live."""
        token = request.cookies.get(self.get_cookie_name(app), "")
        if request.path.startswith(f"{app.static_url_path}/"):
            return _readonly(ServerSession())
        if not token or len(token) > 100:
            return ServerSession()
        try:
            with engine().sessions() as db:
                found = sessions.find(db, clock(), sessions.digest(token), lifetimes(app))
        except (SQLAlchemyError, Unavailable) as exc:
            log.warning("session not readable: %s", exc)
            broken = _readonly(ServerSession())
            broken.failure = exc
            return broken
        if found is None:
            return ServerSession(had_cookie=True)
        data = _load(found.data)
        if found.live:
            if found.user_id is not None:
                data[USER_KEY] = str(found.user_id)
            return ServerSession(data, found)
        # Ended: a new session (new id), keeping only the language chosen.
        fresh = ServerSession(had_cookie=True)
        if "lang" in data:
            fresh["lang"] = data["lang"]
        if found.user_id is not None and found.state in ("idle", "absolute"):
            fresh.ended = found.state
        return fresh

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        """Write what changed (or the activity stamp, once a minute); set or drop the cookie."""
        if not isinstance(session, ServerSession) or session.readonly:
            return
        if session.accessed:
            response.vary.add("Cookie")
        try:
            with engine().sessions() as db:
                self._store(app, db, session, response)
        except Unavailable as exc:  # the database out of reach or busy: expected, no trace
            log.warning("session not saved: %s", exc.code)
        except SQLAlchemyError:
            log.exception("session not saved")

    def _store(self, app: Flask, db: Any, current: ServerSession, response: Response) -> None:
        data = {k: v for k, v in current.items() if k != USER_KEY}
        user_id = _user_id(current)
        stored = current.stored
        if stored is not None and stored.user_id != user_id:
            reason = "sign_out" if user_id is None else "sign_in"
            if not data and user_id is None:
                sessions.end(db, clock(), stored.token_hash, reason)
                self._drop_cookie(app, response)
                return
            self._open(app, db, data, user_id, response, stored.token_hash, reason)
        elif stored is None:
            if data or user_id is not None:
                self._open(app, db, data, user_id, response, None, "")
            elif current.had_cookie:
                self._drop_cookie(app, response)
        elif not data and user_id is None:
            sessions.end(db, clock(), stored.token_hash, "emptied")
            self._drop_cookie(app, response)
        else:
            dumped = _dump(data)
            if dumped != current.saved:
                sessions.save(db, clock(), stored.token_hash, _stored_form(data))
            elif sessions.needs_touch(stored.last_seen_at, clock()):
                sessions.save(db, clock(), stored.token_hash, None)

    def _open(self, app: Flask, db: Any, data: dict[str, Any], user_id: int | None,
              response: Response, replaces: str | None, reason: str) -> None:
        token = secrets.token_urlsafe(32)
        sessions.open_session(db, clock(), sessions.digest(token), user_id, _stored_form(data),
                              lifetimes(app), ip=request.remote_addr,
                              user_agent=request.user_agent.string, replaces=replaces,
                              reason=reason)
        response.set_cookie(
            self.get_cookie_name(app), token, domain=self.get_cookie_domain(app),
            path=self.get_cookie_path(app), secure=self.get_cookie_secure(app),
            httponly=self.get_cookie_httponly(app), samesite=self.get_cookie_samesite(app))

    def _drop_cookie(self, app: Flask, response: Response) -> None:
        response.delete_cookie(
            self.get_cookie_name(app), domain=self.get_cookie_domain(app),
            path=self.get_cookie_path(app), secure=self.get_cookie_secure(app),
            httponly=self.get_cookie_httponly(app), samesite=self.get_cookie_samesite(app))


def lifetimes(app: Flask) -> sessions.Lifetimes:
    """The idle and absolute lifetimes configured (IDLE_TIMEOUT, PERMANENT_SESSION_LIFETIME)."""
    return sessions.Lifetimes(idle=app.config["IDLE_TIMEOUT"],
                              absolute=app.config["PERMANENT_SESSION_LIFETIME"])


def current_token_hash() -> str | None:
    """The stored id of the request's session (kept when the other sessions are revoked)."""
    stored = getattr(session, "stored", None)
    return stored.token_hash if stored is not None else None


def _readonly(current: ServerSession) -> ServerSession:
    current.readonly = True
    return current


def _user_id(current: ServerSession) -> int | None:
    raw = current.get(USER_KEY)
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def _dump(data: dict[str, Any]) -> str:
    return _SERIALIZER.dumps({k: v for k, v in data.items() if k != USER_KEY})


def _stored_form(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as plain JSON (tagged as Flask's cookie sessions tag it)."""
    stored: dict[str, Any] = json.loads(_SERIALIZER.dumps(data))
    return stored


def _load(stored: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = _SERIALIZER.loads(json.dumps(stored))
    return data


def _after_open() -> None:
    """Inside the request: re-raise a database failure met while opening the session, and
    say why a signed-in session ended."""
    if not isinstance(session, ServerSession):
        return
    if session.failure is not None:
        raise session.failure
    if session.ended == "idle":
        flash(gettext("Votre session a expiré après une période d'inactivité. "
                      "Reconnectez-vous."), "info")
    elif session.ended == "absolute":
        flash(gettext("Votre session a atteint sa durée maximale. Reconnectez-vous."), "info")
    session.ended = None


def init_app(app: Flask) -> None:
    """Store sessions on the server."""
    app.session_interface = ServerSessionInterface()
    app.before_request(_after_open)  # before the hooks registered after it
