"""Webhooks out (issue #18, item 3): an organisation's subscriptions, the events written to
the outbox in the transaction that makes them true, and their signed delivery.

An event is one outbox row per matching active subscription, of kind ``webhook``, keyed
``webhook:<subscription>:<event id>``: that key is the delivery id (``Webhook-Id``), so an
event has exactly one delivery id whatever retries or restarts happen, and its body is
written once (a resend is byte for byte the same). Events:

- ``step.offered``: a step became open for an organisation (the notice pass, when it
  writes the step's marker: a step re-routed to another organisation is offered again);
- ``step.overdue``: a step held by an organisation passed its deadline (the overdue pass);
- ``orientation.answered``: a service answered an orientation (told to the referrer's
  organisation);
- ``case.closed``: a case was closed, cancelled or reached an end event (told to every
  organisation party to it).

No body carries the household's name or form answers: the case reference, circuit, step
and orientation state only; a partner reads more through the API.

Delivery (``tick``, from the scheduler): due rows are leased (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, one writer on SQLite), POSTed outside any transaction, then marked: a 2xx is
delivered; anything else is tried again after an exponential backoff with jitter (the next
attempt's time is the row's ``lease_until``), until ``MAX_ATTEMPTS`` or ``GIVE_UP`` after
the event: then failed, and an administrator may retry it. Every attempt is logged
(``webhook_attempt``). A scheduler killed between the POST and the mark resends the row with
the same id once its lease expires: at least once, deduplicated by the receiver on the id.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine import metrics
from engine.clock import Clock
from engine.errors import InvalidInput, InvalidTransition, NotFound
from engine.persistence.db import transaction
from engine.persistence.models import (
    Case,
    CaseParty,
    Circuit,
    Organisation,
    OutboxMessage,
    Territory,
    User,
    WebhookAttempt,
    WebhookSubscription,
)
from engine.persistence.models.outbox import OutboxStatus
from engine.services import audit
from engine.services.access import Actor, require_admin
from engine.webhook_sender import SECRET_PREFIX, Delivery, WebhookSender, url_problem

KIND = "webhook"
# event -> its name on the administrators' page
EVENTS: dict[str, str] = {
    "step.offered": "Étape proposée à l'organisation",
    "orientation.answered": "Orientation répondue",
    "case.closed": "Dossier clos",
    "step.overdue": "Étape en retard",
}
LEASE = timedelta(minutes=1)  # longer than a POST's timeout
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=2)
JITTER = 0.2  # up to 20 % added to each wait, so that a receiver back up is not flooded
MAX_ATTEMPTS = 20  # with GIVE_UP: about a day of attempts
GIVE_UP = timedelta(days=1)
LOG_LINES = 200


@dataclass(frozen=True)
class Subscription:
    """A subscription as the administrators' page shows it (never its secret)."""

    id: int
    territory_id: int
    organisation_id: int
    organisation: str
    url: str
    events: tuple[str, ...]
    active: bool
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class Created:
    """A new subscription and its secret, shown once."""

    subscription: Subscription
    secret: str


@dataclass(frozen=True)
class Attempt:
    """One line of a subscription's log; ``state`` is the delivery's state now
    (``pending``, ``sent`` or ``failed``)."""

    id: int
    outbox_id: int
    delivery_id: str
    event: str
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    next_at: datetime | None
    state: str
    reference: str | None = None  # the case the event is about


@dataclass
class Report:
    """What a delivery pass did."""

    delivered: int = 0
    retried: int = 0
    failed: int = 0


# --------------------------------------------------------------------------- subscriptions


def organisations(session: Session, actor: Actor, territory_id: int) -> list[tuple[int, str]]:
    """The territory's active organisations (id, name), by name (administrators)."""
    require_admin(actor, territory_id)
    return [(i, n) for i, n in session.execute(
        select(Organisation.id, Organisation.name).where(
            Organisation.territory_id == territory_id, Organisation.active.is_(True))
        .order_by(Organisation.name))]


