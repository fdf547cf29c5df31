"""A case's organisations and team: parties and référent·e set by a coordinator, and the list
of cases oriented to an operator that still have no référent·e."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required
from werkzeug.wrappers import Response

from engine.errors import Conflict, InvalidInput
from engine.services import parties, team
from webapp.auth import actor
from webapp.db import clock, get_session
from webapp.form_classes import EmptyForm
from webapp.i18n import error_text
from webapp.inputs import MAX_PAGE, int_arg

bp = Blueprint("team", __name__, url_prefix="/dossiers")


def _reason() -> str:
    return request.form.get("reason", "")


@bp.post("/<int:case_id>/parties")
@login_required
def set_party(case_id: int) -> Response:
    """Coordinator: give a part of the case to an organisation, with a reason."""
    organisation = int_arg("organisation", form=True)
    if organisation is None:
        abort(400, description=gettext("Choisissez une organisation."))
    part = request.form.get("part", "")
    return _act(case_id, lambda: parties.set_party(
        get_session(), clock(), actor(), case_id, part, organisation, _reason()),
        gettext("Organisation enregistrée."))


@bp.post("/<int:case_id>/parties/fin")
@login_required
def end_party(case_id: int) -> Response:
    """Coordinator: end the part an organisation plays in the case, with a reason."""
    part = request.form.get("part", "")
    return _act(case_id, lambda: parties.end_party(
        get_session(), clock(), actor(), case_id, part, _reason()),
        gettext("Organisation retirée du dossier."))


@bp.post("/<int:case_id>/referent")
@login_required
def set_referent(case_id: int) -> Response:
    """Coordinator: name or change the case's référent·e de parcours, with a reason."""
    user_id = int_arg("user_id", form=True)
    if user_id is None:
        abort(400, description=gettext("Choisissez une personne."))
    return _act(case_id, lambda: team.name_referent(
        get_session(), clock(), actor(), case_id, user_id, _reason()),
        gettext("Référent·e de parcours enregistré·e."))


@bp.post("/<int:case_id>/referent/fin")
@login_required
def end_referent(case_id: int) -> Response:
    """Coordinator: end the référent·e's part on the case, with a reason."""
    return _act(case_id, lambda: team.end_referent(
        get_session(), clock(), actor(), case_id, _reason()),
        gettext("Fin du suivi par le ou la référent·e enregistrée."))


def _act(case_id: int, action: Callable[[], object], message: str) -> Response:
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        action()
    except (Conflict, InvalidInput) as exc:  # a refusal by role stays a 403 page
        flash(error_text(exc).capitalize() + ".", "error")
    else:
        flash(message, "success")
    return redirect(url_for("cases.show", case_id=case_id) + "#equipe-titre")


@bp.get("/sans-referent")
@login_required
def without_referent() -> str:
    """Coordinator: cases oriented to an operator N days ago or more, with no référent·e."""
    territories = actor().territories()
    if not territories:
        abort(403)
    chosen = int_arg("territoire")
    territory = chosen if chosen in territories else territories[0]
    days = int_arg("jours", team.DEFAULT_DAYS, minimum=0, maximum=team.MAX_DAYS)
    page = team.without_referent(get_session(), clock(), actor(), territory, days=days,
                                 page=int_arg("page", 1, maximum=MAX_PAGE))
    return render_template("cases/without_referent.html", page=page, days=days,
                           args=request.args)
