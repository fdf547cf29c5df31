"""Supervision: the API keys of the territory's organisations (issue #18, item 2).

The administrators list the keys, create one (its token shown once, on the page that answers
the creation, never stored nor put in the session), renew one (a new token, the old one
stopping at once or after an overlap) and revoke one; rotate and revoke ask for confirmation
first. A key of a territory the administrator does not run is "not found".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext, lazy_gettext, ngettext
from flask_login import login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import RadioField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired
from wtforms.widgets import CheckboxInput, ListWidget

from engine.errors import Conflict, InvalidInput, NotFound
from engine.services import access, api_keys, territories, users
from engine.services import circuits as circuit_service
from webapp.auth import actor
from webapp.db import clock, get_session
from webapp.form_classes import EmptyForm, choose_first, chosen_id
from webapp.i18n import error_text, in_words
from webapp.inputs import int_arg

bp = Blueprint("api_keys", __name__, url_prefix="/supervision/cles-api")
REQUIRED = lazy_gettext("Ce champ est à renseigner.")
OVERLAPS = {"0": timedelta(0), "24": timedelta(hours=24)}


class KeyForm(FlaskForm):  # type: ignore[misc]
    """Create a key: which software, for which organisation, its roles, rights, circuits."""

    name = StringField(lazy_gettext("Nom du logiciel"), validators=[
        DataRequired(lazy_gettext("Indiquez le nom du logiciel, par exemple « Logiciel "
                                  "SI-SIAO »."))])
    organisation = SelectField(lazy_gettext("Organisation"), coerce=chosen_id,
                               validators=[InputRequired(lazy_gettext(
                                   "Choisissez l'organisation."))])
    roles = SelectMultipleField(lazy_gettext("Rôles qu’il tient dans le territoire"),
                                description=lazy_gettext(
                                    "Avec le rôle de la coordination, le logiciel lit tous "
                                    "les dossiers du territoire (de ses circuits)."),
                                option_widget=CheckboxInput(),
                                widget=ListWidget(prefix_label=False),
                                validators=[DataRequired(lazy_gettext(
                                    "Cochez au moins un rôle."))])
    rights = RadioField(lazy_gettext("Droits"), choices=[
        SelectChoice("read", lazy_gettext("lecture")),
        SelectChoice("write", lazy_gettext("lecture et écriture"))],
        default="read", validators=[InputRequired(REQUIRED)])
    circuits = SelectMultipleField(lazy_gettext("Circuits (aucun coché : tous les circuits "
                                                "du territoire)"), coerce=int,
                                   option_widget=CheckboxInput(),
                                   widget=ListWidget(prefix_label=False))


class RotateForm(FlaskForm):  # type: ignore[misc]
    """Renew a key: when the old token stops."""

    overlap = RadioField(lazy_gettext("L’ancienne clé cesse de fonctionner"), choices=[
        SelectChoice("0", lazy_gettext("tout de suite")),
        SelectChoice("24", lazy_gettext("dans 24 heures (le temps d’installer la nouvelle)"))],
        default="0")


def ago(instant: datetime | None, now: datetime) -> str:
    """« il y a 3 min », « il y a 2 h », else the date; « jamais » when never used."""
    if instant is None:
        return gettext("jamais")
    seconds = max(0, int((now - instant).total_seconds()))
    if seconds < 60:
        return gettext("à l’instant")
    if seconds < 3600:
        return ngettext("il y a %(num)d min", "il y a %(num)d min", seconds // 60)
    if seconds < 86400:
        return ngettext("il y a %(num)d h", "il y a %(num)d h", seconds // 3600)
    return in_words(instant)


def _sentence(exc: Exception) -> str:
    """A refusal as a sentence of the flash: « Cette clé d’API est déjà révoquée. »
    (``capitalize`` would lower « API »)."""
    text = error_text(exc)
    return text[:1].upper() + text[1:] + "."


def _territory() -> int:
    """The territory asked for (``territoire``), else the first one administered; one the
    actor does not administer is not found."""
    mine = access.overseen(actor())
    chosen = int_arg("territoire")
    if chosen is None:
        return mine[0]
    if chosen not in mine:
        abort(404)
    return chosen


@bp.get("/")
@login_required
def index() -> str:
    """Every key of the territories the actor administers."""
    session, me, now = get_session(), actor(), clock().now()
    places, _ = territories.overseen_places(session, me)
    labels = users.role_labels(session, me)
    rows = []
    for place in places:
        titles = {c.id: c.title for c in circuit_service.list_circuits(session, me, place.id)}
        for item in api_keys.list_keys(session, me, place.id):
            rows.append((place, item, [labels.get(place.id, {}).get(r, r) for r in item.roles],
                         None if item.circuits is None
                         else [titles.get(c, gettext("circuit retiré")) for c in item.circuits]))
    return render_template("api_keys/index.html", rows=rows, places=places, now=now,
                           when=in_words, ago=ago, several=len(places) > 1)


def _key_form(territory_id: int) -> KeyForm:
    session, me = get_session(), actor()
    form = KeyForm()
    _, organisations = territories.overseen_places(session, me)
    form.organisation.choices = choose_first(
        gettext("— Choisissez l'organisation —"),
        [(o.id, o.name) for o in organisations if o.territory_id == territory_id])
    form.roles.choices = api_keys.key_roles(session, territory_id)
    form.circuits.choices = [(c.id, c.title) for c in
                             circuit_service.list_circuits(session, me, territory_id)]
    return form


@bp.route("/nouvelle", methods=["GET", "POST"])
@login_required
def new() -> WerkzeugResponse | str:
    """The creation form; on success, the token, shown once."""
    territory_id = _territory()
    form = _key_form(territory_id)
    error = None
    if form.validate_on_submit():
        try:
            issued = api_keys.create(
                get_session(), clock(), actor(), territory_id, form.organisation.data,
                form.name.data or "", form.roles.data or [],
                ["read", "write"] if form.rights.data == "write" else ["read"],
                form.circuits.data or None)
        except (InvalidInput, Conflict, NotFound) as exc:
            error = error_text(exc)
        else:
            return _shown_once(issued, created=True)
    elif form.is_submitted():
        error = gettext("Le formulaire contient des erreurs : corrigez les champs signalés.")
    page = render_template("api_keys/new.html", form=form, error=error,
                           territory_id=territory_id)
    return make_response(page, 422) if error else page


def _shown_once(issued: api_keys.IssuedKey, *, created: bool) -> WerkzeugResponse:
    """The token page: the only place the token ever goes, kept by no cache."""
    response = make_response(render_template("api_keys/token.html", issued=issued,
                                              created=created))
    response.headers["Cache-Control"] = "no-store"
    return response


def _item(key_id: int) -> tuple[int, api_keys.KeyItem]:
    session, me = get_session(), actor()
    access.overseen(me)
    territory_id = api_keys.territory_of(session, me, key_id)
    return territory_id, api_keys.key(session, me, territory_id, key_id)


@bp.route("/<int:key_id>/renouveler", methods=["GET", "POST"])
@login_required
def rotate(key_id: int) -> WerkzeugResponse | str:
    """Confirm, then issue a new token for the same software."""
    territory_id, item = _item(key_id)
    form = RotateForm()
    if request.method == "POST":
        overlap = OVERLAPS.get(request.form.get("overlap", "0"))
        if not EmptyForm().validate_on_submit() or overlap is None:
            abort(400)
        try:
            issued = api_keys.rotate(get_session(), clock(), actor(), territory_id, key_id,
                                     overlap)
        except Conflict as exc:
            flash(_sentence(exc), "error")
            return redirect(url_for("api_keys.index"))
        return _shown_once(issued, created=False)
    return render_template("api_keys/confirm.html", item=item, form=form, action="rotate",
                           now=clock().now(), when=in_words)


@bp.route("/<int:key_id>/revoquer", methods=["GET", "POST"])
@login_required
def revoke(key_id: int) -> WerkzeugResponse | str:
    """Confirm, then stop a key now."""
    territory_id, item = _item(key_id)
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            api_keys.revoke(get_session(), clock(), actor(), territory_id, key_id)
        except Conflict as exc:
            flash(_sentence(exc), "error")
        else:
            flash(gettext("Clé « %(name)s » révoquée : elle ne fonctionne plus.",
                          name=item.name), "success")
        return redirect(url_for("api_keys.index"))
    if form.is_submitted():
        abort(400)
    return render_template("api_keys/confirm.html", item=item, form=form, action="revoke",
                           now=clock().now(), when=in_words)
