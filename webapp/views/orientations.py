"""Orientations: the territory's refusal reasons (coordination keeps them). The case page
shows a case's orientations (``cases.show`` and ``cases/_orientations.html``)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required
from werkzeug.wrappers import Response

from engine.errors import Conflict, InvalidInput
from engine.services import refusal_reasons
from webapp.auth import actor, chosen_territory
from webapp.db import clock, get_session
from webapp.form_classes import EmptyForm
from webapp.i18n import error_text
from webapp.inputs import int_arg
from webapp.orientation_form_classes import ReasonForm

bp = Blueprint("orientations", __name__, url_prefix="/motifs-de-refus")
ACTIONS = {"enregistrer", "retirer", "retablir"}


@bp.route("/", methods=["GET", "POST"])
@login_required
def reasons() -> str | Response | tuple[str, int]:
    """Coordinator: the territory's refusal reasons, and a form to add one."""
    territory = chosen_territory()
    form = ReasonForm()
    error = None
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            abort(400)
        if form.validate():
            try:
                added = refusal_reasons.add(get_session(), clock(), actor(), territory,
                                            form.label.data or "", form.code.data or "",
                                            bool(form.needs_detail.data))
            except (InvalidInput, Conflict) as exc:
                error = error_text(exc)
            else:
                flash(gettext("Motif « %(label)s » ajouté.", label=added.label), "success")
                return redirect(url_for("orientations.reasons", territoire=territory))
        else:  # the same refusal as the service's for someone who may not add
            refusal_reasons.listed(get_session(), actor(), territory)
    listed = refusal_reasons.listed(get_session(), actor(), territory)
    page = render_template("orientations/reasons.html", reasons=listed, form=form,
                           row_form=EmptyForm(), territory=territory, error=error)
    return (page, 422) if request.method == "POST" else page


@bp.post("/modifier")
@login_required
def edit_reason() -> Response:
    """Coordinator: rename a reason, say whether it asks for a detail, retire it or bring
    it back (``action``)."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    reason_id = int_arg("motif", form=True)
    action = request.form.get("action", "")
    if reason_id is None or action not in ACTIONS:
        abort(400)
    session, now = get_session(), clock()
    try:
        if action == "enregistrer":
            item = refusal_reasons.edit(session, now, actor(), reason_id,
                                        request.form.get("intitule", ""),
                                        request.form.get("precision") == "1")
            flash(gettext("Motif « %(label)s » enregistré.", label=item.label), "success")
        else:
            item = refusal_reasons.set_active(session, now, actor(), reason_id,
                                              action == "retablir")
            flash(gettext("Motif « %(label)s » proposé de nouveau.", label=item.label)
                  if item.active else
                  gettext("Motif « %(label)s » retiré : il n'est plus proposé, les refus "
                          "passés le gardent.", label=item.label), "success")
    except InvalidInput as exc:
        flash(error_text(exc).capitalize() + ".", "error")
    territory = refusal_reasons.territory_of(session, actor(), reason_id)
    return redirect(url_for("orientations.reasons", territoire=territory))
