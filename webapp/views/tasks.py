"""My tasks, the task page, claim, unclaim, assign, complete."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import login_required
from werkzeug.wrappers import Response

from engine.errors import Conflict, FormInvalid, InvalidTransition, Unavailable
from engine.services import circuits, tasks
from webapp import postdata
from webapp.auth import actor
from webapp.db import clock, get_session
from webapp.errors import RETRY_AFTER
from webapp.form_classes import AssignForm, EmptyForm
from webapp.i18n import error_text
from webapp.inputs import MAX_PAGE, int_arg
from webapp.urls import safe_next

bp = Blueprint("tasks", __name__, url_prefix="/taches")
log = logging.getLogger("aiguillage.web")
DUE = {"overdue", "soon"}
CONFIRM_END = "fin_confirmee"  # the end the person confirmed (its BPMN id), hidden field
SORTS = {"due": lazy_gettext("Échéance"), "ready": lazy_gettext("Plus anciennes d'abord"),
         "ready_desc": lazy_gettext("Plus récentes d'abord")}


@bp.get("/")
@login_required
def index() -> str:
    """Steps assigned to me and offered to my roles, with filters."""
    args = request.args
    assigned = {"moi": True, "offertes": False}.get(args.get("attribution", ""))
    due = args.get("echeance") if args.get("echeance") in DUE else None
    circuit_id = int_arg("circuit")
    page = tasks.my_tasks(get_session(), clock(), actor(),
                          circuit_id=circuit_id, step=args.get("etape") or None,
                          due=due, assigned=assigned,  # type: ignore[arg-type]
                          sort=args.get("tri", "due"), page=int_arg("page", 1, maximum=MAX_PAGE))
    session, me = get_session(), actor()
    choices = [c for t in me.territories() for c in circuits.list_circuits(session, me, t)]
    steps = circuits.steps_of(session, me, circuit_id) \
        if circuit_id in {c.id for c in choices} else []
    return render_template("tasks/list.html", page=page, now=clock().now(), sorts=SORTS,
                           args=args, form=EmptyForm(), circuits=choices, steps=steps)


@bp.route("/<int:task_id>", methods=["GET", "POST"])
@login_required
def show(task_id: int) -> str | Response | tuple[str, int]:
    """The step: case summary, instructions, form; POST completes it (the case is loaded
    once, by the completion; the page is rebuilt only to show errors)."""
    errors: dict[str, list[str]] = {}
    unsaved = False  # the database did not answer: the form comes back with what was typed
    ending = None  # the answer would end the case: the page asks to confirm
    if request.method == "POST":
        done = _complete(task_id)
        if isinstance(done, Response):
            return done
        errors, unsaved, ending = done
    detail = tasks.details(get_session(), clock(), actor(), task_id)
    values = postdata.flat_values(detail.values)
    if errors or unsaved or ending:
        values = {**values, **postdata.posted(request.form)}
    assign = AssignForm()
    assign.user_id.choices = [(p.id, p.name) for p in detail.candidates]
    page = render_template("tasks/show.html", detail=detail, errors=errors, values=values,
                           form=EmptyForm(), assign=assign, now=clock().now(), unsaved=unsaved,
                           ending=ending, confirm_field=CONFIRM_END)
    if unsaved:
        return page, 503, {"Retry-After": RETRY_AFTER}
    return (page, 422) if errors else page


def _complete(task_id: int) -> Response | tuple[dict[str, list[str]], bool,
                                                 tasks.EndView | None]:
    """POST: complete the step and redirect; otherwise what the page shows again: the
    form's errors, that nothing was saved because the database did not answer, or the end
    the answer would bring the case to, until the person confirms that very end.

    A step nobody has taken is taken by completing it (``tasks.complete`` records the
    completer as its holder): a second click to « Prendre » would protect nothing the role
    check does not, and the page says so next to the button."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    step, form = tasks.form_of(get_session(), actor(), task_id, clock())
    data, errors = postdata.parse(form, request.form)
    if errors:
        return errors, False, None
    try:
        nxt = tasks.complete(get_session(), clock(), actor(), task_id, data,
                             confirmed_end=request.form.get(CONFIRM_END, ""))
    except tasks.EndUnconfirmed as exc:
        return {}, False, exc.end
    except FormInvalid as exc:
        return exc.errors, False, None
    except Unavailable as exc:
        log.warning("step %s not completed, database unavailable: %s", task_id,
                    exc.__cause__ or exc)
        return {}, True, None
    except InvalidTransition:
        flash(gettext("Cette étape a déjà été réalisée ; rien n'a été enregistré."), "error")
        return redirect(url_for("tasks.index"))
    flash(gettext("Étape « %(step)s » terminée pour le dossier %(reference)s.",
                  step=step.name, reference=step.case_reference), "success")
    return redirect(url_for("tasks.show", task_id=nxt.id) if nxt else url_for("tasks.index"))


@bp.post("/<int:task_id>/prendre")
@login_required
def claim(task_id: int) -> Response:
    """Take the step."""
    return _act(task_id, lambda: tasks.claim(get_session(), clock(), actor(), task_id),
                gettext("Vous avez pris en charge cette étape."))


@bp.post("/<int:task_id>/rendre")
@login_required
def unclaim(task_id: int) -> Response:
    """Give the step back to its role."""
    return _act(task_id, lambda: tasks.unclaim(get_session(), clock(), actor(), task_id),
                gettext("L'étape est de nouveau proposée à son rôle."))


@bp.post("/<int:task_id>/confier")
@login_required
def assign(task_id: int) -> Response:
    """Coordinator: give the step to someone."""
    user_id = int_arg("user_id", form=True)
    if user_id is None:
        abort(400)
    return _act(task_id, lambda: tasks.assign(get_session(), clock(), actor(), task_id, user_id),
                gettext("L'étape a été confiée."))


def _act(task_id: int, action: object, message: str) -> Response:
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        action()  # type: ignore[operator]
    except Conflict as exc:  # a refusal by role (PermissionDenied) stays a 403 page
        flash(error_text(exc).capitalize() + ".", "error")
    else:
        flash(message, "success")
    target = request.form.get("next", "")
    return redirect(safe_next(target, url_for("tasks.show", task_id=task_id)))
