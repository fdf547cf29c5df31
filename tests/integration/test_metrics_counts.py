"""The engine's metrics count what happened, once committed (issue #17, item 3): a failed
timer attempt, the incident after the last one, and no fired timer for a failure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session, sessionmaker

from engine import scheduler
from engine.clock import FixedClock
from engine.persistence.models import Case
from engine.services import runtime, timers
from tests.integration.factories import make_world, start_at_decision


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_failed_attempts_and_the_incident_are_counted(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world(session, clock)
    broken = start_at_decision(session, clock, world, "Ménage En Panne")
    real_load = runtime.load

    def load(session_: Session, case: Case, clock_: Any) -> Any:
        if case.id == broken:
            raise RuntimeError("état illisible (panne simulée)")
        return real_load(session_, case, clock_)

    monkeypatch.setattr(runtime, "load", load)
    failures = _value("aiguillage_timer_failures_total")
    incidents = _value("aiguillage_incidents_total", kind="timer")
    fired = _value("aiguillage_timers_fired_total")
    clock.advance(timedelta(days=10, minutes=1))  # the reminder is due
    scheduler.run_once(sessions, clock, "w")
    assert _value("aiguillage_timer_failures_total") - failures == 1
    assert _value("aiguillage_incidents_total", kind="timer") == incidents
    for backoff in timers.BACKOFF[:timers.MAX_ATTEMPTS - 1]:
        clock.advance(backoff)
        scheduler.run_once(sessions, clock, "w")
    assert _value("aiguillage_timer_failures_total") - failures == timers.MAX_ATTEMPTS
    assert _value("aiguillage_incidents_total", kind="timer") - incidents == 1
    assert _value("aiguillage_timers_fired_total") == fired
