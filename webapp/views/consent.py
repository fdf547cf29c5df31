"""The household's consent on the case page: what it covers, recorded and withdrawn by the
coordination, the case's référent·e or the referring organisation."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from flask_babel import gettext
from flask_login import login_required
from werkzeug.wrappers import Response

from engine.errors import Conflict, EngineError, InvalidInput
from engine.services import consent
from webapp.auth import actor
from webapp.db import clock, get_session
from webapp.form_classes import EmptyForm
from webapp.i18n import error_text

bp = Blueprint("consent", __name__, url_prefix="/dossiers")

ANCHOR = "#consentement-titre"
# which field of the section an error code is about (the message is shown beside it)
FIELD_OF = {
    "svc.consent_part_unknown": "parts", "svc.consent_purpose_unknown": "purpose",
    "svc.consent_category_unknown": "categories", "svc.consent_basis_unknown": "basis",
    "svc.consent_witness_required": "witness", "svc.consent_witness_too_long": "witness",
    "svc.consent_until_past": "valid_until", "svc.consent_reason_required": "reason",
    "svc.reason_too_long": "reason",
}
VALUES_KEY, ERRORS_KEY = "consent_values", "consent_errors"


def consent_context(consents: consent.CaseConsents) -> dict[str, Any]:
    """What the case page's consent section shows (``cases/_consent.html``): the decisions,
    and after a refused POST the values sent and the error of each field."""
    return {"consents": consents,
            "consent_values": g.get(VALUES_KEY) or {},
            "consent_errors": g.get(ERRORS_KEY) or {}}


@bp.post("/<int:case_id>/consentement")
@login_required
def record(case_id: int) -> Response | tuple[str, int]:
    """Record the household's consent: parts, purpose, categories, basis, witness, end."""
    form = request.form
    raw = form.get("valid_until", "").strip()
    until = _day(raw)
    if raw and until is None:
        return _refused(case_id, "valid_until", gettext(
            "Date de fin de validité invalide : le format attendu est JJ/MM/AAAA."), 422)
    return _act(case_id, lambda: consent.record(
        get_session(), clock(), actor(), case_id, form.getlist("parts"),
        form.get("purpose", ""), form.getlist("categories"), form.get("basis", ""),
        witness=form.get("witness", ""), valid_until=until),
        gettext("Consentement de la personne enregistré."))


@bp.post("/<int:case_id>/consentement/retrait")
@login_required
def withdraw(case_id: int) -> Response | tuple[str, int]:
    """Withdraw the consent in force for a part of the case (one purpose, or all), with a
    reason."""
    form = request.form
    return _act(case_id, lambda: consent.withdraw(
        get_session(), clock(), actor(), case_id, form.get("part", ""),
        form.get("reason", ""), purpose=form.get("purpose") or None),
        gettext("Retrait du consentement enregistré : il s'applique dès maintenant."))


def _day(raw: str) -> date | None:
    """The ``AAAA-MM-JJ`` date of a form (None when empty or unreadable)."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    return day if 1900 <= day.year <= 2999 else None


def _act(case_id: int, action: Callable[[], object],
         message: str) -> Response | tuple[str, int]:
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        action()
    except (InvalidInput, Conflict) as exc:  # NotFound and PermissionDenied: 404 and 403
        return _refused(case_id, FIELD_OF.get(exc.code or "", ""), _sentence(exc),
                        409 if isinstance(exc, Conflict) else 422)
    flash(message, "success")
    return redirect(url_for("cases.show", case_id=case_id) + ANCHOR)


def _sentence(exc: EngineError) -> str:
    text = error_text(exc)
    return text[:1].upper() + text[1:] + "."


def _refused(case_id: int, field: str, message: str, status: int) -> tuple[str, int]:
    """The case page again, with the refusal said at the top and beside its field, and what
    was typed kept (nothing was stored)."""
    from webapp.views import cases as case_views  # the case page; it imports this module

    flash(message, "error")
    g.setdefault(VALUES_KEY, {key: (request.form.getlist(key) if key in ("parts", "categories")
                                    else request.form.get(key, ""))
                              for key in request.form if key != "csrf_token"})
    g.setdefault(ERRORS_KEY, {field: message} if field else {})
    return case_views.show(case_id), status
