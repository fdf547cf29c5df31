"""Administrators: overdue dashboard, incidents and repairs, users, organisations, audit log."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext, ngettext
from flask_login import login_required
from werkzeug.wrappers import Response as WerkzeugResponse

from engine.errors import Conflict, InvalidInput, NotFound
from engine.services import access, audit, cases, moves, oversight, territories, timers, users
from engine.services import circuits as circuit_service
from webapp import csv_export, oidc
from webapp.auth import actor
from webapp.db import clock, get_session
from webapp.form_classes import EmptyForm
from webapp.i18n import error_text, in_words, select_locale
from webapp.inputs import MAX_PAGE, date_arg, int_arg, int_list

bp = Blueprint("admin", __name__, url_prefix="/supervision")
VIEWS: dict[str, oversight.View] = {"retard": "overdue", "echeances": "coming",
                                    "sans-echeance": "no_deadline"}


def _filters() -> oversight.Filters:
    args = request.args
    return oversight.Filters(territory_id=int_arg("territoire"), circuit_id=int_arg("circuit"),
                             step=args.get("etape") or None,
                             organisation_id=int_arg("organisation"),
                             role=args.get("role") or None)


def _view() -> oversight.View:
    name = request.args.get("vue", "retard")
    if name not in VIEWS:
        abort(400)
    return VIEWS[name]


@bp.get("/")
@login_required
def dashboard() -> str:
    """Overdue steps (or coming deadlines, or steps waiting without deadline), with counts."""
    view, filters = _view(), _filters()
    # the counts first: the overdue list takes its total from them (one count less)
    counts = oversight.counts(get_session(), clock(), actor(), filters) \
        if view == "overdue" else None
    page = oversight.steps(get_session(), clock(), actor(), view, filters,
                           sort=request.args.get("tri", "due"),
                           page=int_arg("page", 1, maximum=MAX_PAGE),
                           older_than_days=int_arg("jours", 14, minimum=0,
                                                   maximum=oversight.MAX_DAYS),
                           counted=counts)
    history = oversight.history(get_session(), actor(), territory_id=filters.territory_id)
    return render_template("admin/dashboard.html", page=page, counts=counts, history=history,
                           view=request.args.get("vue", "retard"), args=request.args,
                           now=clock().now(), **_choices())


def _choices() -> dict[str, object]:
    """Territories, circuits, steps (by name), roles (by name) and organisations the filters
    offer; the steps are those of the chosen circuit, else of every circuit."""
    session, me = get_session(), actor()
    places, organisations = territories.overseen_places(session, me)
    circuits = [c for t in places for c in circuit_service.list_circuits(session, me, t.id)]
    chosen = int_arg("circuit")
    step_names = sorted({name for c in circuits if chosen in (None, c.id)
                         for _, name in circuit_service.steps_of(session, me, c.id)},
                        key=str.lower)
    roles: dict[str, str] = {}
    for labels in users.role_labels(session, me).values():
        for key, label in labels.items():
            roles.setdefault(key, label)
    return {"territories": places, "organisations": organisations, "circuit_choices": circuits,
            "step_names": step_names,
            "role_choices": sorted(roles.items(), key=lambda pair: pair[1].lower())}


@bp.get("/export.csv")
@login_required
def export() -> Response:
    """The current view as CSV (semicolon-separated, UTF-8 with BOM for spreadsheets)."""
    view = _view()
    rows = oversight.export_rows(get_session(), clock(), actor(), view, _filters())  # refuses
    name = next(key for key, value in VIEWS.items() if value == view)
    return csv_export.response(rows, f"aiguillage-{name}.csv")


@bp.get("/incidents")
@login_required
def incidents() -> str:
    """Timers that failed after their retries."""
    return render_template("admin/incidents.html",
                           incidents=oversight.incidents(get_session(), actor()), form=EmptyForm())


@bp.post("/minuteries/<int:timer_id>/relancer")
@login_required
def retry(timer_id: int) -> WerkzeugResponse:
    """Put a failed timer back in the queue."""
    _check_form()
    timers.retry(get_session(), clock(), actor(), timer_id)
    flash(gettext("La minuterie sera de nouveau déclenchée."), "success")
    return redirect(url_for("admin.incidents"))


@bp.route("/dossiers/<int:case_id>/reparer", methods=["GET", "POST"])
@login_required
def repair(case_id: int) -> str | WerkzeugResponse:
    """Reset a case to an earlier step, or cancel it."""
    if request.method == "POST":
        _check_form()
        step = request.form.get("etape", "")
        if request.form.get("annuler") == "1":
            cases.close(get_session(), clock(), actor(), case_id,
                        request.form.get("motif", "") or gettext("Annulé par l'administration"),
                        cancel=True)
            flash(gettext("Dossier annulé."), "success")
        else:
            cases.reset(get_session(), clock(), actor(), case_id, step)
            flash(gettext("Le dossier est revenu à l'étape choisie."), "success")
        return redirect(url_for("cases.show", case_id=case_id))
    detail, steps = cases.repair_page(get_session(), clock(), actor(), case_id)
    return render_template("admin/repair.html", detail=detail, form=EmptyForm(), steps=steps)


@bp.route("/circuits/<int:circuit_id>/versions/<int:version_id>/deplacer",
          methods=["GET", "POST"])
@login_required
def move_cases(circuit_id: int, version_id: int) -> str | WerkzeugResponse:
    """Preview, then move running cases onto a version of their circuit."""
    if request.method == "POST":
        _check_form()
        moved, refused = 0, []
        for case_id in int_list("dossier"):
            try:
                moves.move(get_session(), clock(), actor(), case_id, version_id)
                moved += 1
            except Conflict as exc:
                refused.append(error_text(exc))
        flash(ngettext("%(num)d dossier déplacé.", "%(num)d dossiers déplacés.", moved), "success")
        for reason in refused:
            flash(reason, "error")
        return redirect(url_for("admin.move_cases", circuit_id=circuit_id, version_id=version_id))
    rows = moves.preview(get_session(), clock(), actor(), circuit_id, version_id)
    return render_template("admin/moves.html", rows=rows, form=EmptyForm(),
                           circuit_id=circuit_id, version_id=version_id)


@bp.get("/utilisateurs")
@login_required
def people() -> str:
    """Users of the administered territories, their roles and organisations."""
    return _people_page()


def _people_page(**shown: object) -> str:
    session = get_session()
    found, organisations = territories.overseen_places(session, actor())
    places = {t.id: t for t in found}
    role_maps = {t: territories.role_map(session, actor(), t) for t in places}
    return render_template("admin/people.html", people=users.administered_users(session, actor()),
                           territories=places, organisations=organisations, form=EmptyForm(),
                           kinds=territories.ORGANISATION_KINDS, role_maps=role_maps,
                           role_labels=users.role_labels(session, actor()),
                           organisation_names={o.id: o.name for o in organisations}, **shown)


@bp.route("/utilisateurs/<int:user_id>/roles", methods=["GET", "POST"])
@login_required
def roles(user_id: int) -> str | WerkzeugResponse:
    """An account's roles: add one (with its organisation) or withdraw one. The page needs
    the right its changes need: administering every territory the account belongs to."""
    session, me = get_session(), actor()
    access.overseen(me)  # someone who administers nothing: refused, as on the people page
    if request.method == "POST":
        _check_form()
        users.account(session, me, user_id)  # an account out of reach: refused first
        territory_id, _, role = request.form.get("role", "").partition(":")
        try:
            if not territory_id.isdigit() or not role or len(territory_id) > 10:
                raise InvalidInput(code="svc.role_choice_invalid")
            users.add_membership(session, clock(), me, user_id, int(territory_id), role,
                                 int_arg("organisation", form=True))
        except (Conflict, InvalidInput) as exc:
            return make_response(_roles_page(user_id, error=error_text(exc)), 422)
        except NotFound as exc:
            if exc.code != "svc.organisation_unknown":
                raise
            return make_response(_roles_page(user_id, error=error_text(exc)), 422)
        flash(gettext("Rôle ajouté."), "success")
        return redirect(url_for("admin.roles", user_id=user_id))
    return _roles_page(user_id)


def _roles_page(user_id: int, **shown: object) -> str:
    session, me = get_session(), actor()
    person = users.account(session, me, user_id)  # refuses
    found, organisations = territories.overseen_places(session, me)
    return render_template("admin/roles.html", person=person,
                           territories={t.id: t for t in found}, organisations=organisations,
                           organisation_names={o.id: o.name for o in organisations},
                           role_labels=users.role_labels(session, me), form=EmptyForm(),
                           identity_since=users.identity_bound_at(session, me, user_id),
                           provider=oidc.provider_name(), when=in_words, **shown)


def _shown_once(**shown: object) -> WerkzeugResponse:
    """The people page with a temporary password in its body, the only place it ever goes:
    not in a flash message (the session), and not kept by any cache."""
    response = make_response(_people_page(**shown))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/utilisateurs")
@login_required
def create_person() -> WerkzeugResponse:
    """Create an account with a first role; its temporary password is shown once."""
    _check_form()
    form = request.form
    try:
        created = users.create_person(get_session(), clock(), actor(), form.get("email", ""),
                                      form.get("nom", ""), int_arg("territoire", form=True) or 0,
                                      form.get("role", ""), int_arg("organisation", form=True))
    except (Conflict, InvalidInput) as exc:
        status = 409 if isinstance(exc, Conflict) else 422
        return make_response(_people_page(error=error_text(exc), values=form), status)
    return _shown_once(created=created)


@bp.post("/utilisateurs/<int:user_id>/<string:action>")
@login_required
def person_action(user_id: int, action: str) -> WerkzeugResponse:
    """Deactivate, reactivate, reset password (shown once), add a role."""
    _check_form()
    session, now, me = get_session(), clock(), actor()
    try:
        if action == "desactiver":
            users.set_active(session, now, me, user_id, False)
            flash(gettext("Compte désactivé."), "success")
        elif action == "reactiver":
            users.set_active(session, now, me, user_id, True)
            flash(gettext("Compte réactivé."), "success")
        elif action == "mot-de-passe":
            password = users.reset_password(session, now, me, user_id)
            return _shown_once(reset={"user_id": user_id, "password": password})
        elif action == "delier-identite":  # the account's roles page sends it
            if users.unlink_identity(session, now, me, user_id, oidc.provider_name()):
                flash(gettext("Identité %(name)s déliée : la prochaine connexion par "
                              "%(name)s liera le compte à la personne qui se connecte.",
                              name=oidc.provider_name()), "success")
            return redirect(url_for("admin.roles", user_id=user_id))
        elif action == "role":
            users.add_membership(session, now, me, user_id,
                                 int_arg("territoire", form=True) or 0,
                                 request.form.get("role", ""),
                                 int_arg("organisation", form=True))
            flash(gettext("Rôle ajouté."), "success")
        else:
            abort(404)
    except Conflict as exc:
        flash(error_text(exc), "error")
    return redirect(url_for("admin.people"))


@bp.post("/roles/<int:membership_id>/retirer")
@login_required
def remove_role(membership_id: int) -> WerkzeugResponse:
    """Withdraw a role."""
    _check_form()
    back = int_arg("compte", form=True)  # the account's roles page, when it sent the form
    try:
        user_id = users.remove_membership(get_session(), clock(), actor(), membership_id)
        flash(gettext("Rôle retiré."), "success")
        if back is not None:
            return redirect(url_for("admin.roles", user_id=user_id))
    except Conflict as exc:
        flash(error_text(exc), "error")
        if back is not None:
            return redirect(url_for("admin.roles", user_id=back))
    return redirect(url_for("admin.people"))


@bp.post("/organisations")
@login_required
def create_organisation() -> WerkzeugResponse:
    """Add an organisation to a territory."""
    _check_form()
    try:
        territories.create_organisation(get_session(), clock(), actor(),
                                        int_arg("territoire", form=True) or 0,
                                        request.form.get("nom", "").strip(),
                                        request.form.get("type", ""))
        flash(gettext("Organisation ajoutée."), "success")
    except (Conflict, InvalidInput) as exc:
        flash(error_text(exc), "error")
    return redirect(url_for("admin.people"))


def _audit_filters() -> audit.AuditFilters:
    args = request.args
    return audit.AuditFilters(person=(args.get("personne") or "")[:254] or None,
                              case_reference=(args.get("dossier") or "")[:40] or None,
                              action=(args.get("action") or "")[:60] or None,
                              since=date_arg("du"), until=date_arg("au"))


@bp.get("/journal")
@login_required
def journal() -> str:
    """The audit log, filtered by person, case, action and period, in words."""
    lang = select_locale()
    rows, total = audit.search(get_session(), actor(), _audit_filters(),
                               page=int_arg("page", 1, maximum=MAX_PAGE), lang=lang)
    return render_template("admin/journal.html", rows=rows, total=total, args=request.args,
                           actions=audit.actions(lang))


@bp.get("/journal.csv")
@login_required
def journal_export() -> Response:
    """The filtered audit log as CSV."""
    filters = _audit_filters()
    access.overseen(actor())  # refuse before streaming starts
    return csv_export.response(audit.export_rows(get_session(), actor(), filters,
                                                 lang=select_locale()),
                               "aiguillage-journal.csv")


def _check_form() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)
    access.overseen(actor())

