"""Sessions of the commission (séances): the list, a session's page with its agenda, planning
a session by hand, recording the decision of each case, sending the files, closing the
session, and a case's file as the members read it while the files are out."""

from __future__ import annotations

import re
from datetime import datetime, time

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from engine.errors import Conflict, FormInvalid, InvalidInput, InvalidTransition
from engine.services import commission_sessions
from engine.services.access import runs_sessions, session_territories
from webapp import postdata
from webapp.auth import actor, chosen_territory
from webapp.db import clock, get_session
from webapp.form_classes import EmptyForm
from webapp.i18n import error_text
from webapp.inputs import int_arg

bp = Blueprint("commission", __name__, url_prefix="/commission/seances")


@bp.app_template_global()
def session_places() -> list[int]:
    """Territories whose commission sessions the signed-in user sees (navigation link)."""
    return session_territories(current_user.actor) if current_user.is_authenticated else []


@bp.app_template_global()
def session_when(at: datetime) -> str:
    """« mardi 5 janvier 2027 à 14 h »."""
    return commission_sessions.when(at)


def _planner_territories() -> list[int]:
    return [t for t in actor().territories() if runs_sessions(actor(), t)]


@bp.get("/")
@login_required
def index() -> str:
    """The coming sessions (or the closed ones), and planning one by hand."""
    if not session_places():
        abort(403)
    past = request.args.get("closes") == "1"
    listed = commission_sessions.list_sessions(get_session(), clock(), actor(), past=past)
    planners = _planner_territories()
    return render_template("commission/list.html", sessions=listed, past=past,
                           planners=planners, form=EmptyForm(), values={}, error=None,
                           territory=chosen_territory(planners) if planners else None,
                           names=commission_sessions.territory_names(get_session(), planners))


@bp.post("/planifier")
@login_required
def plan() -> Response | tuple[str, int]:
    """Plan a session: its day, its time and its place (the secretariat or coordination)."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    planners = _planner_territories()
    if not planners:
        abort(403)
    territory = int_arg("territoire", form=True) or planners[0]
    if territory not in planners:
        abort(403)
    day, hour = request.form.get("jour", "").strip(), request.form.get("heure", "").strip()
    place = request.form.get("lieu", "")
    error = None
    starts_at = None
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", day) or \
            not re.fullmatch(r"[0-9]{2}:[0-9]{2}", hour):
        error = gettext("Indiquez le jour (JJ/MM/AAAA) et l'heure (HH:MM) de la séance.")
    else:
        try:
            starts_at = commission_sessions.paris_time(datetime.fromisoformat(day).date(),
                                                       time.fromisoformat(hour))
        except ValueError:
            error = gettext("Cette date n'existe pas : vérifiez le jour et l'heure.")
    if starts_at is not None:
        try:
            made = commission_sessions.plan(get_session(), clock(), actor(), territory,
                                            starts_at, place)
        except InvalidInput as exc:
            error = error_text(exc)
        else:
            flash(gettext("Séance du %(when)s planifiée.", when=session_when(made.starts_at)),
                  "success")
            return redirect(url_for("commission.show", session_id=made.id))
    listed = commission_sessions.list_sessions(get_session(), clock(), actor())
    page = render_template("commission/list.html", sessions=listed, past=False,
                           planners=planners, form=EmptyForm(), error=error,
                           values={"jour": day, "heure": hour, "lieu": place},
                           territory=territory,
                           names=commission_sessions.territory_names(get_session(), planners))
    return page, 422


@bp.get("/<int:session_id>")
@login_required
def show(session_id: int) -> str:
    """A session: its dates, its agenda, and what the secretariat does there."""
    detail = commission_sessions.detail(get_session(), clock(), actor(), session_id)
    return render_template("commission/show.html", detail=detail, form=EmptyForm())


@bp.route("/<int:session_id>/decision/<int:case_id>", methods=["GET", "POST"])
@login_required
def decide(session_id: int, case_id: int) -> str | Response | tuple[str, int]:
    """« Enregistrer la décision » of one case on the agenda: the decision form; recording it
    resumes the case's own circuit."""
    session, now = get_session(), clock()
    detail = commission_sessions.detail(session, now, actor(), session_id)
    item = next((a for a in detail.agenda if a.case_id == case_id), None)
    if item is None or not detail.runs:
        abort(404 if item is None else 403)
    errors: dict[str, list[str]] = {}
    values: dict[str, object] = {}
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            abort(400)
        data, errors = postdata.parse(detail.decision_form, request.form)
        values = postdata.posted(request.form)
        if not errors:
            try:
                commission_sessions.record_decision(session, now, actor(), session_id,
                                                    case_id, data)
            except FormInvalid as exc:
                errors = exc.errors
            except (Conflict, InvalidTransition) as exc:
                flash(error_text(exc).capitalize(), "error")
                return redirect(url_for("commission.show", session_id=session_id))
            else:
                flash(gettext("Décision enregistrée pour le dossier %(reference)s : son "
                              "circuit reprend.", reference=item.reference), "success")
                return redirect(url_for("commission.show", session_id=session_id))
    page = render_template("commission/decide.html", detail=detail, item=item,
                           form=EmptyForm(), errors=errors, values=values)
    return (page, 422) if errors else page


@bp.post("/<int:session_id>/diffuser")
@login_required
def send(session_id: int) -> Response:
    """Send the agenda and files to the members now (the scheduler does it M days before)."""
    return _act(session_id, commission_sessions.send_files,
                gettext("Ordre du jour et dossiers diffusés aux membres de la commission."))


@bp.post("/<int:session_id>/clore")
@login_required
def close(session_id: int) -> Response:
    """« Clore la séance »: the members no longer read the files."""
    return _act(session_id, commission_sessions.close,
                gettext("Séance close : les dossiers ne sont plus consultables par les "
                        "membres."))


def _act(session_id: int, action: object, message: str) -> Response:
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        action(get_session(), clock(), actor(), session_id)  # type: ignore[operator]
    except Conflict as exc:
        flash(error_text(exc).capitalize(), "error")
    else:
        flash(message, "success")
    return redirect(url_for("commission.show", session_id=session_id))


@bp.get("/<int:session_id>/dossiers/<int:case_id>")
@login_required
def case_file(session_id: int, case_id: int) -> str:
    """A case's file as the reader may read it for this session (audited)."""
    read = commission_sessions.case_file(get_session(), clock(), actor(), session_id, case_id)
    return render_template("commission/case_file.html", read=read)
