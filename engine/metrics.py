"""The engine's Prometheus metrics: steps completed, timers fired and their lateness,
incidents, notices sent, database connections in use, scheduler ticks, webhook deliveries
(by event and outcome, their latency, the pending ones).

The services and the scheduler call the small functions below at the point where the thing
happened; nothing here touches the database or Flask. The metrics are created on first use,
not at import: a production server chooses prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, webapp/metrics.py) after this module may have been imported,
and a metric created before that choice would stay in the single-process mode.

Labels are bounded: a circuit is named by its BPMN process id, and past ``MAX_CIRCUITS``
distinct ids a process counts the others under ``autre`` (never a case, a person or a
territory in a label).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event

MAX_CIRCUITS = 100
OTHER = "autre"
# seconds late against the due time: a poll interval is 2 s, downtime makes hours
LATENESS_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0,
                    86400.0)
# seconds from an event to its delivery: a tick every few seconds, retries back off to hours
WEBHOOK_LATENCY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 7200.0,
                           21600.0, 86400.0)
# seconds a webhook POST took: the timeout is 5 s
WEBHOOK_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# a delivery attempt's outcome (label ``outcome``)
DELIVERED, RETRY, GIVEN_UP = "delivered", "retry", "given_up"


@dataclass(frozen=True)
class Instruments:
    """Every engine metric of this process."""

    steps_completed: Counter
    timers_fired: Counter
    timer_lateness: Histogram
    timer_failures: Counter
    incidents: Counter
    notices_sent: Counter
    db_connections: Gauge
    scheduler_ticks: Counter
    scheduler_last_tick: Gauge
    webhook_deliveries: Counter
    webhook_latency: Histogram
    webhook_duration: Histogram
    webhooks_pending: Gauge


_lock = threading.Lock()
_instruments: Instruments | None = None
_circuits: set[str] = set()


def instruments() -> Instruments:
    """This process's metrics, created on first use (after the server chose its mode)."""
    global _instruments
    with _lock:
        if _instruments is None:
            _instruments = _create()
        return _instruments


def _create() -> Instruments:
    return Instruments(
        steps_completed=Counter("aiguillage_steps_completed", "Étapes réalisées",
                                ["circuit"]),
        timers_fired=Counter("aiguillage_timers_fired", "Minuteries déclenchées"),
        timer_lateness=Histogram("aiguillage_timer_lateness_seconds",
                                 "Retard d'une minuterie déclenchée sur son échéance",
                                 buckets=LATENESS_BUCKETS),
        timer_failures=Counter("aiguillage_timer_failures",
                               "Essais de minuterie en échec (réessayés ensuite)"),
        incidents=Counter("aiguillage_incidents", "Incidents ouverts (minuterie en échec "
                          "après ses essais)", ["kind"]),
        notices_sent=Counter("aiguillage_notices_sent", "Avis et relances envoyés"),
        db_connections=Gauge("aiguillage_db_connections_in_use",
                             "Connexions à la base empruntées au pool",
                             multiprocess_mode="livesum"),
        scheduler_ticks=Counter("aiguillage_scheduler_ticks", "Passages du planificateur"),
        scheduler_last_tick=Gauge("aiguillage_scheduler_last_tick_timestamp_seconds",
                                  "Heure (Unix) du dernier passage du planificateur",
                                  multiprocess_mode="max"),
        webhook_deliveries=Counter(
            "aiguillage_webhook_deliveries", "Essais de livraison des notifications web, par "
            "événement et issue (livrée, nouvel essai prévu, abandonnée)",
            ["event", "outcome"]),
        webhook_latency=Histogram(
            "aiguillage_webhook_delivery_latency_seconds",
            "Délai entre un événement et la livraison de sa notification web", ["event"],
            buckets=WEBHOOK_LATENCY_BUCKETS),
        webhook_duration=Histogram(
            "aiguillage_webhook_attempt_duration_seconds",
            "Durée d'un essai de livraison (requête HTTP)",
            buckets=WEBHOOK_DURATION_BUCKETS),
        webhooks_pending=Gauge(
            "aiguillage_webhooks_pending", "Notifications web à livrer (dues ou en attente "
            "d'un nouvel essai), comptées au dernier passage du planificateur",
            multiprocess_mode="mostrecent"),
    )


def circuit_label(process_id: str) -> str:
    """``process_id``, or ``autre`` once this process has seen ``MAX_CIRCUITS`` others."""
    with _lock:
        if process_id in _circuits:
            return process_id
        if len(_circuits) < MAX_CIRCUITS:
            _circuits.add(process_id)
            return process_id
    return OTHER


def step_completed(process_id: str) -> None:
    """A step was completed on a circuit (``tasks.complete``)."""
    instruments().steps_completed.labels(circuit=circuit_label(process_id)).inc()


def timer_fired(lateness_seconds: float) -> None:
    """A timer fired, ``lateness_seconds`` after its due time."""
    found = instruments()
    found.timers_fired.inc()
    found.timer_lateness.observe(max(lateness_seconds, 0.0))


def timer_failed(incident: bool) -> None:
    """An attempt to fire a timer failed; ``incident``: it was the last attempt."""
    found = instruments()
    found.timer_failures.inc()
    if incident:
        found.incidents.labels(kind="timer").inc()


def notices_sent(count: int) -> None:
    """``count`` messages left the outbox."""
    if count:
        instruments().notices_sent.inc(count)


def scheduler_ticked(unix_seconds: float) -> None:
    """A scheduler tick ended at ``unix_seconds``."""
    found = instruments()
    found.scheduler_ticks.inc()
    found.scheduler_last_tick.set(unix_seconds)


def webhook_attempted(event: str, outcome: str, duration_seconds: float | None,
                      latency_seconds: float | None) -> None:
    """A webhook delivery attempt was recorded: ``outcome`` is ``delivered``, ``retry`` or
    ``given_up``; ``duration_seconds``, the POST's (None: no POST was made, the subscription
    is inactive); ``latency_seconds``, for a delivered one, runs from the event."""
    found = instruments()
    found.webhook_deliveries.labels(event=event, outcome=outcome).inc()
    if duration_seconds is not None:
        found.webhook_duration.observe(max(duration_seconds, 0.0))
    if outcome == DELIVERED and latency_seconds is not None:
        found.webhook_latency.labels(event=event).observe(max(latency_seconds, 0.0))


def webhooks_pending(count: int) -> None:
    """``count`` webhook deliveries are still to make (the last pass's count)."""
    instruments().webhooks_pending.set(count)


def watch_pool(database: Any) -> None:
    """Count the connections ``database`` (a SQLAlchemy engine) lends out: the gauge goes up
    at each checkout and down at each checkin (summed over a server's live workers)."""
    gauge = instruments().db_connections

    def checkout(*_args: Any) -> None:
        gauge.inc()

    def checkin(*_args: Any) -> None:
        gauge.dec()

    event.listen(database, "checkout", checkout)
    event.listen(database, "checkin", checkin)
