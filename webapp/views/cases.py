"""Cases: list and search, start (saisine), case page with its diagram, close."""

from __future__ import annotations

from datetime import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date, gettext, lazy_gettext, ngettext
from flask_login import login_required
from werkzeug.wrappers import Response as WerkzeugResponse

from engine.errors import Conflict, FormInvalid, NotFound
from engine.services import case_messages, case_page, cases, circuits, households, users
from engine.services.results import CaseStatus
from webapp import postdata
from webapp.auth import actor, chosen_territory
from webapp.db import clock, get_session
from webapp.form_classes import CloseForm, EmptyForm, SearchForm
from webapp.i18n import PARIS
from webapp.inputs import MAX_PAGE, int_arg
from webapp.views.consent import consent_context

bp = Blueprint("cases", __name__, url_prefix="/dossiers")
STATUSES = {CaseStatus.OPEN: lazy_gettext("En cours"),
            CaseStatus.COMPLETED: lazy_gettext("Terminé"),
            CaseStatus.CLOSED: lazy_gettext("Clôturé"),
            CaseStatus.CANCELLED: lazy_gettext("Annulé"),
            CaseStatus.ERROR: lazy_gettext("En erreur")}


@bp.get("/")
@login_required
def index() -> str:
    """Search cases by reference or household name, with filters."""
    form = SearchForm(request.args)
    territory = chosen_territory()
    circuit_id = int_arg("circuit")
    page = cases.search(get_session(), clock(), actor(), territory, text=form.q.data or "",
                        circuit_id=circuit_id, status=request.args.get("statut") or None,
                        step=request.args.get("etape") or None, referent_id=_referent(),
                        page=int_arg("page", 1, maximum=MAX_PAGE))
    choices = circuits.list_circuits(get_session(), actor(), territory)
    steps = circuits.steps_of(get_session(), actor(), circuit_id) \
        if circuit_id in {c.id for c in choices} else []
    referents = users.people_with_role(get_session(), actor(), territory, "referent")
    return render_template("cases/list.html", page=page, form=form, statuses=STATUSES,
                           circuits=choices, steps=steps, referents=referents,
                           args=request.args, now=clock().now(),
                           coordinates=actor().is_coordinator(territory))


def _referent() -> int | None:
    if request.args.get("referent") == "moi":
        return actor().user_id
    return int_arg("referent")


