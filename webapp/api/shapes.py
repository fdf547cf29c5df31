"""The JSON the API answers with, from the services' plain data (the OpenAPI document in
``webapp.api.openapi`` describes each shape)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import url_for

from engine.services import case_messages, case_page, circuits, directory, saisines
from engine.services.results import FormSpec, TaskDetail, TaskItem


def instant(value: datetime | None) -> str | None:
    """An instant as RFC 3339 (UTC), or None."""
    return value.isoformat() if value is not None else None


def circuit(info: circuits.CircuitInfo) -> dict[str, Any]:
    """A circuit a case may be opened on."""
    return {"id": info.id, "key": info.key, "title": info.title,
            "description": info.description, "territory_id": info.territory_id,
            "start_form": url_for("api.start_form", circuit_id=info.id)}


def form(spec: FormSpec | None, title: str = "") -> dict[str, Any]:
    """A form as its JSON Schema (a step without form takes an empty object)."""
    if spec is None:
        return {"type": "object", "title": title, "properties": {}}
    schema: dict[str, Any] = dict(spec.schema)
    return schema


def task(item: TaskItem, status: str | None = None) -> dict[str, Any]:
    """A step as lists show it."""
    return {"id": item.id, "name": item.name, "step": item.bpmn_id,
            "case_reference": item.case_reference, "household_name": item.household_name,
            "circuit_id": item.circuit_id, "circuit_title": item.circuit_title,
            "role": item.role, "assigned": item.assignee_id is not None,
            "ready_at": instant(item.ready_at), "due_at": instant(item.due_at),
            "status": status or item.status,
            "links": {"self": url_for("api.task", task_id=item.id),
                      "complete": url_for("api.complete", task_id=item.id),
                      "case": url_for("api.case", reference=item.case_reference)}}


def task_detail(detail: TaskDetail) -> dict[str, Any]:
    """A step with its instructions, its form as a JSON Schema and the values it shows."""
    return {**task(detail.task), "instructions": detail.instructions,
            "can_complete": detail.can_complete,
            "form": form(detail.form) if detail.task.is_open else None,
            "values": detail.values}


def started(done: saisines.Started) -> dict[str, Any]:
    """A case just opened (or found again by its idempotency key)."""
    return {"reference": done.case.reference, "status": done.case.status,
            "circuit_id": done.case.circuit_id, "created_at": instant(done.case.created_at),
            "created": done.created, "current_steps": [task(t) for t in done.steps],
            "links": {"self": url_for("api.case", reference=done.case.reference)}}


def case(read: case_page.CasePage) -> dict[str, Any]:
    """A case as far as the caller reads it (``minimal``: its reference, status and the
    steps it acts on, nothing else)."""
    detail = read.detail
    summary = detail.summary
    return {"reference": summary.reference, "status": summary.status,
            "circuit_id": summary.circuit_id, "circuit_title": summary.circuit_title,
            "household_name": summary.household_name, "created_at": instant(summary.created_at),
            "next_due_at": instant(summary.next_due_at), "end": summary.end_label,
            "minimal": detail.minimal, "shared": detail.shared,
            "current_steps": [task(t) for t in detail.open_tasks],
            "completed_steps": detail.completed_steps, "data": detail.data,
            "orientations": [orientation(o) for o in read.orientations]}


def orientation(item: Any) -> dict[str, Any]:
    """An orientation of a case (``orientations.OrientationItem``)."""
    return {"id": item.id, "service_id": item.service_id, "service_name": item.service_name,
            "organisation_name": item.organisation_name, "measure": item.measure,
            "state": item.state, "state_label": item.state_label,
            "created_at": instant(item.created_at), "answered_at": instant(item.answered_at),
            "open": item.is_open, "reasons": list(item.reasons)}


def service_item(item: directory.ServiceItem) -> dict[str, Any]:
    """A service as the directory lists it."""
    return {"id": item.id, "name": item.name, "organisation": item.organisation,
            "measure": item.measure, "communes": item.communes, "capacity": item.capacity,
            "places_available": item.places_available, "waiting_list": item.waiting_list,
            "active": item.active, "links": {"self": url_for("api.directory_entry",
                                                             service_id=item.id)}}


def service(found: directory.Service) -> dict[str, Any]:
    """A service of the directory in full."""
    entry = found.entry
    return {"id": found.id, "territory_id": found.territory_id,
            "organisation_id": found.organisation_id, "organisation": found.organisation,
            "active": found.active, "updated_at": instant(found.updated_at),
            "measure": entry.measure, "name": entry.name, "description": entry.description,
            "domains": list(entry.domains), "communes": list(entry.communes),
            "public": entry.public, "capacity": entry.capacity,
            "places_available": entry.places_available, "waiting_list": entry.waiting_list,
            "phone": entry.phone, "email": entry.email, "address": entry.address,
            "hours_walk_in": entry.hours_walk_in, "hours_appointment": entry.hours_appointment,
            "languages": entry.languages, "charter_signed": entry.charter_signed}


def received(done: case_messages.Received) -> dict[str, Any]:
    """What a message did to its case."""
    return {"reference": done.reference, "message": done.name, "label": done.label,
            "received_at": instant(done.received_at), "fields": list(done.fields),
            "closed": done.closed, "current_steps": list(done.steps),
            "links": {"case": url_for("api.case", reference=done.reference)}}
