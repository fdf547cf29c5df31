"""Outside answers a case awaits: the messages of its circuit (an answer from the CAF, the
SIAO...), received from a partner's software (the API) or entered by hand by the
coordination, correlated by the case reference and the message name.

``receive`` is one unit of work, like completing a step: the case row locked, the payload
read within the engine's bounds and checked against the message's form, the engine run
forward, the state saved with its step, timer and outbox rows (``runtime.save``), and the
reception audited. A message the case does not wait for changes nothing."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.messages import render
from engine.core.rules import MESSAGE_NAME
from engine.core.snapshots import MessageView
from engine.core.spiff.runner import Instance
from engine.errors import Conflict, FormInvalid, NotFound, PermissionDenied
from engine.persistence.db import transaction
from engine.persistence.models import Case
from engine.persistence.models.case import CaseStatus
from engine.services import audit, cases, parsing, runtime
from engine.services.access import (
    Actor,
    View,
    case_view,
    may_send_message,
    require_message_sender,
    require_scope,
)
from engine.services.results import FormSpec

MAX_PAYLOAD_BYTES = 256 * 1024


@dataclass(frozen=True)
class AwaitedMessage:
    """A message the case waits for, as the case page shows it."""

    name: str  # what a sender names (``reponse_caf``)
    bpmn_id: str
    label: str  # « Réponse de la CAF »
    since: datetime
    form: str | None
    senders: tuple[str, ...]  # labels of the lane roles that may send it (« CAF »)
    attached_to: str | None  # the step it hangs on, by name
    interrupting: bool
    may_send: bool  # the reader may enter it by hand
    reference: str  # the case's (what a sender names it by)


@dataclass(frozen=True)
class Received:
    """What receiving a message did."""

    case_id: int
    reference: str
    name: str
    label: str
    received_at: datetime
    fields: tuple[str, ...]  # the payload's keys, as stored
    closed: bool  # the message brought the case to its end
    steps: tuple[str, ...]  # the names of the case's open steps after it


def receive(session: Session, clock: Clock, actor: Actor, reference: str, name: str,
            payload: Mapping[str, Any] | bytes | str) -> Received:
    """Receive message ``name`` for the case ``reference``: ``payload`` (a JSON object, or
    its text) is checked against the message's form and lands in the case data.

    :raises NotFound: no such case, or out of the actor's reach.
    :raises PermissionDenied: the circuit does not let the actor send it (audited).
    :raises FormInvalid: the payload is not a JSON object or fails the form; nothing written.
    :raises Conflict: the case waits for no such message (already received, not yet
        awaited, unknown, or the case is closed); nothing written (audited).
    :raises ConcurrentUpdate: the case changed meanwhile.
    """
    case_id = cases.id_of_reference(session, actor, reference)
    with _refusals_audited(session, clock, actor, case_id, name), transaction(session):
        require_scope(actor, "write")
        case = runtime.lock(session, case_id)
        if case is None:
            raise NotFound(code="svc.case_not_found")
        instance = runtime.load(session, case, clock)
        senders = instance.message_senders(name) if _named(name) else None
        require_message_sender(session, actor, case.id, case.territory_id, senders or (),
                               clock.now())
        if case.status != CaseStatus.OPEN or not _named(name):  # no circuit awaits that name
            raise Conflict(code="svc.message_not_awaited", name=_shown(name))
        values = _payload(payload)
        armed = [(t.id, t.due_at) for t in instance.waiting_timers()]
        awaited = instance.receive(name, values)
        saved = runtime.save(session, case, instance, clock, armed=armed)
        audit.record(session, clock, actor, "case.message", territory_id=case.territory_id,
                     case_id=case.id, message=name, element=awaited[0].bpmn_id,
                     name=awaited[0].label, fields=sorted(values))
        return Received(case_id=case.id, reference=case.reference, name=name,
                        label=awaited[0].label, received_at=clock.now(),
                        fields=tuple(sorted(values)), closed=instance.completed,
                        steps=tuple(s.name for s in saved.steps))


def awaited(session: Session, clock: Clock, actor: Actor, case_id: int,
            view: View | None = None) -> list[AwaitedMessage]:
    """The messages an open case waits for, longest waiting first (none for a reader of the
    minimal view, nor for a closed case). ``view``: the reader's view of the case, when the
    caller decided it already (the case page).

    :raises NotFound: unknown case, or out of the actor's reach.
    """
    case = session.get(Case, case_id)
    if case is None or not actor.is_member(case.territory_id):
        raise NotFound(code="svc.case_not_found")
    if view is None:
        view = case_view(session, actor, case.id, case.territory_id, clock.now())
    if view.minimal or case.status != CaseStatus.OPEN:
        return []
    instance = runtime.load(session, case, clock)
    return [_item(instance, actor, case.territory_id, case.reference, v)
            for v in instance.waiting_messages()]


def form_of(session: Session, clock: Clock, actor: Actor, case_id: int,
            name: str) -> tuple[AwaitedMessage, FormSpec | None]:
    """The awaited message ``name`` and its form, for entering it by hand.

    :raises NotFound: unknown case, out of reach, or the case waits for no such message.
    :raises PermissionDenied: the actor may not send it.
    """
    for item in awaited(session, clock, actor, case_id):
        if item.name == name:
            if not item.may_send:
                raise PermissionDenied(code="svc.message_sender")
            case = session.get(Case, case_id)
            assert case is not None
            instance = runtime.load(session, case, clock)
            return item, instance.message_form(name)
    raise NotFound(code="svc.message_not_awaited", name=_shown(name))


def _item(instance: Instance, actor: Actor, territory_id: int, reference: str,
          view: MessageView) -> AwaitedMessage:
    labels = {r.key: r.label for r in instance.circuit.roles}
    senders = instance.message_senders(view.name) or ()
    step = next((t.name for t in instance.ready_tasks(instructions=False)
                 if t.bpmn_id == view.attached_to), view.attached_to)
    return AwaitedMessage(
        name=view.name, bpmn_id=view.bpmn_id, label=view.label, since=view.since,
        form=view.form, senders=tuple(labels.get(r, r) for r in view.senders),
        attached_to=step, interrupting=view.interrupting,
        may_send=may_send_message(actor, territory_id, senders), reference=reference)


def _named(name: str) -> bool:
    return bool(MESSAGE_NAME.fullmatch(name))


def _shown(name: str) -> str:
    """A name as sent, fit to repeat in a refusal or the audit log: printable characters only
    (no NUL, which PostgreSQL refuses in text), 80 at most."""
    printable = "".join(c for c in name if c.isprintable())
    return printable[:80] + ("…" if len(printable) > 80 else "")


def _payload(payload: Mapping[str, Any] | bytes | str) -> dict[str, Any]:
    """The payload as a JSON object, read within the engine's bounds.

    :raises FormInvalid: not JSON, too big or too deep, or not an object.
    """
    if isinstance(payload, bytes | str):
        try:
            payload = parsing.loads(payload, max_bytes=MAX_PAYLOAD_BYTES)
        except parsing.JsonError as exc:
            raise FormInvalid({"": [render(exc.code, "fr", {"detail": exc.detail})]}) from exc
    if not isinstance(payload, Mapping):
        raise FormInvalid({"": [render("svc.message_payload", "fr", {})]})
    values = dict(payload)
    nul = sorted(str(k) for k, v in values.items() if _has_nul(k) or _has_nul(v))
    if nul:
        raise FormInvalid({k: [render("svc.message_nul", "fr", {})] for k in nul})
    return values


def _has_nul(value: Any) -> bool:
    """A NUL character anywhere in a value (PostgreSQL refuses it in text)."""
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


@contextmanager
def _refusals_audited(session: Session, clock: Clock, actor: Actor, case_id: int,
                      name: str) -> Iterator[None]:
    """Audit a refused message on an existing case (after the rollback: nothing else stays):
    who sent what, and why."""
    try:
        yield
    except (NotFound, PermissionDenied, Conflict, FormInvalid) as exc:
        territory_id = session.scalar(select(Case.territory_id).where(Case.id == case_id))
        with transaction(session):
            audit.record(session, clock, actor, "case.message_refused",
                         territory_id=territory_id, case_id=case_id, message=_shown(name),
                         reason=exc.code or "form.invalid",
                         reason_params={k: v for k, v in exc.params.items()
                                        if isinstance(v, str | int)})
        raise
