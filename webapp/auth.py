"""Flask-Login adapter: the signed-in user as an engine ``Actor``; idle and absolute timeouts."""

from __future__ import annotations

import time

from flask import Flask, current_app, flash, session
from flask_babel import gettext, lazy_gettext
from flask_login import AnonymousUserMixin, current_user, logout_user

from engine.errors import NotFound
from engine.services.access import Actor, load_actor
from webapp.db import get_session
from webapp.extensions import login_manager
from webapp.i18n import clear_session


class LoginUser:
    """What Flask-Login needs, around the engine's ``Actor``."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, actor: Actor) -> None:
        self.actor = actor

    def get_id(self) -> str:
        """The id stored in the session."""
        return str(self.actor.user_id)

    @property
    def name(self) -> str:
        """Display name."""
        return self.actor.name

    @property
    def administers(self) -> bool:
        """True if the user administers at least one territory (shows « Supervision »)."""
        return any(self.actor.is_admin(t) for t in self.actor.territories())


class Anonymous(AnonymousUserMixin):  # type: ignore[misc]
    """Nobody signed in."""

    actor = None


def actor() -> Actor:
    """The signed-in actor (views behind ``login_required`` only)."""
    user = current_user._get_current_object()
    assert isinstance(user, LoginUser)
    return user.actor


def _load(user_id: str) -> LoginUser | None:
    try:
        return LoginUser(load_actor(get_session(), int(user_id)))
    except (NotFound, ValueError):
        return None


def _enforce_timeouts() -> None:
    """Sign out after the idle timeout; refresh the activity stamp otherwise."""
    if not current_user.is_authenticated:
        return
    now = time.time()
    last = session.get("seen", now)
    if now - last > current_app.config["IDLE_TIMEOUT"].total_seconds():
        logout_user()
        clear_session()
        flash(gettext("Votre session a expiré après une période d'inactivité. "
                      "Reconnectez-vous."), "info")
        return
    session["seen"] = now


def init_app(app: Flask) -> None:
    """Configure Flask-Login."""
    login_manager.user_loader(_load)
    login_manager.anonymous_user = Anonymous
    login_manager.login_view = "auth.login"
    login_manager.login_message = lazy_gettext("Connectez-vous pour accéder à cette page.")
    login_manager.localize_callback = str  # the lazy message, in the request's language
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    app.before_request(_enforce_timeouts)
