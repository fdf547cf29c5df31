"""Sign in and sign out."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from engine.errors import PermissionDenied, TooManyAttempts
from engine.services import signin
from engine.services.access import load_actor
from webapp.auth import MUST_CHANGE, LoginUser, throttle
from webapp.db import clock, get_session
from webapp.form_classes import EmptyForm, LoginForm
from webapp.i18n import clear_session, error_text
from webapp.urls import safe_next
from webapp.views.main import landing

bp = Blueprint("auth", __name__)


@bp.route("/connexion", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    """Sign in with e-mail and password; a fresh session afterwards."""
    if current_user.is_authenticated:
        return redirect(landing())
    form = LoginForm()
    if form.validate_on_submit():
        try:
            signed = signin.sign_in(get_session(), clock(), form.email.data, form.password.data,
                                    request.remote_addr, throttle())
        except TooManyAttempts as exc:
            flash(error_text(exc).capitalize() + ".", "error")
            return render_template("auth/login.html", form=form), 429
        except PermissionDenied:
            flash(gettext("Adresse e-mail ou mot de passe incorrect."), "error")
        else:
            return _start(signed)
    return render_template("auth/login.html", form=form)


def _start(signed: signin.SignedIn) -> Response:
    """A new session for the person signed in (nothing kept from before but the language)."""
    clear_session()
    login_user(LoginUser(load_actor(get_session(), signed.user_id)))
    session.permanent = True
    if signed.must_change_password:
        session[MUST_CHANGE] = True
        return redirect(url_for("account.index"))
    return redirect(safe_next(request.args.get("next"), landing()))


@bp.post("/deconnexion")
@login_required
def logout() -> Response:
    """Sign out: the session is revoked on the server (its cookie opens nothing any more)."""
    if EmptyForm().validate_on_submit():
        logout_user()
        clear_session()
        flash(gettext("Vous êtes déconnecté·e."), "info")
    return redirect(url_for("auth.login"))
