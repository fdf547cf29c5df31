"""Cases opened and found by other software (the REST API): a start that a retried request
does not repeat (idempotency key), and a case found by its reference."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import Conflict, InvalidInput
from engine.persistence.db import transaction
from engine.persistence.models import AuditEvent, Case
from engine.services import audit, cases
from engine.services.access import Actor
from engine.services.results import CaseSummary, TaskItem

IDEMPOTENCY_WINDOW = timedelta(hours=24)  # a key names one start for this long
MAX_KEY = 200  # characters of an idempotency key
ACTION = "api.case_start"  # the audit event that keeps the key


@dataclass(frozen=True)
class Started:
    """A case opened (or found again by its idempotency key) and the steps the caller sees."""

    case: CaseSummary
    steps: list[TaskItem]
    created: bool  # False: the same request was already served, nothing new was opened


def _fingerprint(circuit_id: int, data: Mapping[str, Any]) -> str:
    text = json.dumps({"circuit": circuit_id, "data": data}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def start_once(session: Session, clock: Clock, actor: Actor, circuit_id: int,
               data: Mapping[str, Any], idempotency_key: str | None = None) -> Started:
    """Open a case (``cases.start``); with an ``idempotency_key``, a second call with the
    same key within ``IDEMPOTENCY_WINDOW`` returns the case the first one opened instead of
    opening another (the key is kept in the audit trail, per caller). Two calls with one key
    at the very same instant may both open a case: the key protects against retries, not
    against concurrent twins.

    :raises NotFound: unknown circuit, or one outside the actor's territories.
    :raises FormInvalid: the start form rejects ``data``; nothing is stored.
    :raises InvalidInput: an idempotency key longer than ``MAX_KEY``.
    :raises Conflict: the key was already used for another request (other circuit or data).
    """
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_KEY:
        raise InvalidInput(code="svc.api_idempotency_key", maximum=MAX_KEY)
    fingerprint = _fingerprint(circuit_id, data)
    with transaction(session):
        if idempotency_key is not None:
            earlier = _earlier(session, clock, actor, idempotency_key)
            if earlier is not None:
                case_id, used_for = earlier
                if used_for != fingerprint:
                    raise Conflict(code="svc.api_idempotency_reused")
                return _started(session, clock, actor, case_id, created=False)
        summary = cases.start(session, clock, actor, circuit_id, data)
        if idempotency_key is not None:
            audit.record(session, clock, actor, "api.case_start",
                         territory_id=summary.territory_id,
                         case_id=summary.id, idempotency_key=idempotency_key,
                         fingerprint=fingerprint)
        return _started(session, clock, actor, summary.id, created=True)


def _earlier(session: Session, clock: Clock, actor: Actor,
             key: str) -> tuple[int, str] | None:
    """The case an earlier start with ``key`` opened for this caller, and what it was for."""
    rows = session.execute(
        select(AuditEvent.case_id, AuditEvent.detail)
        .where(AuditEvent.user_id == actor.user_id, AuditEvent.action == ACTION,
               AuditEvent.at >= clock.now() - IDEMPOTENCY_WINDOW,
               AuditEvent.detail["idempotency_key"].as_string() == key)
        .order_by(AuditEvent.id).limit(1)).all()
    for case_id, detail in rows:
        if case_id is not None:
            return case_id, str(detail.get("fingerprint", ""))
    return None


def _started(session: Session, clock: Clock, actor: Actor, case_id: int,
             created: bool) -> Started:
    """The case as the caller reads it (its summary; the steps it may see, none when the
    case is out of its reach once opened: a referrer's software that plays no part in it)."""
    if cases.reachable(session, clock, actor, case_id):
        detail = cases.get(session, clock, actor, case_id)
        return Started(detail.summary, detail.open_tasks, created)
    case = session.get(Case, case_id)
    assert case is not None
    return Started(CaseSummary(case.id, case.reference, None, case.territory_id,
                               case.circuit_id, "", case.status, case.created_at, None, None),
                   [], created)
