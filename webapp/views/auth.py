"""Sign in and sign out: with a password, or through an OpenID Connect provider
(``webapp.oidc``: ProConnect or any standard one)."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
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

from engine.errors import PermissionDenied, TooManyAttempts
from engine.services import federated_signin, signin
from engine.services.access import load_actor
from webapp import oidc
from webapp.auth import MUST_CHANGE, LoginUser, throttle
from webapp.db import clock, get_session
from webapp.form_classes import EmptyForm, LoginForm
from webapp.i18n import clear_session, error_text
from webapp.urls import safe_next
from webapp.views.main import landing

bp = Blueprint("auth", __name__)
NEXT_KEY = "oidc_next"  # where to go once back from the provider
ID_TOKEN_KEY = "oidc_id_token"  # the provider's ID token: the hint when signing out there


@bp.context_processor
def _sign_in_ways() -> dict[str, object]:
    """What the sign-in page offers: the provider's button, the password form."""
    label = current_app.config["OIDC_LABEL"] or gettext(
        "Se connecter avec %(name)s", name=current_app.config["OIDC_NAME"])
    return {"oidc_label": label if oidc.enabled() else "",
            "password_signin": current_app.config["PASSWORD_SIGNIN"]}


@bp.route("/connexion", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    """Sign in with e-mail and password; a fresh session afterwards."""
    if current_user.is_authenticated:
        return redirect(landing())
    form = LoginForm()
    if request.method == "POST" and not current_app.config["PASSWORD_SIGNIN"]:
        flash(gettext("La connexion par mot de passe est désactivée sur cette plateforme : "
                      "utilisez le bouton ci-dessous."), "error")
        return render_template("auth/login.html", form=form), 403
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


def _start(signed: signin.SignedIn, next_url: str | None = None) -> Response:
    """A new session for the person signed in (nothing kept from before but the language)."""
    clear_session()
    login_user(LoginUser(load_actor(get_session(), signed.user_id)))
    session.permanent = True
    if signed.must_change_password:
        session[MUST_CHANGE] = True
        return redirect(url_for("account.index"))
    return redirect(safe_next(next_url or request.args.get("next"), landing()))


@bp.get("/connexion/oidc")
def oidc_start() -> str | Response | tuple[str, int]:
    """« Se connecter avec ProConnect »: off to the provider, with a new state and nonce."""
    if not oidc.enabled():
        abort(404)
    if current_user.is_authenticated:
        return redirect(landing())
    session[NEXT_KEY] = safe_next(request.args.get("next"), "")
    try:
        return oidc.start()
    except oidc.Refused as exc:
        return _refused(exc.reason)


@bp.get("/connexion/oidc/retour")
def oidc_callback() -> str | Response | tuple[str, int]:
    """Back from the provider: the answer checked, the account found by its verified
    e-mail, the same new session as with a password; any refusal is a page of its own."""
    if not oidc.enabled():
        abort(404)
    if current_user.is_authenticated:  # the back button after signing in: nothing to redo
        return redirect(landing())
    next_url = session.pop(NEXT_KEY, None)
    try:
        identity, id_token = oidc.finish()
        signed = federated_signin.sign_in(get_session(), clock(), identity,
                                          request.remote_addr)
    except oidc.Refused as exc:
        return _refused(exc.reason)
    except PermissionDenied as exc:
        return _refused((exc.code or "").removeprefix("svc.oidc_"), identity.email)
    answer = _start(signed, next_url)
    session[ID_TOKEN_KEY] = id_token
    return answer


def _refused(reason: str, email: str = "") -> tuple[str, int]:
    """The page of a refused sign-in through the provider (audited once, here or in the
    service), with what to do next."""
    if reason not in ("email_unverified", "unknown_account", "inactive_account",
                      "api_account", "subject_changed"):  # audited by the service
        federated_signin.refuse(get_session(), clock(), reason, oidc.provider_name(),
                                request.remote_addr)
    status = {"unavailable": 503, "state": 400}.get(reason, 403)
    return render_template("auth/oidc_refused.html", reason=reason, email=email,
                           message=error_text(PermissionDenied(code=f"svc.oidc_{reason}")),
                           provider=oidc.provider_name()), status


@bp.post("/deconnexion")
@login_required
def logout() -> Response:
    """Sign out: the session is revoked on the server (its cookie opens nothing any more)."""
    if EmptyForm().validate_on_submit():
        id_token = session.get(ID_TOKEN_KEY)
        logout_user()
        clear_session()
        flash(gettext("Vous êtes déconnecté·e."), "info")
        if id_token and oidc.enabled():  # signed in at the provider: end its session too
            there = oidc.logout_url(id_token, url_for("auth.login", _external=True))
            if there:
                return redirect(there)
    return redirect(url_for("auth.login"))
