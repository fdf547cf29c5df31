"""The REST API's endpoints: thin views over the same services as the pages."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for

from engine.errors import PermissionDenied
from engine.services import case_messages, case_page, cases, circuits, directory, saisines, tasks
from engine.services.access import require_scope
from webapp.api import shapes
from webapp.api.blueprint import bp
from webapp.api.keys import authenticate, caller
from webapp.api.openapi import document
from webapp.api.requests import (
    body,
    cursor_after,
    cursor_after_instant,
    cursor_of,
    data_of,
    id_field,
    limit_arg,
)
from webapp.db import clock, get_session

bp.before_request(authenticate)  # every endpoint but the document needs a key


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of this API (no key needed)."""
    return jsonify(document())


@bp.get("/circuits")
def circuit_list() -> Response:
    """The circuits the key may open cases on, each with its start form's link."""
    me, session = caller(), get_session()
    found = [c for t in me.territories() for c in circuits.list_circuits(session, me, t)]
    return jsonify({"items": [shapes.circuit(c) for c in found if _reaches(c.id)]})


def _reaches(circuit_id: int) -> bool:
    try:
        require_scope(caller(), "read", circuit_id)
    except PermissionDenied:
        return False
    return True


@bp.get("/circuits/<int:circuit_id>/start-form")
def start_form(circuit_id: int) -> Response:
    """The JSON Schema of a circuit's start form (what ``POST /cases`` takes as ``data``)."""
    require_scope(caller(), "read", circuit_id)
    info, form = circuits.start_form(get_session(), caller(), circuit_id)
    return jsonify(shapes.form(form, info.title))


@bp.post("/cases")
def open_case() -> tuple[Response, int, dict[str, str]]:
    """Open a case (saisine) with its start form's data; ``Idempotency-Key`` makes a retry
    return the first case instead of opening a second one."""
    sent = body()
    circuit_id = id_field(sent, "circuit_id")
    require_scope(caller(), "write", circuit_id)
    key = request.headers.get("Idempotency-Key", "").strip() or None
    started = saisines.start_once(get_session(), clock(), caller(), circuit_id,
                                  data_of(sent), key)
    location = url_for("api.case", reference=started.case.reference)
    headers = {"Location": location}
    if not started.created:
        headers["Idempotent-Replayed"] = "true"
    return jsonify(shapes.started(started)), 201, headers


@bp.get("/cases/<reference>")
def case(reference: str) -> Response:
    """A case: status, current steps, orientations, its data as far as the key reads it."""
    session, me = get_session(), caller()
    case_id = cases.id_of_reference(session, me, reference)
    read = case_page.page(session, clock(), me, case_id)
    require_scope(me, "read", read.detail.summary.circuit_id)
    return jsonify(shapes.case(read))


@bp.post("/cases/<reference>/messages/<name>")
def message(reference: str, name: str) -> Response:
    """A message a case waits for (correlated by reference and message name), its payload
    in ``data``, checked against the message's form."""
    received = case_messages.receive(get_session(), clock(), caller(), reference, name,
                                     data_of(body()))
    return jsonify(shapes.received(received))


@bp.get("/tasks")
def task_list() -> Response:
    """Steps assigned or offered to the key's account, oldest first, by cursor."""
    per_page, after = limit_arg(), cursor_after_instant("tasks")
    found = tasks.my_tasks(get_session(), clock(), caller(), sort="ready", per_page=per_page,
                           after=after)
    last = found.items[-1] if found.items else None
    following = (cursor_of("tasks", last.ready_at, last.id)
                 if found.has_next and last is not None else None)
    return jsonify({"items": [shapes.task(t) for t in found.items],
                    "next": following and url_for("api.task_list", limit=per_page,
                                                  cursor=following),
                    "next_cursor": following})


@bp.get("/tasks/<int:task_id>")
def task(task_id: int) -> Response:
    """A step and its form as a JSON Schema."""
    session, me = get_session(), caller()
    step, _ = tasks.form_of(session, me, task_id)
    require_scope(me, "read", step.circuit_id)
    detail = tasks.details(session, clock(), me, task_id)
    return jsonify(shapes.task_detail(detail))


@bp.post("/tasks/<int:task_id>/complete")
def complete(task_id: int) -> Response:
    """Complete a step with its form's data; the case's next step for the key, if any."""
    sent = body()
    session, me = get_session(), caller()
    step, _ = tasks.form_of(session, me, task_id)
    require_scope(me, "write", step.circuit_id)
    following = tasks.complete(session, clock(), me, task_id, data_of(sent))
    return jsonify({"completed": shapes.task(step, status="completed"),
                    "next_step": following and shapes.task(following)})


@bp.get("/directory")
def directory_list() -> Response:
    """Services of the directory of one of the key's territories, by name, by cursor."""
    me = caller()
    territories = me.territories()
    territory_id = territories[0] if territories else 0
    per_page, after = limit_arg(), cursor_after("directory")
    filters = directory.Filters(text=request.args.get("q", ""),
                                measure=request.args.get("measure") or None,
                                available_only=request.args.get("available") == "true")
    found = directory.search(get_session(), me, territory_id, filters, per_page=per_page,
                             after=after)
    last = found.items[-1] if found.items else None
    following = (cursor_of("directory", last.name, last.id)
                 if found.has_next and last is not None else None)
    query: dict[str, Any] = {k: v for k, v in request.args.items() if k != "cursor"}
    return jsonify({"items": [shapes.service_item(s) for s in found.items],
                    "next": following and url_for("api.directory_list", **{
                        **query, "cursor": following}),
                    "next_cursor": following})


@bp.get("/directory/<int:service_id>")
def directory_entry(service_id: int) -> Response:
    """One service of the directory."""
    return jsonify(shapes.service(directory.get(get_session(), caller(), service_id)))
