"""Webhook deliveries are counted once recorded (issue #17 observability, #18 item 3): by
event and outcome (delivered, another attempt planned, given up), the latency from the
event to its delivery, and the deliveries still pending after a pass."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import REGISTRY
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.persistence.db import transaction
from engine.services import webhooks
from engine.webhook_sender import RecordingSender
from tests.integration.factories import make_org, make_user, make_world


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _counts(event: str) -> dict[str, float]:
    return {o: _value("aiguillage_webhook_deliveries_total", event=event, outcome=o)
            for o in ("delivered", "retry", "given_up")}


def test_deliveries_are_counted_by_event_and_outcome_with_their_latency(
        session: Session, clock: FixedClock) -> None:
    world = make_world(session, clock)
    admin = make_user(session, clock, "admin@demo.test", world.territory.id, "admin")
    relais = make_org(session, clock, world.territory.id, "Relais")
    created = webhooks.create(session, clock, admin, world.territory.id, relais,
                              "https://partenaire.example/aiguillage", list(webhooks.EVENTS))
    with transaction(session):
        for n in range(2):
            webhooks.emit(session, clock.now(), "case.closed", f"case.closed:{n}",
                          world.territory.id, [relais], {"case": f"X-{n}"})
    before = _counts("case.closed")
    latency = _value("aiguillage_webhook_delivery_latency_seconds_count", event="case.closed")
    latency_sum = _value("aiguillage_webhook_delivery_latency_seconds_sum", event="case.closed")
    attempts = _value("aiguillage_webhook_attempt_duration_seconds_count")

    # both fail: two attempts to make again, nothing delivered, two pending
    webhooks.tick(session, clock, RecordingSender([500, None]), batches=1)
    assert _value("aiguillage_webhooks_pending") == 2
    clock.advance(timedelta(minutes=2))
    # one answers 200 two minutes after its event, the other's subscription is stopped
    webhooks.deliver(session, clock, RecordingSender([200]), batch=1)
    webhooks.deactivate(session, clock, admin, created.subscription.id)
    webhooks.tick(session, clock, RecordingSender())
    after = _counts("case.closed")
    assert {o: after[o] - before[o] for o in after} == {
        "delivered": 1, "retry": 2, "given_up": 1}
    assert _value("aiguillage_webhook_delivery_latency_seconds_count",
                  event="case.closed") - latency == 1
    assert _value("aiguillage_webhook_delivery_latency_seconds_sum",
                  event="case.closed") - latency_sum == 120  # the event, then 2 min
    # three POSTs: the stopped subscription's delivery failed without one
    assert _value("aiguillage_webhook_attempt_duration_seconds_count") - attempts == 3
    assert _value("aiguillage_webhooks_pending") == 0
