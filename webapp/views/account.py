"""My account: change my password, choose how I hear of new steps, sign out of every
device."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import login_required, logout_user
from werkzeug.wrappers import Response

from engine.errors import Conflict, PermissionDenied, TooManyAttempts
from engine.services import notices, sessions, signin
from webapp.auth import MUST_CHANGE, actor, throttle
from webapp.db import clock, get_session
from webapp.form_classes import EmptyForm, PasswordForm
from webapp.i18n import clear_session, error_text
from webapp.sessions import current_token_hash

bp = Blueprint("account", __name__, url_prefix="/compte")


@bp.route("/", methods=["GET", "POST"])
@login_required
def index() -> str | Response | tuple[str, int]:
    """The account page; its form changes my password (the other sessions end)."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            signin.change_password(get_session(), clock(), actor(), form.current.data,
                                   form.new.data, current_token_hash(), throttle())
        except (PermissionDenied, Conflict, TooManyAttempts) as exc:
            field = form.current if isinstance(exc, PermissionDenied) else form.new
            field.errors.append(error_text(exc).capitalize() + ".")
        else:
            session.pop(MUST_CHANGE, None)
            flash(gettext("Votre mot de passe a été changé ; vos autres sessions sont "
                          "fermées."), "success")
            return redirect(url_for("account.index"))
    return _page(form, status=422 if form.errors else 200)


def _page(form: PasswordForm, status: int = 200,
          notice_error: str | None = None) -> tuple[str, int]:
    mode = notices.notice_mode(get_session(), actor())
    return render_template("account/index.html", form=form, sign_out_form=EmptyForm(),
                           notice_form=EmptyForm(), notice_mode=mode,
                           notice_modes=_modes(), notice_error=notice_error,
                           forced=bool(session.get(MUST_CHANGE))), status


def _modes() -> dict[str, str]:
    """The choices, in the reader's language (the keys are ``notices.NOTICE_MODES``')."""
    return {notices.IMMEDIATE: gettext("à chaque étape"),
            notices.DIGEST: gettext("dans le récapitulatif quotidien")}


@bp.post("/prevenir")
@login_required
def notice_mode() -> Response | tuple[str, int]:
    """« Me prévenir des nouvelles étapes » : one e-mail per step, or the daily digest."""
    if session.get(MUST_CHANGE):
        return redirect(url_for("account.index"))
    if not EmptyForm().validate_on_submit():
        return _page(PasswordForm(formdata=None), 400,
                     gettext("Le formulaire a expiré : choisissez de nouveau."))
    try:
        notices.set_notice_mode(get_session(), clock(), actor(),
                                request.form.get("prevenir", ""))
    except Conflict:
        return _page(PasswordForm(formdata=None), 422,
                     gettext("Choisissez « à chaque étape » ou « dans le récapitulatif "
                             "quotidien »."))
    flash(gettext("Votre choix est enregistré : vous serez prévenu·e des nouvelles étapes "
                  "%(how)s.", how=_modes()[notices.notice_mode(get_session(), actor())]),
          "success")
    return redirect(url_for("account.index") + "#prevenir")


@bp.post("/deconnexion-partout")
@login_required
def sign_out_everywhere() -> Response:
    """« Se déconnecter de tous les appareils »: every session of mine ends, this one too."""
    if EmptyForm().validate_on_submit():
        sessions.sign_out_everywhere(get_session(), clock(), actor().user_id or 0)
        logout_user()
        clear_session()
        flash(gettext("Vous êtes déconnecté·e de tous vos appareils."), "info")
    return redirect(url_for("auth.login"))
