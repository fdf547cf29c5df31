"""The rights of the person: what is held about a household (access, as a readable document
and as JSON) and the correction of a case's identity answers (rectification).
Coordination of the territory only; the services decide and journal."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required
from werkzeug.wrappers import Response as WerkzeugResponse

from engine.errors import FormInvalid
from engine.services import subject_access
from webapp import postdata
from webapp.auth import actor
from webapp.db import clock, get_session
from webapp.form_classes import EmptyForm

bp = Blueprint("subject_access", __name__)


@bp.get("/menages/<int:household_id>/donnees")
@login_required
def document(household_id: int) -> str:
    """Everything held about the household, to read, print or hand over."""
    held = subject_access.export(get_session(), clock(), actor(), household_id)
    return render_template("households/subject.html", held=held)


@bp.get("/menages/<int:household_id>/donnees.json")
@login_required
def as_json(household_id: int) -> Response:
    """The same, as JSON (a file to download)."""
    held = subject_access.export(get_session(), clock(), actor(), household_id, fmt="json")
    body = json.dumps(subject_access.as_json(held), ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="menage-{held.household_id}.json"',
        "Cache-Control": "no-store"})


@bp.route("/dossiers/<int:case_id>/identite", methods=["GET", "POST"])
@login_required
def identity(case_id: int) -> str | WerkzeugResponse | tuple[str, int]:
    """Correct the household's identity answers of a case, with the reason."""
    form = subject_access.identity_form(get_session(), clock(), actor(), case_id)
    errors: dict[str, list[str]] = {}
    values = postdata.flat_values(form.values)
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            abort(400)
        data, errors = postdata.parse(form.spec, request.form)
        values = postdata.posted(request.form)
        if not errors:
            reason = str(data.pop(subject_access.REASON_FIELD, "") or "")
            try:
                changed = subject_access.correct_identity(get_session(), clock(), actor(),
                                                          case_id, data, reason)
            except FormInvalid as exc:
                errors = exc.errors
            else:
                if changed:
                    flash(gettext("Identité corrigée : %(fields)s. La correction et son motif "
                                  "sont gardés au journal.", fields=", ".join(changed)),
                          "success")
                else:
                    flash(gettext("Aucune valeur n'a changé : rien n'a été corrigé."), "info")
                return redirect(url_for("cases.show", case_id=case_id))
    page = render_template("cases/identity.html", identity=form, errors=errors, values=values,
                           form=EmptyForm())
    return (page, 422) if errors else page
