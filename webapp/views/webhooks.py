"""Supervision: the webhooks of the territory's organisations (issue #18, item 3).

The administrators list the subscriptions, create one (its secret shown once, on the page
that answers the creation), deactivate one, read the log of attempts of each and send a
failed delivery again. Only the territories they administer.
"""

from __future__ import annotations

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
from flask_babel import gettext, lazy_gettext
from flask_login import login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired
from wtforms.widgets import CheckboxInput, ListWidget

from engine.errors import InvalidInput, InvalidTransition
from engine.services import access, webhooks
from webapp.auth import actor, chosen_territory
from webapp.db import clock, get_session
from webapp.form_classes import EmptyForm, choose_first, chosen_id
from webapp.i18n import PARIS, error_text, hour_in_words, in_words
from webapp.inputs import int_arg

bp = Blueprint("webhooks", __name__, url_prefix="/supervision/webhooks")
EVENT_LABELS = {
    "step.offered": lazy_gettext("Étape proposée à l'organisation"),
    "orientation.answered": lazy_gettext("Orientation répondue"),
    "case.closed": lazy_gettext("Dossier clos"),
    "step.overdue": lazy_gettext("Étape en retard"),
}


class SubscriptionForm(FlaskForm):  # type: ignore[misc]
    """Subscribe an organisation: where to send, which events."""

    organisation = SelectField(lazy_gettext("Organisation"), coerce=chosen_id,
                               validators=[InputRequired(lazy_gettext(
                                   "Choisissez l'organisation."))])
    url = StringField(lazy_gettext("Adresse de réception"), validators=[
        DataRequired(lazy_gettext("Indiquez l'adresse, par exemple "
                                  "« https://logiciel.exemple.fr/aiguillage »."))])
    events = SelectMultipleField(lazy_gettext("Événements envoyés"),
                                 choices=[SelectChoice(k, v) for k, v in EVENT_LABELS.items()],
                                 option_widget=CheckboxInput(),
                                 widget=ListWidget(prefix_label=False),
                                 validators=[DataRequired(lazy_gettext(
                                     "Cochez au moins un événement."))])


def result(line: webhooks.Attempt) -> str:
    """An attempt in words: « Livré (200) », « Échec : délai dépassé, nouvel essai à
    14 h 05 », « Échec : réponse 500, abandonné »."""
    if line.status_code is not None and 200 <= line.status_code < 300:
        return gettext("Livré (%(code)s)", code=line.status_code)
    cause = line.error or gettext("réponse %(code)s", code=line.status_code)
    if line.next_at is None:
        return gettext("Échec : %(cause)s, abandonné", cause=cause)
    same_day = line.next_at.astimezone(PARIS).date() == line.at.astimezone(PARIS).date()
    hour = hour_in_words(line.next_at)
    if same_day:
        return gettext("Échec : %(cause)s, nouvel essai à %(hour)s", cause=cause, hour=hour)
    return gettext("Échec : %(cause)s, nouvel essai le %(when)s", cause=cause,
                   when=in_words(line.next_at))


def _administered() -> list[int]:
    """The territories the actor administers; 403 when none."""
    mine = sorted(access.administered(actor()))
    if not mine:
        abort(403)
    return mine


def _form(territory_id: int, empty: bool = False) -> SubscriptionForm:
    form = SubscriptionForm(formdata=None) if empty else SubscriptionForm()
    form.organisation.choices = choose_first(
        gettext("— Choisissez l'organisation —"),
        list(webhooks.organisations(get_session(), actor(), territory_id)))
    return form


@bp.route("/", methods=["GET", "POST"])
@login_required
def index() -> WerkzeugResponse:
    """The territory's subscriptions, the form to add one; ``abonnement``: its log."""
    territory_id = chosen_territory(_administered())
    session, me = get_session(), actor()
    form = _form(territory_id)
    error, created = None, None
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                created = webhooks.create(session, clock(), me, territory_id,
                                          form.organisation.data, form.url.data or "",
                                          form.events.data or [])
            except InvalidInput as exc:
                error = error_text(exc)
            else:  # an empty form again: sending it twice creates nothing twice
                form = _form(territory_id, empty=True)
        else:
            error = gettext("Le formulaire comporte des erreurs.")
    chosen = int_arg("abonnement")
    log = webhooks.attempts(session, me, chosen) if chosen is not None else None
    latest: set[int] = set()  # the newest line of each delivery: where « Renvoyer » goes
    if log is not None:
        seen: set[int] = set()
        for line in log[1]:
            if line.outbox_id not in seen:
                seen.add(line.outbox_id)
                latest.add(line.id)
    page = render_template(
        "webhooks/index.html", subscriptions=webhooks.listed(session, me, territory_id),
        form=form, error=error, created=created, log=log, latest=latest,
        territory_id=territory_id, territories=_administered(), events=EVENT_LABELS,
        when=in_words, result=result, row_form=EmptyForm())
    answer = make_response(page, 422 if error else 200)
    if created is not None:  # the secret, shown once: never kept by a cache
        answer.headers["Cache-Control"] = "no-store"
    return answer


def _checked() -> int:
    """The territory (administered) of a POST's redirect; 400 for a forged form."""
    territory_id = chosen_territory(_administered())
    if not EmptyForm().validate_on_submit():
        abort(400)
    return territory_id


@bp.post("/desactiver")
@login_required
def deactivate() -> WerkzeugResponse:
    """Stop a subscription (``abonnement``)."""
    territory_id = _checked()
    subscription_id = int_arg("abonnement", form=True)
    if subscription_id is None:
        abort(400)
    try:
        webhooks.deactivate(get_session(), clock(), actor(), subscription_id)
        flash(gettext("Abonnement désactivé : plus aucun événement ne lui est envoyé."),
              "success")
    except InvalidTransition as exc:
        flash(error_text(exc).capitalize() + ".", "error")
    return redirect(url_for("webhooks.index", territoire=territory_id))


@bp.post("/renvoyer")
@login_required
def retry() -> WerkzeugResponse:
    """Send a failed delivery (``envoi``) again at the scheduler's next pass."""
    territory_id = _checked()
    delivery = int_arg("envoi", form=True)
    if delivery is None:
        abort(400)
    try:
        subscription_id = webhooks.retry(get_session(), clock(), actor(), delivery)
    except InvalidTransition as exc:
        flash(error_text(exc).capitalize() + ".", "error")
        return redirect(url_for("webhooks.index", territoire=territory_id))
    flash(gettext("L'envoi sera fait de nouveau dans quelques secondes, avec le même "
                  "identifiant."), "success")
    return redirect(url_for("webhooks.index", territoire=territory_id,
                            abonnement=subscription_id))