@bp.route("/nouveau", methods=["GET", "POST"])
@login_required
def new() -> str | WerkzeugResponse | tuple[str, int]:
    """Start a case: choose a circuit, fill its start form, get the reference."""
    territory = chosen_territory()
    choices = circuits.list_circuits(get_session(), actor(), territory)
    circuit_id = int_arg("circuit") or int_arg("circuit", form=True)
    if circuit_id is None:
        return render_template("cases/choose.html", circuits=choices)
    circuit, form = circuits.start_form(get_session(), actor(), circuit_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            abort(400)
        data, errors = postdata.parse(form, request.form)
        if not errors:
            try:
                summary = cases.start(get_session(), clock(), actor(), circuit_id, data)
            except FormInvalid as exc:
                errors = exc.errors
            else:
                flash(gettext("Dossier %(reference)s créé.", reference=summary.reference),
                      "success")
                _duplicates_found(summary.id)
                if not cases.reachable(get_session(), clock(), actor(), summary.id):
                    # no part in it for the person's organisation: the platform takes it on
                    flash(gettext("Il est transmis à la plateforme ; votre organisation n'a "
                                  "pas de part dans ce dossier, il n'apparaît donc pas dans "
                                  "vos listes."), "info")
                    return redirect(url_for("cases.index"))
                return redirect(url_for("cases.show", case_id=summary.id))
    page = render_template("cases/new.html", circuit=circuit, schema=form, errors=errors,
                           values=request.form.to_dict(), form=EmptyForm())
    return (page, 422) if errors else page


def _duplicates_found(case_id: int) -> None:
    """Tell a coordinator that the household just opened is likely known already."""
    found = households.found_for(get_session(), clock(), actor(), case_id)
    if found:
        flash(ngettext("Ce ménage ressemble à %(num)d ménage déjà connu : vérifiez-le dans "
                       "« Doublons ».", "Ce ménage ressemble à %(num)d ménages déjà connus : "
                       "vérifiez-les dans « Doublons ».", found), "info")


@bp.get("/<int:case_id>")
@login_required
def show(case_id: int) -> str:
    """The case file: household, status, current steps, timeline, diagram."""
    shown = case_page.page(get_session(), clock(), actor(), case_id)
    return render_template("cases/show.html", detail=shown.detail, statuses=STATUSES,
                           close=CloseForm(), now=clock().now(), panel=shown.panel,
                           form=EmptyForm(), **consent_context(shown.consents),
                           orientations=shown.orientations, household=shown.household,
                           can_close=shown.detail.can_close, awaited=shown.awaited,
                           since=_since)


def _since(instant: datetime) -> str:
    """« 7 déc. 2026 »: the day an outside answer has been awaited since, in Paris."""
    return str(format_date(instant.astimezone(PARIS).date(), "d MMM y"))


@bp.route("/<int:case_id>/reponses/<name>", methods=["GET", "POST"])
@login_required
def message(case_id: int, name: str) -> str | WerkzeugResponse | tuple[str, int]:
    """Coordination: enter by hand an outside answer the case awaits (the CAF's, the
    SIAO's...), with its form; POST records it as the partner's software would."""
    try:
        item, schema = case_messages.form_of(get_session(), clock(), actor(), case_id, name)
    except NotFound as exc:
        if exc.code != "svc.message_not_awaited":
            raise
        # the case is read, and no longer waits for it: received meanwhile, or a double submit
        flash(gettext("Cette réponse n'est plus attendue : elle a déjà été enregistrée, ou le "
                      "dossier a avancé sans elle. Rien n'a été enregistré."), "error")
        return redirect(url_for("cases.show", case_id=case_id))
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            abort(400)
        data, errors = postdata.parse(schema, request.form)
        if not errors:
            try:
                case_messages.receive(get_session(), clock(), actor(), item.reference, name,
                                      data)
            except FormInvalid as exc:
                errors = exc.errors
            except Conflict:  # received meanwhile (double submit, the partner's API)
                flash(gettext("« %(label)s » n'est plus attendue : elle a déjà été enregistrée, "
                              "ou le dossier a avancé sans elle. Rien n'a été enregistré.",
                              label=item.label), "error")
                return redirect(url_for("cases.show", case_id=case_id))
            else:
                flash(gettext("« %(label)s » enregistrée pour le dossier %(reference)s.",
                              label=item.label, reference=item.reference), "success")
                return redirect(url_for("cases.show", case_id=case_id))
    values = postdata.posted(request.form) if errors else {}
    page = render_template("cases/message.html", item=item, schema=schema, errors=errors,
                           values=values, form=EmptyForm(), case_id=case_id,
                           since=_since(item.since))
    return (page, 422) if errors else page


@bp.get("/<int:case_id>/diagramme")
@login_required
def diagram(case_id: int) -> WerkzeugResponse:
    """The circuit diagram and the case's progress, for the viewer."""
    try:
        xml, current, done = cases.diagram(get_session(), clock(), actor(), case_id)
    except NotFound:
        abort(404)
    return jsonify(xml=xml, current=current, done=done)


@bp.post("/<int:case_id>/cloturer")
@login_required
def close(case_id: int) -> Response | WerkzeugResponse:
    """Coordinator: close or cancel the case with a reason."""
    form = CloseForm()
    if not form.validate_on_submit():
        if len(form.reason.data or "") > cases.MAX_REASON:
            flash(gettext("Motif trop long (%(maximum)s caractères au plus).",
                          maximum=cases.MAX_REASON), "error")
        else:
            flash(gettext("Indiquez un motif de clôture."), "error")
        return redirect(url_for("cases.show", case_id=case_id))
    cancel = request.form.get("annuler") == "1"
    cases.close(get_session(), clock(), actor(), case_id, form.reason.data, cancel=cancel)
    flash(gettext("Dossier annulé.") if cancel else gettext("Dossier clôturé."), "success")
    return redirect(url_for("cases.show", case_id=case_id))