def listed(session: Session, actor: Actor, territory_id: int) -> list[Subscription]:
    """The territory's subscriptions, active first, newest first (administrators)."""
    require_admin(actor, territory_id)
    rows = session.execute(_subscription_query().where(
        WebhookSubscription.territory_id == territory_id)
        .order_by(WebhookSubscription.active.desc(), WebhookSubscription.id.desc())).all()
    return [_view(*row) for row in rows]


def _subscription_query() -> Any:
    return (select(WebhookSubscription, Organisation.name, User.display_name)
            .join(Organisation, Organisation.id == WebhookSubscription.organisation_id)
            .outerjoin(User, User.id == WebhookSubscription.created_by_id))


def _view(row: WebhookSubscription, organisation: str, by: str | None) -> Subscription:
    return Subscription(row.id, row.territory_id, row.organisation_id, organisation, row.url,
                        tuple(e for e in EVENTS if e in row.events), row.active,
                        row.created_at, by or "")


def new_secret() -> str:
    """A random signing secret, ``whsec_`` and 32 bytes in base64 (Standard Webhooks)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def create(session: Session, clock: Clock, actor: Actor, territory_id: int,
           organisation_id: int, url: str, events: Iterable[str]) -> Created:
    """An administrator subscribes one of the territory's organisations; audited
    (``webhook.create``, without the secret).

    :raises PermissionDenied: not an administrator of the territory.
    :raises InvalidInput: an unknown organisation, a refused URL, no or unknown events, or
        an active subscription of the organisation to the same URL (a double submit).
    """
    url = url.strip()
    chosen = list(dict.fromkeys(events))
    with transaction(session):
        require_admin(actor, territory_id)
        organisation = session.get(Organisation, organisation_id)
        if organisation is None or organisation.territory_id != territory_id \
                or not organisation.active:
            raise InvalidInput(code="svc.webhook_organisation_unknown")
        problem = url_problem(url)
        if problem:
            raise InvalidInput(code=problem)
        if not chosen or any(e not in EVENTS for e in chosen):
            raise InvalidInput(code="svc.webhook_events_required")
        if session.scalar(select(WebhookSubscription.id).where(
                WebhookSubscription.organisation_id == organisation_id,
                WebhookSubscription.url == url, WebhookSubscription.active.is_(True))):
            raise InvalidInput(code="svc.webhook_duplicate")  # a double submit, too
        secret = new_secret()
        row = WebhookSubscription(territory_id=territory_id, organisation_id=organisation_id,
                                  url=url, events=chosen, secret=secret, active=True,
                                  created_at=clock.now(), created_by_id=actor.user_id)
        session.add(row)
        session.flush()
        audit.record(session, clock, actor, "webhook.create", territory_id=territory_id,
                     subscription=row.id, organisation=organisation.name, url=url,
                     events=chosen)
        by = session.get(User, actor.user_id) if actor.user_id is not None else None
        return Created(_view(row, organisation.name, by.display_name if by else None), secret)


def _subscription(session: Session, actor: Actor, subscription_id: int,
                  lock: bool = False) -> WebhookSubscription:
    query = select(WebhookSubscription).where(WebhookSubscription.id == subscription_id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None or not actor.is_member(row.territory_id):
        raise NotFound(code="svc.webhook_not_found")
    require_admin(actor, row.territory_id)
    return row


def deactivate(session: Session, clock: Clock, actor: Actor, subscription_id: int) -> None:
    """Stop a subscription: no new event is written for it, its pending deliveries fail at
    their next attempt. Audited (``webhook.deactivate``).

    :raises NotFound: unknown, or outside the actor's territories.
    :raises PermissionDenied: not an administrator of its territory.
    :raises InvalidTransition: already inactive.
    """
    with transaction(session):
        row = _subscription(session, actor, subscription_id, lock=True)
        if not row.active:
            raise InvalidTransition(code="svc.webhook_inactive")
        row.active, row.deactivated_at = False, clock.now()
        audit.record(session, clock, actor, "webhook.deactivate",
                     territory_id=row.territory_id, subscription=row.id, url=row.url)


def attempts(session: Session, actor: Actor, subscription_id: int,
             limit: int = LOG_LINES) -> tuple[Subscription, list[Attempt]]:
    """A subscription and its latest attempts, newest first (administrators).

    :raises NotFound: unknown, or outside the actor's territories.
    :raises PermissionDenied: not an administrator of its territory.
    """
    row = _subscription(session, actor, subscription_id)
    found = session.execute(_subscription_query().where(
        WebhookSubscription.id == row.id)).one()
    lines = session.execute(
        select(WebhookAttempt, OutboxMessage.status, Case.reference)
        .join(OutboxMessage, OutboxMessage.id == WebhookAttempt.outbox_id)
        .outerjoin(Case, Case.id == OutboxMessage.case_id)
        .where(WebhookAttempt.subscription_id == row.id)
        .order_by(WebhookAttempt.at.desc(), WebhookAttempt.id.desc()).limit(limit)).all()
    return _view(*found), [
        Attempt(a.id, a.outbox_id, a.delivery_id, a.event, a.at, a.status_code, a.error,
                a.duration_ms, a.next_at, state, reference) for a, state, reference in lines]


def retry(session: Session, clock: Clock, actor: Actor, outbox_id: int) -> int:
    """An administrator sends a failed delivery again at the next tick, with the same id
    (one more attempt). Audited (``webhook.retry``). Returns its subscription's id.

    :raises NotFound: unknown, or outside the actor's territories.
    :raises PermissionDenied: not an administrator of its territory.
    :raises InvalidTransition: the delivery has not failed (delivered or still tried), or
        its subscription is inactive.
    """
    with transaction(session):
        message = session.scalar(select(OutboxMessage).where(
            OutboxMessage.id == outbox_id, OutboxMessage.kind == KIND).with_for_update())
        if message is None:
            raise NotFound(code="svc.webhook_not_found")
        row = _subscription(session, actor, int(message.payload["subscription_id"]))
        if message.status != OutboxStatus.FAILED:
            raise InvalidTransition(code="svc.webhook_not_failed")
        if not row.active:
            raise InvalidTransition(code="svc.webhook_inactive")
        message.status, message.lease_until, message.attempts = OutboxStatus.PENDING, None, 0
        audit.record(session, clock, actor, "webhook.retry", territory_id=row.territory_id,
                     subscription=row.id, delivery=message.dedupe_key)
        return row.id


# --------------------------------------------------------------------------- events


# (territory, organisations) -> their active subscriptions, for one pass that emits many
# events in one transaction (the notice pass): one read per organisation, not per step
Memo = dict[tuple[int, tuple[int, ...]], list[WebhookSubscription]]


def emit(session: Session, now: datetime, event: str, event_id: str, territory_id: int,
         organisation_ids: Iterable[int | None], data: dict[str, Any],
         case_id: int | None = None, circuit_id: int | None = None,
         memo: Memo | None = None) -> int:
    """Write ``event`` for the active subscriptions of ``organisation_ids`` that chose it,
    in the caller's transaction: one read when nobody subscribed (the subscriptions of
    those organisations; none with a ``memo`` that has them), a few more otherwise. An
    event already written is not written again. Returns the deliveries written."""
    wanted = tuple(sorted({o for o in organisation_ids if o is not None}))
    if not wanted:
        return 0
    key = (territory_id, wanted)
    if memo is None or key not in memo:
        subscriptions = list(session.scalars(select(WebhookSubscription).where(
            WebhookSubscription.territory_id == territory_id,
            WebhookSubscription.active.is_(True),
            WebhookSubscription.organisation_id.in_(wanted))
            .order_by(WebhookSubscription.id)))
        if memo is None:
            found = [s for s in subscriptions if event in (s.events or [])]
            return _write(session, now, event, event_id, territory_id, found, data, case_id,
                          circuit_id)
        memo[key] = subscriptions
    found = [s for s in memo[key] if event in (s.events or [])]
    return _write(session, now, event, event_id, territory_id, found, data, case_id,
                  circuit_id)


def emit_to_parties(session: Session, now: datetime, event: str, event_id: str,
                    territory_id: int, case_id: int, data: dict[str, Any],
                    circuit_id: int | None = None) -> int:
    """``emit`` to the organisations party to the case now (one read when nobody of
    them subscribed)."""
    parties = select(CaseParty.organisation_id).where(CaseParty.case_id == case_id,
                                                      CaseParty.until.is_(None))
    found = _matching(session, event, select(WebhookSubscription).where(
        WebhookSubscription.territory_id == territory_id,
        WebhookSubscription.active.is_(True),
        WebhookSubscription.organisation_id.in_(parties)))
    return _write(session, now, event, event_id, territory_id, found, data, case_id,
                  circuit_id)


def _matching(session: Session, event: str, query: Any) -> list[WebhookSubscription]:
    return [s for s in session.scalars(query.order_by(WebhookSubscription.id))
            if event in (s.events or [])]


def _write(session: Session, now: datetime, event: str, event_id: str, territory_id: int,
           found: Sequence[WebhookSubscription], data: dict[str, Any], case_id: int | None,
           circuit_id: int | None) -> int:
    if not found:
        return 0
    keys = {s.id: f"{KIND}:{s.id}:{event_id}" for s in found}
    known = set(session.scalars(select(OutboxMessage.dedupe_key).where(
        OutboxMessage.dedupe_key.in_(sorted(keys.values())))))
    territory = session.get(Territory, territory_id)
    circuit = session.get(Circuit, circuit_id) if circuit_id is not None else None
    written = 0
    for subscription in found:
        key = keys[subscription.id]
        if key in known:
            continue
        body = {"type": event, "id": key, "occurred_at": now.isoformat(),
                "territory": territory.code if territory else None,
                "data": {**({"circuit": circuit.title} if circuit else {}), **data}}
        session.add(OutboxMessage(
            dedupe_key=key, kind=KIND, territory_id=territory_id, case_id=case_id,
            created_at=now, payload={"subscription_id": subscription.id, "event": event,
                                     "body": body}))
        written += 1
    return written


# --------------------------------------------------------------------------- delivery


def body_of(payload: dict[str, Any]) -> bytes:
    """A delivery's JSON body: always the same bytes for the same row."""
    return json.dumps(payload["body"], ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode()


def wait_before(attempt: int, jitter: float) -> timedelta:
    """How long to wait after the ``attempt``-th failed attempt: 30 s doubling at each
    attempt up to 2 h, plus ``jitter`` (0 to 1) × 20 %."""
    wait: timedelta = min(LONGEST_WAIT, FIRST_RETRY * (2 ** max(0, attempt - 1)))
    return wait * (1 + JITTER * jitter)


@dataclass(frozen=True)
class _Claimed:
    outbox_id: int
    subscription_id: int
    delivery: Delivery | None  # None: the subscription is inactive
    event: str
    attempt: int
    created_at: datetime


def claim(session: Session, clock: Clock, batch: int = 50) -> list[_Claimed]:
    """Lease up to ``batch`` due deliveries (another scheduler skips them until the lease
    ends) and count their attempt."""
    now = clock.now()
    with transaction(session):
        rows = list(session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.kind == KIND,
                or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until <= now))
            .order_by(OutboxMessage.lease_until, OutboxMessage.id).limit(batch)
            .with_for_update(skip_locked=True)))
        subs = {s.id: s for s in session.scalars(select(WebhookSubscription).where(
            WebhookSubscription.id.in_(sorted({int(r.payload["subscription_id"])
                                               for r in rows}))))} if rows else {}
        claimed = []
        for row in rows:
            row.lease_until, row.attempts = now + LEASE, row.attempts + 1
            sub = subs[int(row.payload["subscription_id"])]
            delivery = Delivery(sub.url, row.dedupe_key, body_of(row.payload), sub.secret) \
                if sub.active else None
            claimed.append(_Claimed(row.id, sub.id, delivery, str(row.payload["event"]),
                                    row.attempts, row.created_at))
    return claimed


