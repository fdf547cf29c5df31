"""Who calls the API: an API key in ``Authorization: Bearer …`` and nothing else (the
session cookie is never read here), its rate limit, and its rights per call."""

from __future__ import annotations

from flask import Response, g, request

from engine.errors import Unauthenticated
from engine.services import api_keys
from engine.services.access import Actor, require_scope
from webapp.api.problems import problem
from webapp.db import clock, get_session

OPEN = frozenset({"api.openapi"})  # answered without a key
READING = frozenset({"GET", "HEAD"})


def authenticate() -> Response | None:
    """Before every API request: the key's actor in ``g.api_actor``, or a 401 / 429 / 403
    problem (the scope a method needs: ``read`` for GET, ``write`` for POST)."""
    if request.endpoint in OPEN or request.endpoint is None:
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return problem(401, headers={"WWW-Authenticate": 'Bearer realm="aiguillage"'})
    caller = api_keys.authenticate(get_session(), clock(), token.strip())
    if caller.api_key_id is not None:
        wait = api_keys.check_rate(caller.api_key_id, clock().now())
        if wait is not None:
            seconds = str(max(1, int(wait + 0.999)))
            return problem(429, "Trop de requêtes pour cette clé : réessayez dans "
                           f"{seconds} s." if _french() else
                           f"Too many requests for this key: retry in {seconds} s.",
                           headers={"Retry-After": seconds})
    require_scope(caller, "read" if request.method in READING else "write")
    g.api_actor = caller
    return None


def _french() -> bool:
    return request.accept_languages.best_match(["fr", "en"], default="fr") != "en"


def caller() -> Actor:
    """The actor of the key that authenticated this request."""
    found = g.get("api_actor")
    if not isinstance(found, Actor):
        raise Unauthenticated(code="svc.api_unauthenticated")
    return found
