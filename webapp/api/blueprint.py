"""The API's blueprint, ``/api/v1`` (its views: ``webapp.api.views``)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