def deliver(session: Session, clock: Clock, sender: WebhookSender, batch: int = 50,
            jitter: Callable[[], float] = random.random,
            stopping: Callable[[], bool] = lambda: False) -> Report:
    """Claim due deliveries, POST each (outside any transaction), then log the attempt and
    mark it: delivered, to try again later, or failed."""
    report = Report()
    for item in claim(session, clock, batch):
        if stopping():
            break  # the rest's leases expire; another tick sends them
        error: str | None
        if item.delivery is None:
            answer_code, error, took = None, "abonnement désactivé", 0
        else:
            answer = sender.post(item.delivery, int(clock.now().timestamp()))
            answer_code, error, took = answer.status_code, answer.error, answer.duration_ms
        _mark(session, clock, item, answer_code, error, took, jitter(), report)
    return report


def _mark(session: Session, clock: Clock, item: _Claimed, status_code: int | None,
          error: str | None, took: int, jitter: float, report: Report) -> None:
    now = clock.now()
    delivered = status_code is not None and 200 <= status_code < 300
    with transaction(session):
        row = session.get(OutboxMessage, item.outbox_id, with_for_update=True)
        assert row is not None
        mine = row.status == OutboxStatus.PENDING and row.attempts == item.attempt
        next_at: datetime | None = None
        if delivered:
            if mine:
                row.status, row.delivered_at, row.lease_until = OutboxStatus.SENT, now, None
                row.last_error = None
            report.delivered += 1
        else:
            error = error or f"réponse {status_code}"
            next_at = now + wait_before(item.attempt, jitter)
            give_up = (item.delivery is None or item.attempt >= MAX_ATTEMPTS
                       or next_at - item.created_at > GIVE_UP)
            if give_up:
                next_at = None
                report.failed += 1
            else:
                report.retried += 1
            if mine:
                row.last_error = error[:2000]
                if give_up:
                    row.status, row.lease_until = OutboxStatus.FAILED, None
                else:
                    row.lease_until = next_at
        session.add(WebhookAttempt(
            subscription_id=item.subscription_id, outbox_id=item.outbox_id,
            delivery_id=row.dedupe_key, event=item.event, at=now, status_code=status_code,
            error=None if delivered else (error or "")[:2000], duration_ms=took,
            next_at=next_at, detail={"attempt": item.attempt}))
    # counted once committed; an event outside EVENTS (none today) keeps the label bounded
    metrics.webhook_attempted(
        item.event if item.event in EVENTS else metrics.OTHER,
        metrics.DELIVERED if delivered else metrics.RETRY if next_at else metrics.GIVEN_UP,
        None if item.delivery is None else took / 1000,
        (now - item.created_at).total_seconds() if delivered else None)


def tick(session: Session, clock: Clock, sender: WebhookSender,
         stopping: Callable[[], bool] = lambda: False, batches: int = 20) -> Report:
    """One pass of the scheduler: deliver until nothing is due (bounded)."""
    total = Report()
    for _ in range(batches):
        report = deliver(session, clock, sender, stopping=stopping)
        total.delivered += report.delivered
        total.retried += report.retried
        total.failed += report.failed
        if report.delivered + report.retried + report.failed < 50 or stopping():
            break
    metrics.webhooks_pending(pending(session))
    return total


def pending(session: Session) -> int:
    """The deliveries still to make: due now or waiting for a new attempt (one count on the
    outbox's pending index)."""
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.kind == KIND)) or 0
