"""One mapping from errors to status codes and pages (STYLE.md 17)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, g, render_template, request
from flask_babel import gettext, lazy_gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from engine.errors import (
    Conflict,
    EngineError,
    FormInvalid,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ProcessDefinitionError,
    Unavailable,
)
from webapp import postdata
from webapp.api import problems
from webapp.extensions import login_manager
from webapp.i18n import error_text

log = logging.getLogger("aiguillage.web")
STATUS: dict[type[Exception], int] = {
    NotFound: 404, PermissionDenied: 403, Conflict: 409, FormInvalid: 422,
    ProcessDefinitionError: 422, InvalidInput: 422, Unavailable: 503,
}
TITLES = {400: lazy_gettext("Requête invalide"), 403: lazy_gettext("Accès refusé"),
          404: lazy_gettext("Page introuvable"), 405: lazy_gettext("Méthode non autorisée"),
          409: lazy_gettext("Action impossible"), 413: lazy_gettext("Envoi trop volumineux"),
          422: lazy_gettext("Données refusées"), 429: lazy_gettext("Trop de tentatives"),
          500: lazy_gettext("Erreur interne"),
          503: lazy_gettext("Service momentanément indisponible")}
RETRY_AFTER = "30"  # seconds: a restarting database is usually back by then
RETRY_AFTER_BUSY = "5"  # seconds: every pooled connection was busy, one frees up soon
SECRET_FIELDS = ("password", "mot_de_passe", "mot-de-passe", "csrf_token")


def _page(code: int, message: str | None = None) -> tuple[str, int]:
    title = TITLES.get(code) or gettext("Erreur")
    return render_template("errors/error.html", code=code, title=title, message=message), code


def _engine_error(exc: EngineError) -> tuple[str, int] | tuple[str, int, dict[str, str]]:
    code = next((c for cls, c in STATUS.items() if isinstance(exc, cls)), 400)
    if code == 503:
        return unavailable(exc)
    return _page(code, error_text(exc) if code in (409, 422) else None)


def typed_values() -> list[tuple[str, str]]:
    """What the person sent in a POST, but secrets (passwords, CSRF token): shown back so
    that nothing typed is lost."""
    if request.method != "POST":
        return []
    return [(key, value) for key, value in request.form.items(multi=True)
            if not any(secret in key.lower() for secret in SECRET_FIELDS)]


def unavailable(exc: EngineError) -> tuple[str, int, dict[str, str]]:
    """The database is out of reach, or every pooled connection stayed busy (``svc.busy``):
    a 503 page saying nothing was saved, with the values the person sent (under the form's
    labels when it sent them, ``postdata.kept_labels``) and a button to send them again
    (every value, the hidden ones too). The log line holds the path and the driver's or
    pool's message (never the statement's values, ``make_engine``), no personal data."""
    busy = exc.code == "svc.busy"
    log.warning("%s on %s %s: %s", "database connections all busy" if busy
                else "database unavailable", request.method, request.path,
                exc.__cause__ or exc)
    if "_login_user" not in g:  # loading the signed-in user needs the database
        g._login_user = login_manager.anonymous_user()
    message = error_text(exc)
    kept = typed_values()
    shown = postdata.kept_for_display(kept, postdata.read_kept_labels(request.form)) \
        if kept else []
    page = render_template("errors/unavailable.html", code=503, title=TITLES[503],
                           message=message[:1].upper() + message[1:] + ".",
                           kept=kept, shown=shown)
    return page, 503, {"Retry-After": RETRY_AFTER_BUSY if busy else RETRY_AFTER}


def _http_error(exc: HTTPException) -> tuple[str, int]:
    own = exc.description if exc.description != type(exc).description else None
    return _page(exc.code or 500, own)


def _csrf_error(exc: CSRFError) -> tuple[str, int]:
    return _page(400, gettext("Le formulaire a expiré ou n'a pas été envoyé depuis Aiguillage. "
                              "Rechargez la page et recommencez."))


def _unexpected(exc: Exception) -> tuple[str, int]:
    log.exception("unexpected error on %s %s", request.method, request.path)
    return _page(500)


def _or_problem(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``handler`` for pages; a problem+json answer for the API (``webapp.api.problems``)."""
    def handle(exc: Exception) -> Any:
        return problems.handle(exc) if problems.is_api() else handler(exc)
    return handle


def register_error_handlers(app: Flask) -> None:
    """Map every error kind to its page (to its problem+json answer under ``/api/``)."""
    app.register_error_handler(CSRFError, _or_problem(_csrf_error))
    app.register_error_handler(EngineError, _or_problem(_engine_error))
    app.register_error_handler(HTTPException, _or_problem(_http_error))
    app.register_error_handler(Exception, _or_problem(_unexpected))
