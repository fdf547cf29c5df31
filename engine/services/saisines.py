"""Cases opened and found by other software (the REST API): a start that a retried request
does not repeat (idempotency key), and a case found by its reference."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import Conflict, InvalidInput
from engine.persistence.db import table, transaction, upsert
from engine.persistence.models import ApiIdempotency, Case
from engine.services import audit, cases
from engine.services.access import Actor
from engine.services.results import CaseSummary, TaskItem

IDEMPOTENCY_WINDOW = timedelta(hours=24)  # a key names one start for this long
MAX_KEY = 200  # characters of an idempotency key
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # refused in a key


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
    opening another. The key is claimed (a row of ``api_idempotency``, unique per caller and
    key) before the case is opened, in the same unit of work: a twin request arriving while
    the first is being served waits for its commit (PostgreSQL's unique index; SQLite's
    single writer) and then finds its case; if the first fails, nothing is kept and the
    twin opens the case itself. An expired key of the caller is purged on write.

    :raises NotFound: unknown circuit, or one outside the actor's territories.
    :raises FormInvalid: the start form rejects ``data``; nothing is stored.
    :raises InvalidInput: an idempotency key longer than ``MAX_KEY``, or with a control
        character (a NUL byte PostgreSQL cannot store).
    :raises Conflict: the key was already used for another request (other circuit or data).
    """
    if idempotency_key is not None and (not 0 < len(idempotency_key) <= MAX_KEY
                                        or CONTROL.search(idempotency_key)):
        raise InvalidInput(code="svc.api_idempotency_key", maximum=MAX_KEY)
    if idempotency_key is None or actor.user_id is None:
        with transaction(session):
            summary = cases.start(session, clock, actor, circuit_id, data)
            return _started(session, clock, actor, summary.id, created=True)
    fingerprint = _fingerprint(circuit_id, data)
    with transaction(session):
        claimed = _claim(session, clock, actor.user_id, idempotency_key, fingerprint)
        if claimed is None:
            earlier = session.execute(
                select(ApiIdempotency.case_id, ApiIdempotency.fingerprint)
                .where(ApiIdempotency.user_id == actor.user_id,
                       ApiIdempotency.key == idempotency_key)).one()
            if earlier.fingerprint != fingerprint:
                raise Conflict(code="svc.api_idempotency_reused")
            assert earlier.case_id is not None  # written in the claim's own commit
            return _started(session, clock, actor, earlier.case_id, created=False)
        summary = cases.start(session, clock, actor, circuit_id, data)
        session.execute(update(ApiIdempotency).where(ApiIdempotency.id == claimed)
                        .values(case_id=summary.id))
        audit.record(session, clock, actor, "api.case_start", territory_id=summary.territory_id,
                     case_id=summary.id, idempotency_key=idempotency_key)
        return _started(session, clock, actor, summary.id, created=True)


def forget_expired(session: Session, clock: Clock) -> int:
    """Delete every idempotency key older than ``IDEMPOTENCY_WINDOW`` (the scheduler, hourly:
    an account that never sends another key leaves none behind); how many went."""
    with transaction(session):
        gone = session.execute(delete(ApiIdempotency).where(
            ApiIdempotency.created_at < clock.now() - IDEMPOTENCY_WINDOW))
    return int(getattr(gone, "rowcount", 0) or 0)


def _claim(session: Session, clock: Clock, user_id: int, key: str,
           fingerprint: str) -> int | None:
    """Claim ``key`` for this caller (the new row's id), or None when it is taken: by a
    committed start within the window, or by one still running (then after it commits; had
    it rolled back, the claim succeeds). The caller's expired keys are deleted first."""
    now = clock.now()
    session.execute(delete(ApiIdempotency).where(
        ApiIdempotency.user_id == user_id, ApiIdempotency.created_at < now - IDEMPOTENCY_WINDOW))
    claimed = session.execute(
        upsert(session, table(ApiIdempotency))
        .values(user_id=user_id, key=key, fingerprint=fingerprint, case_id=None, created_at=now)
        .on_conflict_do_nothing(index_elements=["user_id", "key"])
        .returning(table(ApiIdempotency).c.id)).scalar_one_or_none()
    return None if claimed is None else int(claimed)


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
