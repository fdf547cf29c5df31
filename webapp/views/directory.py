"""The directory of services (annuaire): search and filters, an entry's page with its places'
history, the entry form, the places update, deactivation, CSV export and import."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required
from werkzeug.wrappers import Response

from engine.errors import InvalidInput
from engine.services import directory, directory_csv
from engine.services.directory import (
    DOMAINS,
    MEASURES,
    Entry,
    EntryRefused,
    Filters,
)
from engine.services.directory_csv import ImportRefused
from webapp import csv_export
from webapp.auth import actor, chosen_territory
from webapp.db import clock, get_session
from webapp.directory_form_classes import ImportForm, PlacesForm, ServiceForm, number_or_none
from webapp.form_classes import EmptyForm
from webapp.i18n import error_text, select_locale
from webapp.inputs import MAX_PAGE, int_arg

bp = Blueprint("directory", __name__, url_prefix="/annuaire")
MAX_IMPORT_BYTES = 2 * 1024 * 1024


def _choice(name: str, vocabulary: dict[str, str]) -> str | None:
    value = request.args.get(name) or None
    if value is not None and value not in vocabulary:
        abort(400, description=gettext("Filtre « %(name)s » inconnu.", name=name))
    return value


@bp.get("/")
@login_required
def index() -> str:
    """Search the territory's services, with filters, paged."""
    territory = chosen_territory()
    filters = Filters(text=request.args.get("q", ""), measure=_choice("mesure", MEASURES),
                      domain=_choice("domaine", DOMAINS),
                      commune=request.args.get("commune", ""),
                      available_only=request.args.get("places") == "1",
                      inactive=request.args.get("inactifs") == "1")
    page = directory.search(get_session(), actor(), territory, filters,
                            page=int_arg("page", 1, maximum=MAX_PAGE))
    return render_template("directory/list.html", page=page, filters=filters,
                           measures=MEASURES, domains=DOMAINS, args=request.args,
                           territory=territory,
                           coordinates=directory.may_create(actor(), territory))


@bp.get("/<int:service_id>")
@login_required
def show(service_id: int) -> str:
    """An entry: what it offers, where, for whom, its places and their history, contact."""
    service = directory.get(get_session(), actor(), service_id)
    return render_template("directory/show.html", service=service, measures=MEASURES,
                           domains=DOMAINS, places_form=PlacesForm(formdata=None, data={
                               "places": _text(service.entry.places_available),
                               "waiting_list": _text(service.entry.waiting_list)}),
                           action_form=EmptyForm())


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def _choices(form: ServiceForm, organisations: list[tuple[int, str]]) -> None:
    form.organisation_id.choices = [(0, gettext("— Choisir —"))] + organisations
    form.measure.choices = [("", gettext("— Choisir —"))] + list(MEASURES.items())
    form.domains.choices = list(DOMAINS.items())


def _entry(form: ServiceForm) -> Entry:
    return Entry(
        organisation_id=form.organisation_id.data or 0, measure=form.measure.data or "",
        name=form.name.data or "", description=form.description.data or "",
        domains=tuple(form.domains.data or ()),
        communes=tuple(line.strip() for line in (form.communes.data or "").splitlines()
                       if line.strip()),
        public=form.public.data or "", capacity=number_or_none(form.capacity.data),
        places_available=number_or_none(form.places_available.data),
        waiting_list=number_or_none(form.waiting_list.data), phone=form.phone.data or "",
        email=form.email.data or "", address=form.address.data or "",
        hours_walk_in=form.hours_walk_in.data or "",
        hours_appointment=form.hours_appointment.data or "",
        languages=form.languages.data or "", charter_signed=bool(form.charter_signed.data))


def _refused(form: ServiceForm, exc: EntryRefused) -> None:
    """Tie the service's refusals to the form's fields (or to the form when none fits)."""
    for name, messages in exc.errors_in(select_locale()).items():
        target = getattr(form, name, None)
        if target is None:
            form.form_errors.extend(messages)
        else:
            target.errors = list(target.errors) + messages


@bp.route("/nouveau", methods=["GET", "POST"])
@login_required
def new() -> str | Response:
    """Coordinator: add a service to the territory's directory."""
    territory = chosen_territory()
    if not directory.may_create(actor(), territory):
        if request.method == "POST":  # a forged POST: refused by the service, audited
            directory.create(get_session(), clock(), actor(), territory,
                             Entry(organisation_id=0, measure="", name=""))
        abort(403)
    form = ServiceForm()
    _choices(form, directory.organisations_for(get_session(), actor(), territory))
    if form.validate_on_submit():
        try:
            service_id = directory.create(get_session(), clock(), actor(), territory,
                                          _entry(form))
        except EntryRefused as exc:
            _refused(form, exc)
        else:
            flash(gettext("Service ajouté à l'annuaire."), "success")
            return redirect(url_for("directory.show", service_id=service_id))
    return _form_page(form, None, territory)


