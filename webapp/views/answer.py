"""Answering an orientation without an account, through a signed single-use link; and the
coordination's side: send a link, see an orientation's links, revoke them.

The link's pages have no navigation, are never indexed, cached or sent as a referrer (the
token is in their address), and are rate limited per link and per client address.
"""

from __future__ import annotations

from datetime import datetime

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
from werkzeug.wrappers import Response

from engine.errors import (
    Conflict,
    FormInvalid,
    InvalidInput,
    InvalidTransition,
    NotFound,
    TooManyAttempts,
)
from engine.services import answer_links
from webapp import postdata
from webapp.auth import actor
from webapp.db import clock, get_session
from webapp.form_classes import EmptyForm
from webapp.i18n import error_text, local

bp = Blueprint("answer", __name__)

# what a holder is told of a link that no longer answers (410), by the service's code
GONE = {
    "svc.link_expired": lazy_gettext(
        "Ce lien a expiré : demandez-en un nouveau à la plateforme."),
    "svc.link_used": lazy_gettext("Une réponse a déjà été donnée avec ce lien."),
    "svc.link_closed": lazy_gettext("Cette orientation n'attend plus de réponse."),
}
PRIVATE = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow, noarchive",
           "Cache-Control": "no-store"}


@bp.route("/reponse/<token>", methods=["GET", "POST"])
def show(token: str) -> Response:
    """The orientation a link opens and its answer form; POST answers it (once)."""
    try:
        answer_links.count_attempt(get_session(), clock(), token, request.remote_addr)
    except TooManyAttempts as exc:
        return _message(429, error_text(exc).capitalize() + ".")
    errors: dict[str, list[str]] = {}
    try:
        if request.method == "POST":
            done = _answer(token)
            if isinstance(done, Response):
                return done
            errors = done
        detail = answer_links.page(get_session(), clock(), token)
    except NotFound:
        return _message(404, gettext("Ce lien n'est pas valide."))
    except InvalidTransition as exc:
        if exc.code not in GONE:
            raise
        return _message(410, str(GONE[exc.code]), **exc.params)
    values = postdata.flat_values(detail.values)
    if errors:
        values = {**values, **request.form.to_dict()}
    page = render_template("answer/show.html", detail=detail, errors=errors, values=values,
                           form=EmptyForm())
    return _private(page, 422 if errors else 200)


def _answer(token: str) -> Response | dict[str, list[str]]:
    """POST: the answer, then the thanks; otherwise the form's errors (the link stays)."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    form = answer_links.form_of(get_session(), clock(), token)
    data, errors = postdata.parse(form, request.form)
    if errors:
        return errors
    try:
        answer_links.answer(get_session(), clock(), token, data)
    except FormInvalid as exc:
        return exc.errors
    return redirect(url_for("answer.thanks"))


@bp.get("/reponse/merci")
def thanks() -> Response:
    """After an answer: it reached the platform."""
    return _message(200, gettext("Merci, votre réponse a été transmise à la plateforme."),
                    title=gettext("Réponse transmise"))


def _message(status: int, message: str, title: str | None = None,
             **params: object) -> Response:
    page = render_template("answer/message.html", code=status, message=message,
                           title=title or (gettext("Lien de réponse") if status < 400
                                           else gettext("Lien inutilisable")),
                           platform=params.get("platform") or "",
                           contact=params.get("contact") or "")
    return _private(page, status)


def _private(page: str, status: int) -> Response:
    response = make_response(page, status)
    response.headers.update(PRIVATE)
    return response


# --------------------------------------------------------------------------- coordination


@bp.route("/orientations/<int:orientation_id>/lien", methods=["GET", "POST"])
@login_required
def links(orientation_id: int) -> str | Response:
    """Coordination: the orientation's links and the form to send one; POST sends one
    (its address is shown once, in the message at the top of the page)."""
    if request.method == "POST":
        return _send(orientation_id)
    page = answer_links.links_of(get_session(), clock(), actor(), orientation_id)
    return render_template("answer/links.html", page=page, form=EmptyForm())


def _send(orientation_id: int) -> Response:
    if not EmptyForm().validate_on_submit():
        abort(400)
    target = url_for("answer.links", orientation_id=orientation_id)
    try:
        sent = answer_links.send(get_session(), clock(), actor(), orientation_id,
                                 request.form.get("email", ""))
    except (Conflict, InvalidInput) as exc:
        flash(error_text(exc).capitalize() + ".", "error")
        return redirect(target)
    address = url_for("answer.show", token=sent.token, _external=True)
    until = sent.expires_at
    if sent.email:
        flash(gettext("Lien envoyé à %(email)s. Vous pouvez aussi le transmettre vous-même "
                      "(téléphone, SMS) : %(url)s — il ne sera plus affiché. Valable une "
                      "fois, jusqu'au %(until)s.", email=sent.email, url=address,
                      until=_day(until)), "success")
    else:
        flash(gettext("Lien créé, sans envoi par e-mail (aucune adresse) : copiez-le "
                      "maintenant, il ne sera plus affiché : %(url)s — valable une fois, "
                      "jusqu'au %(until)s.", url=address, until=_day(until)), "success")
    return redirect(target)


@bp.post("/orientations/<int:orientation_id>/lien/revoquer")
@login_required
def revoke(orientation_id: int) -> Response:
    """Coordination: the orientation's unused links stop working."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        answer_links.revoke(get_session(), clock(), actor(), orientation_id)
    except Conflict as exc:
        flash(error_text(exc).capitalize() + ".", "error")
    else:
        flash(gettext("Le lien de réponse est révoqué : il n'ouvre plus rien."), "success")
    return redirect(url_for("answer.links", orientation_id=orientation_id))


def _day(instant: datetime) -> str:
    return local(instant, "%d/%m/%Y à %H:%M")
