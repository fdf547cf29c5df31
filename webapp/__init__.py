"""Aiguillage web application: thin server-rendered views over the engine's services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from engine.bootstrap import build
from engine.scheduler import start_background
from webapp import (
    api,
    auth,
    config,
    db,
    errors,
    extensions,
    i18n,
    inputs,
    oidc,
    postdata,
    request_log,
    security,
    sessions,
    statements,
)
from webapp.views import (
    account,
    admin,
    answer,
    cases,
    circuits,
    consent,
    directory,
    households,
    main,
    orientations,
    subject_access,
    tasks,
    team,
)
from webapp.views import api_keys as api_key_views
from webapp.views import auth as auth_views
from webapp.views import commission as commission_views
from webapp.views import statistics as statistics_views
from webapp.views import webhooks as webhook_views


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Application factory: configuration, engine, extensions, blueprints, error pages."""
    app = Flask(__name__, instance_relative_config=True)
    config.load(app, test_config)
    inputs.init_app(app)  # first: the bounded <int:…> and the guard before any other hook
    app.extensions["aiguillage"] = build(app.config["DATABASE_URL"],
                                         app.config.get("CLOCK"))
    sessions.init_app(app)
    extensions.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    oidc.init_app(app)  # sign-in through ProConnect or another provider, when configured
    security.init_app(app)
    db.init_app(app)
    statements.init_app(app)  # X-Aiguillage-Statements, when the setting is on
    request_log.init_app(app)  # request id, one log line and latency per request
    # the form error summary's lines (labels, link targets): macros/forms.html
    app.jinja_env.globals["form_error_targets"] = postdata.error_targets
    app.jinja_env.globals["kept_labels"] = postdata.kept_labels  # the 503 page's labels
    for blueprint in (main.bp, auth_views.bp, account.bp, tasks.bp, cases.bp, team.bp,
                      consent.bp, admin.bp, circuits.bp, directory.bp, answer.bp, households.bp,
                      orientations.bp, subject_access.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(statistics_views.bp)
    app.register_blueprint(commission_views.bp)
    app.register_blueprint(webhook_views.bp)  # supervision: the organisations' webhooks
    app.register_blueprint(api_key_views.bp)  # supervision: the organisations' API keys
    api.init_app(app)  # the REST API under /api/v1 (docs/api.md)
    errors.register_error_handlers(app)
    if app.config["EMBEDDED_SCHEDULER"]:
        app.extensions["scheduler"] = start_background(app.extensions["aiguillage"].sessions)
    return app
