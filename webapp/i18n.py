"""French first, English available: Flask-Babel with the choice kept in the session."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, has_request_context, session
from flask_babel import Babel

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


def init_app(app: Flask) -> None:
    """Configure Babel and the template helpers."""
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters["local"] = local
    app.jinja_env.filters["day"] = lambda d: local(d, "%d/%m/%Y")
