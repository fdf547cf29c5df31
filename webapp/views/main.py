"""Home, health and readiness checks, metrics, accessibility statement, language choice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response

from engine.services import health
from engine.services.access import may_read_metrics, only_administers
from webapp import metrics
from webapp.db import clock, get_session
from webapp.form_classes import EmptyForm
from webapp.urls import safe_next

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> Response:
    """Signed in: my tasks (an administrator who holds no other role: supervision, where
    their work is); otherwise: sign in."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(landing())


def landing() -> str:
    """Where a signed-in person starts: their tasks, or supervision for an administrator
    who holds no other role (their « Mes tâches » would always be empty)."""
    if only_administers(current_user.actor):
        return url_for("admin.dashboard")
    return url_for("tasks.index")


@bp.get("/favicon.ico")
def favicon() -> Response:
    """The site's icon, where browsers look for it."""
    icon = Path(current_app.static_folder or "static") / "favicon.ico"
    return Response(icon.read_bytes(), mimetype="image/vnd.microsoft.icon",
                    headers={"Cache-Control": "public, max-age=86400"})


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Liveness and database reachability, for monitoring."""
    if not health.database_reachable(get_session()):
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok"), 200


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness, for a load balancer: the database answers, its schema is at this code's
    migration head, and a scheduler swept the timers recently. 503 names the check that
    failed (``unreachable``, ``busy``, ``behind``, ``never``, ``late``), nothing more."""
    seconds = current_app.config["READY_SCHEDULER_MAX_AGE"]
    found = health.readiness(get_session(), clock(),
                             timedelta(seconds=seconds) if seconds else None)
    return jsonify(found.as_dict()), 200 if found.ready else 503


@bp.get("/metrics")
def metrics_page() -> Response:
    """Prometheus metrics: with ``METRICS_TOKEN`` set, for its bearer only; otherwise for a
    client on this machine only (no proxy between). Anyone else: 404."""
    if not may_read_metrics(current_app.config["METRICS_TOKEN"],
                            request.headers.get("Authorization", ""),
                            request.remote_addr or "",
                            "X-Forwarded-For" in request.headers
                            or "Forwarded" in request.headers):
        abort(404)
    body, content_type = metrics.render()
    return Response(body, content_type=content_type,
                    headers={"Cache-Control": "no-store"})


@bp.get("/accessibilite")
def accessibility() -> str:
    """Accessibility statement (RGAA)."""
    return render_template("pages/accessibilite.html",
                           contact=current_app.config.get("ACCESSIBILITY_CONTACT") or "")


@bp.post("/langue")
def language() -> Response:
    """Switch the interface language (French or English)."""
    form = EmptyForm()
    lang = request.form.get("lang", "fr")
    if form.validate_on_submit() and lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
    target = request.form.get("next", "")
    return redirect(safe_next(target, url_for("main.index")))
