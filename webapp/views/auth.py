"""Sign in and sign out."""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from engine.services import users
from engine.services.access import load_actor
from webapp.auth import LoginUser
from webapp.db import get_session
from webapp.extensions import limiter
from webapp.forms import EmptyForm, LoginForm
from webapp.i18n import clear_session

bp = Blueprint("auth", __name__)


def _rate() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


@bp.route("/connexion", methods=["GET", "POST"])
@limiter.limit(_rate, methods=["POST"], error_message="Trop de tentatives de connexion.")
def login() -> str | Response:
    """Sign in with e-mail and password; a fresh session afterwards."""
    if current_user.is_authenticated:
        return redirect(url_for("tasks.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = users.authenticate(get_session(), form.email.data, form.password.data)
        if user is not None:
            target = request.args.get("next", "")
            clear_session()  # a new session: nothing from before sign-in but the language
            login_user(LoginUser(load_actor(get_session(), user.id)))
            session["seen"] = time.time()
            session.permanent = True
            safe = target.startswith("/") and not target.startswith("//")
            return redirect(target if safe else url_for("tasks.index"))
        flash(gettext("Adresse e-mail ou mot de passe incorrect."), "error")
    return render_template("auth/login.html", form=form)


@bp.post("/deconnexion")
@login_required
def logout() -> Response:
    """Sign out (server side: the session is emptied)."""
    if EmptyForm().validate_on_submit():
        logout_user()
        clear_session()
        flash(gettext("Vous êtes déconnecté·e."), "info")
    return redirect(url_for("auth.login"))
