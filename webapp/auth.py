"""Flask-Login adapter: the signed-in user as an engine ``Actor``; a temporary password is
changed before anything else. Sessions and their lifetimes live in ``webapp.sessions``."""

from __future__ import annotations

from flask import Flask, abort, current_app, redirect, request, session, url_for
from flask_babel import lazy_gettext
from flask_login import AnonymousUserMixin, current_user
from werkzeug.wrappers import Response

from engine.errors import NotFound
from engine.services.access import Actor, load_actor
from engine.services.signin import Throttle
from webapp.db import get_session
from webapp.extensions import login_manager
from webapp.inputs import int_arg

MUST_CHANGE = "must_change_password"  # session key set at sign-in with a temporary password
# What a person who must change a temporary password can still reach.
OPEN_WHILE_CHANGING = frozenset({"account.index", "account.password", "auth.logout", "static",
                                 "main.accessibility", "main.language", "main.healthz"})


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


def chosen_territory(among: list[int] | None = None) -> int:
    """The territory a page is about: the ``territoire`` argument when it is one of ``among``
    (default: the territories the person works in), else the first of them; 403 when there
    is none."""
    territories = actor().territories() if among is None else among
    if not territories:
        abort(403)
    chosen = int_arg("territoire")
    return chosen if chosen in territories else territories[0]


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


def throttle() -> Throttle:
    """The sign-in limits configured (SIGN_IN_*)."""
    config = current_app.config
    return Throttle(max_failures=int(config["SIGN_IN_MAX_FAILURES"]),
                    address_max_failures=int(config["SIGN_IN_ADDRESS_MAX_FAILURES"]),
                    window=config["SIGN_IN_WINDOW"], lockout=config["SIGN_IN_LOCKOUT"])


def _temporary_password_first() -> Response | None:
    """Send a person signed in with a temporary password to change it, from any page (the
    API never reads the session: its key decides)."""
    if request.endpoint in OPEN_WHILE_CHANGING or request.blueprint == "api" \
            or not session.get(MUST_CHANGE):
        return None
    if not current_user.is_authenticated:
        return None
    return redirect(url_for("account.index"))


def init_app(app: Flask) -> None:
    """Configure Flask-Login."""
    login_manager.user_loader(_load)
    login_manager.anonymous_user = Anonymous
    login_manager.login_view = "auth.login"
    login_manager.login_message = lazy_gettext("Connectez-vous pour accéder à cette page.")
    login_manager.localize_callback = str  # the lazy message, in the request's language
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    app.before_request(_temporary_password_first)