@bp.route("/<int:service_id>/modifier", methods=["GET", "POST"])
@login_required
def edit(service_id: int) -> str | Response:
    """Edit an entry: coordination, or a person of the organisation running it."""
    service = directory.get(get_session(), actor(), service_id)
    if not service.may_edit:
        if request.method == "POST":
            directory.refuse(get_session(), clock(), actor(), service_id, "update")
        abort(403)
    entry = service.entry
    form = ServiceForm(data={**{k: getattr(entry, k) for k in (
        "organisation_id", "measure", "name", "description", "public", "phone", "email",
        "address", "hours_walk_in", "hours_appointment", "languages", "charter_signed")},
        "domains": list(entry.domains), "communes": "\n".join(entry.communes),
        "capacity": _text(entry.capacity), "places_available": _text(entry.places_available),
        "waiting_list": _text(entry.waiting_list)})
    _choices(form, directory.organisations_for(get_session(), actor(), service.territory_id,
                                               keep=service.organisation_id))
    if form.validate_on_submit():
        try:
            directory.update(get_session(), clock(), actor(), service_id, _entry(form),
                             form.comment.data or "")
        except EntryRefused as exc:
            _refused(form, exc)
        else:
            flash(gettext("Fiche du service enregistrée."), "success")
            return redirect(url_for("directory.show", service_id=service_id))
    return _form_page(form, service, service.territory_id)


def _form_page(form: ServiceForm, service: Any, territory: int) -> str:
    status = 422 if form.errors or form.form_errors else 200
    return render_template("directory/form.html", form=form, service=service,
                           territory=territory), status  # type: ignore[return-value]


@bp.post("/<int:service_id>/places")
@login_required
def places(service_id: int) -> str | Response:
    """Update the places available now, with a comment (kept in the history)."""
    form = PlacesForm()
    if form.validate_on_submit():
        try:
            directory.update_places(get_session(), clock(), actor(), service_id,
                                    int(form.places.data), form.comment.data or "",
                                    number_or_none(form.waiting_list.data))
        except EntryRefused as exc:
            for name, messages in exc.errors_in(select_locale()).items():
                target = getattr(form, "places" if name == "places_available" else name, None)
                if target is not None:
                    target.errors = list(target.errors) + messages
        else:
            flash(gettext("Places disponibles mises à jour."), "success")
            return redirect(url_for("directory.show", service_id=service_id))
    service = directory.get(get_session(), actor(), service_id)
    if not service.may_edit:
        directory.refuse(get_session(), clock(), actor(), service_id, "places")
    return render_template("directory/show.html", service=service, measures=MEASURES,
                           domains=DOMAINS, places_form=form,
                           action_form=EmptyForm()), 422  # type: ignore[return-value]


@bp.post("/<int:service_id>/etat")
@login_required
def set_active(service_id: int) -> Response:
    """Coordinator: deactivate an entry, or bring it back (``actif`` = 1)."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    active = request.form.get("actif") == "1"
    directory.set_active(get_session(), clock(), actor(), service_id, active)
    flash(gettext("Service remis dans l'annuaire.") if active else
          gettext("Service retiré de l'annuaire (sa fiche et son historique restent)."),
          "success")
    return redirect(url_for("directory.show", service_id=service_id))


@bp.get("/export.csv")
@login_required
def export() -> Response:
    """Coordinator: the territory's directory as CSV (data·inclusion's column names)."""
    territory = chosen_territory()
    rows = directory_csv.export_rows(get_session(), clock(), actor(), territory)
    return csv_export.response(rows, "annuaire.csv")


@bp.route("/import", methods=["GET", "POST"])
@login_required
def import_file() -> str | Response:
    """Coordinator: create or update entries from a CSV file, checked whole first."""
    territory = chosen_territory()
    if not directory.may_create(actor(), territory):
        if request.method == "POST":  # a forged POST: refused by the service, audited
            directory_csv.import_csv(get_session(), clock(), actor(), territory, "")
        abort(403)
    form = ImportForm()
    problems: list[str] = []
    error: str | None = None
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read(MAX_IMPORT_BYTES + 1) if upload else b""
        try:
            if not data:
                raise InvalidInput(code="svc.directory_import_empty")
            if len(data) > MAX_IMPORT_BYTES:
                raise InvalidInput(code="svc.directory_import_too_big",
                                   maximum=directory_csv.MAX_IMPORT_LINES)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInput(code="svc.directory_import_unreadable") from exc
            done = directory_csv.import_csv(get_session(), clock(), actor(), territory, text)
        except ImportRefused as exc:
            error, problems = error_text(exc), exc.lines_in(select_locale())
        except InvalidInput as exc:
            error = error_text(exc)
        else:
            flash(gettext("Import terminé : %(created)s service(s) ajouté(s), %(updated)s "
                          "modifié(s).", created=done.created, updated=done.updated), "success")
            return redirect(url_for("directory.index", territoire=territory))
    status = 422 if error else 200
    return render_template("directory/import.html", form=form, error=error,
                           problems=problems, territory=territory,
                           columns=directory.COLUMNS), status  # type: ignore[return-value]
