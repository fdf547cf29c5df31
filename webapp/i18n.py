"""French first, English available: Flask-Babel with the choice kept in the session."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.support import NullTranslations
from flask import Flask, current_app, g, has_request_context, session
from flask_babel import Babel, get_translations

from engine.errors import EngineError

PARIS = ZoneInfo("Europe/Paris")
babel = Babel()


def select_locale() -> str:
    """The session's language, else French."""
    lang = session.get("lang")
    return lang if lang in current_app.config["LANGUAGES"] else "fr"


def clear_session() -> None:
    """Empty the session (sign-in, sign-out, idle timeout) but keep the chosen language."""
    lang = session.get("lang")
    session.clear()
    if lang is not None:
        session["lang"] = lang


def error_text(exc: Exception) -> str:
    """What an engine refusal says, in the reader's language."""
    if isinstance(exc, EngineError):
        return exc.message_in(select_locale() if has_request_context() else "fr")
    return str(exc)


def local(instant: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """An instant in Paris time (the UI shows Europe/Paris; storage is UTC)."""
    return instant.astimezone(PARIS).strftime(fmt) if instant else "—"


def translations() -> NullTranslations:
    """The translations of the request's language, looked up once per request.

    Flask-Babel's template ``_()`` looks them up at every call (three ``g`` lookups and the
    locale's identifier each time; about 60 calls a page). They are kept here next to
    Flask-Babel's own per-request locale and domain, and looked up again whenever either
    changes (``force_locale``, ``refresh``).
    """
    try:
        context = g._flask_babel
        locale, domain, found = context.aiguillage_translations
        if locale is context.babel_locale and domain is context.babel_domain:
            return found  # type: ignore[no-any-return]
    except (AttributeError, RuntimeError):  # first call of the request, or no app context
        pass
    found = get_translations()
    if g:
        context = g._flask_babel
        context.aiguillage_translations = (getattr(context, "babel_locale", None),
                                           getattr(context, "babel_domain", None), found)
    return found


def _gettext(string: str) -> str:
    return translations().ugettext(string)


def _ngettext(singular: str, plural: str, num: int) -> str:
    return translations().ungettext(singular, plural, num)


def _pgettext(context: str, string: str) -> str:
    return translations().upgettext(context, string)


def _npgettext(context: str, singular: str, plural: str, num: int) -> Any:
    return translations().unpgettext(context, singular, plural, num)


def init_app(app: Flask) -> None:
    """Configure Babel and the template helpers."""
    babel.init_app(app, locale_selector=select_locale)
    # The templates' _(), ngettext()...: as Flask-Babel installs them, with the translations
    # looked up once per request instead of at each call.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext, ngettext=_ngettext, pgettext=_pgettext, npgettext=_npgettext,
        newstyle=True)
    app.jinja_env.filters["local"] = local
    app.jinja_env.filters["day"] = lambda d: local(d, "%d/%m/%Y")
