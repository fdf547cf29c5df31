"""RFC 9457 problem details (``application/problem+json``) for every error under ``/api/``:
the same French messages as the pages (the engine's ``message_in``), English when the client
asks for it with ``Accept-Language: en``; never HTML, never a 500 page."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, json, request
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
    TooManyAttempts,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger("aiguillage.api")
PREFIX = "/api/"
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "/api/v1/problemes/"
RETRY_AFTER_DOWN, RETRY_AFTER_BUSY = "30", "5"  # as the pages say (webapp/errors.py)
STATUS: dict[type[Exception], int] = {
    Unauthenticated: 401, NotFound: 404, PermissionDenied: 403, FormInvalid: 422,
    Conflict: 409, ProcessDefinitionError: 422, InvalidInput: 422, TooManyAttempts: 429,
    Unavailable: 503,
}
# status → (type slug, French title, English title)
KINDS: dict[int, tuple[str, str, str]] = {
    400: ("requete-invalide", "Requête invalide", "Bad request"),
    401: ("non-authentifie", "Clé d'API absente ou refusée", "Missing or refused API key"),
    403: ("acces-refuse", "Accès refusé", "Forbidden"),
    404: ("introuvable", "Introuvable", "Not found"),
    405: ("methode-non-autorisee", "Méthode non autorisée", "Method not allowed"),
    406: ("non-acceptable", "Format de réponse non disponible", "Not acceptable"),
    409: ("conflit", "Action impossible", "Conflict"),
    413: ("trop-volumineux", "Envoi trop volumineux", "Payload too large"),
    415: ("type-de-contenu", "Type de contenu non pris en charge", "Unsupported media type"),
    422: ("donnees-refusees", "Données refusées", "Unprocessable content"),
    429: ("trop-de-requetes", "Trop de requêtes", "Too many requests"),
    500: ("erreur-interne", "Erreur interne", "Internal error"),
    501: ("non-disponible", "Pas encore disponible", "Not implemented"),
    503: ("indisponible", "Service momentanément indisponible", "Service unavailable"),
}
DETAILS: dict[int, tuple[str, str]] = {  # when nothing more precise is known
    401: ("Présentez une clé d'API valide dans l'en-tête « Authorization: Bearer … ».",
          "Send a valid API key in the « Authorization: Bearer … » header."),
    404: ("Cette adresse ne correspond à rien dans l'API, ou à rien que cette clé puisse lire.",
          "Nothing at this address, or nothing this key may read."),
    405: ("Cette adresse n'accepte pas cette méthode.",
          "This address does not accept this method."),
    413: ("Le corps de la requête dépasse la taille permise.", "The body is too large."),
    500: ("Une erreur inattendue s'est produite ; rien n'a été enregistré.",
          "An unexpected error occurred; nothing was saved."),
}


def is_api() -> bool:
    """The request is addressed to the API (its errors are problems, not pages)."""
    return request.path.startswith(PREFIX)


def lang() -> str:
    """``en`` when the client prefers English, else French."""
    return request.accept_languages.best_match(["fr", "en"], default="fr") or "fr"


def problem(status: int, detail: str | None = None, *, headers: dict[str, str] | None = None,
            **extra: Any) -> Response:
    """A problem+json response: type, title, status, detail, instance (and ``extra``)."""
    slug, french, english = KINDS.get(status, KINDS[400])
    english_wanted = lang() == "en"
    if detail is None and status in DETAILS:
        detail = DETAILS[status][1 if english_wanted else 0]
    body: dict[str, Any] = {"type": TYPE_BASE + slug,
                            "title": english if english_wanted else french,
                            "status": status, "detail": detail or (english if english_wanted
                                                                   else french),
                            "instance": request.path, **extra}
    response = Response(json.dumps(body, ensure_ascii=False), status=status,
                        mimetype=MEDIA_TYPE)
    response.headers["Content-Language"] = "en" if english_wanted else "fr"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def from_engine(exc: EngineError) -> Response:
    """An engine refusal as a problem, in the client's language."""
    status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
    text = exc.message_in(lang())
    if isinstance(exc, FormInvalid):
        return problem(422, "The data sent does not fit the form." if lang() == "en"
                       else "Les données envoyées ne respectent pas le formulaire.",
                       errors=exc.errors)
    if status == 503:
        busy = exc.code == "svc.busy"
        log.warning("%s on %s %s: %s", "database connections all busy" if busy
                    else "database unavailable", request.method, request.path,
                    exc.__cause__ or exc)
        return problem(503, text, headers={
            "Retry-After": RETRY_AFTER_BUSY if busy else RETRY_AFTER_DOWN})
    if status == 401:
        return problem(401, text, headers={"WWW-Authenticate": 'Bearer realm="aiguillage"'})
    return problem(status, text)


def from_http(exc: HTTPException) -> Response:
    """A Werkzeug HTTP error (404 of routing, 405, 413, an ``abort(400, …)``) as a problem."""
    status = exc.code or 500
    own = exc.description if exc.description != type(exc).description else None
    allowed = getattr(exc, "valid_methods", None)  # a 405's
    headers = {"Allow": ", ".join(allowed)} if allowed else None
    return problem(status, own, headers=headers)


def from_csrf(_exc: CSRFError) -> Response:
    """Never raised for the API (exempt), kept so that no HTML answers from ``/api/``."""
    return problem(400)


def unexpected(_exc: Exception) -> Response:
    """Anything else: logged with its traceback, answered 500 as a problem."""
    log.exception("unexpected error on %s %s", request.method, request.path)
    return problem(500)


def handle(exc: Exception) -> Response:
    """The problem for any exception raised while serving the API."""
    if isinstance(exc, EngineError):
        return from_engine(exc)
    if isinstance(exc, CSRFError):
        return from_csrf(exc)
    if isinstance(exc, HTTPException):
        return from_http(exc)
    return unexpected(exc)
