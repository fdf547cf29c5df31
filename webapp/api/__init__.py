"""The REST API under ``/api/v1``: JSON, API keys, problem+json errors, an OpenAPI 3.1
document built from ``webapp.api.openapi`` (docs/api.md)."""

from __future__ import annotations

from flask import Flask

from webapp.api import views
from webapp.api.blueprint import bp
from webapp.extensions import csrf

__all__ = ["init_app", "views"]


def init_app(app: Flask) -> None:
    """Register the blueprint: no CSRF (no cookie authenticates it); a key before each call
    (``webapp.api.keys``, hooked in ``webapp.api.views``).
    Its errors are problems (``webapp.errors`` hands every ``/api/`` error to
    ``webapp.api.problems``)."""
    csrf.exempt(bp)
    app.register_blueprint(bp)
