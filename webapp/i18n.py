"""French first, English available: Flask-Babel with the choice kept in the session."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.support import NullTranslations
from flask import Flask, current_app, g, has_request_context, session
from flask_babel import Babel, Domain, get_domain

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


NBSP = "\u00a0"


def in_words(instant: datetime | None) -> str:
    """« 7 déc. 2026 à 14 h 05 » in Paris time and the reader's language, its spaces
    non-breaking so that a narrow column never splits « 14 h » from « 05 »; « — » for none."""
    if instant is None:
        return "—"
    text = format_datetime(instant.astimezone(PARIS), "d MMM y 'à' H 'h' mm",
                           locale=select_locale() if has_request_context() else "fr")
    return text.replace(" ", NBSP)


def hour_in_words(instant: datetime) -> str:
    """« 14 h 05 » in Paris time (non-breaking spaces)."""
    text = format_datetime(instant.astimezone(PARIS), "H 'h' mm",
                           locale=select_locale() if has_request_context() else "fr")
    return text.replace(" ", NBSP)


class RequestDomain(Domain):  # type: ignore[misc]
    """Flask-Babel's domain, its translations looked up once per request.

    Flask-Babel looks them up at every ``gettext`` (three ``g`` lookups and the locale's
    identifier each time): about 60 calls of the templates' ``_()`` and 30 lazy strings
    (form labels, messages) a page. They are kept next to Flask-Babel's own per-request
    locale and domain, and looked up again whenever either changes (``force_locale``,
    ``refresh``).
    """

    def get_translations(self) -> NullTranslations:
        """The request's translations (Flask-Babel's, kept for the request)."""
        try:
            context = g._flask_babel
            locale, domain, found = context.aiguillage_translations
            if locale is context.babel_locale and domain is self:
                return found  # type: ignore[no-any-return]
        except (AttributeError, RuntimeError):  # first call of the request, or no app context
            pass
        found = super().get_translations()
        if g:
            context = g._flask_babel
            context.aiguillage_translations = (getattr(context, "babel_locale", None), self,
                                               found)
        return found  # type: ignore[no-any-return]


def translations() -> NullTranslations:
    """The translations of the request's language (the templates' ``_()``): those kept for
    the request while its locale and domain stay the same, else the domain's."""
    try:
        context = g._flask_babel
        locale, domain, found = context.aiguillage_translations
        if locale is context.babel_locale and domain is context.babel_domain:
            return found  # type: ignore[no-any-return]
    except (AttributeError, RuntimeError):
        pass
    return get_domain().get_translations()  # type: ignore[no-any-return]


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
    babel.domain_instance = RequestDomain(domain=app.extensions["babel"].default_domain)
    # The templates' _(), ngettext()...: as Flask-Babel installs them, with the translations
    # looked up once per request instead of at each call.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext, ngettext=_ngettext, pgettext=_pgettext, npgettext=_npgettext,
        newstyle=True)
    # _() is Jinja's alias that looks ``gettext`` up in the template's context at each call
    # and calls it through the context again; the templates never define their own gettext:
    # _ is that gettext itself.
    app.jinja_env.globals["_"] = app.jinja_env.globals["gettext"]
    app.jinja_env.filters["local"] = local
    app.jinja_env.filters["day"] = lambda d: local(d, "%d/%m/%Y")
