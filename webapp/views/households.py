"""Households across circuits: a household's page with its cases, and for coordination the
likely duplicates found when cases were opened, merged or dismissed."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from flask_login import login_required
from werkzeug.wrappers import Response

from engine.errors import Conflict
from engine.services import households
from webapp.auth import actor, chosen_territory
from webapp.db import clock, get_session
from webapp.form_classes import EmptyForm
from webapp.i18n import error_text
from webapp.inputs import MAX_PAGE, int_arg
from webapp.views.cases import STATUSES

bp = Blueprint("households", __name__, url_prefix="/menages")


def _territory() -> int:
    """The territory whose duplicates are shown (``territoire`` if the person coordinates
    it, else the first they coordinate; the service refuses anyone else)."""
    territories = actor().territories()
    return chosen_territory([t for t in territories if actor().is_coordinator(t)]
                            or territories)


@bp.get("/<int:household_id>")
@login_required
def show(household_id: int) -> str:
    """A household: its cases in every circuit the reader may see, with their orientations."""
    page = households.get(get_session(), clock(), actor(), household_id)
    return render_template("households/show.html", household=page, statuses=STATUSES)


@bp.get("/doublons")
@login_required
def duplicates() -> str:
    """Coordination: the likely duplicates of the territory, side by side."""
    territory = _territory()
    page = households.duplicates(get_session(), clock(), actor(), territory,
                                 page=int_arg("page", 1, maximum=MAX_PAGE))
    return render_template("households/duplicates.html", page=page, territory=territory,
                           form=EmptyForm(), args=request.args, very_likely=households.VERY_LIKELY)


@bp.post("/doublons/<int:match_id>/fusionner")
@login_required
def merge(match_id: int) -> Response | tuple[str, int]:
    """Coordination: the two records are one household; the newer one's cases move to the
    older one."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        merged = households.merge(get_session(), clock(), actor(), match_id)
    except Conflict as exc:
        return _refused(exc)
    flash(ngettext("Ménages fusionnés : %(num)d dossier rattaché au ménage conservé.",
                   "Ménages fusionnés : %(num)d dossiers rattachés au ménage conservé.",
                   merged.moved), "success")
    return redirect(url_for("households.duplicates"))


@bp.post("/doublons/<int:match_id>/ecarter")
@login_required
def dismiss(match_id: int) -> Response | tuple[str, int]:
    """Coordination: « Ce ne sont pas les mêmes ménages »."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        households.dismiss(get_session(), clock(), actor(), match_id)
    except Conflict as exc:
        return _refused(exc)
    flash(gettext("Doublon écarté : ces deux ménages restent distincts."), "success")
    return redirect(url_for("households.duplicates"))


def _refused(exc: Conflict) -> tuple[str, int]:
    """The duplicates page again, saying why nothing was done (409)."""
    text = error_text(exc)
    flash(text[:1].upper() + text[1:] + ".", "error")
    return duplicates(), 409
