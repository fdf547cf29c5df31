"""Graceful stop of ``aiguillage scheduler`` (issue #17): SIGTERM or SIGINT while it fires a
batch lets it finish the timer in hand, give back the timers it claimed and did not fire (due
again at once for another scheduler, without waiting for the lease to expire, their attempt
not counted), and exit 0. On SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import FixedClock
from engine.persistence.models import AuditEvent, Timer
from engine.services import cases, timers
from tests.integration.factories import RELANCES, make_world

ROOT = Path(__file__).resolve().parents[2]
CASES = 20  # 4 timers each: 80 due timers, more than one claim (50) holds


def statuses(sessions: sessionmaker[Session]) -> Counter[str]:
    with sessions() as s:
        return Counter(dict(s.execute(select(Timer.status, func.count())
                                      .group_by(Timer.status)).all()))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_scheduler_finishes_its_timer_and_releases_its_claims(
        signum: signal.Signals, session: Session, sessions: sessionmaker[Session],
        clock: FixedClock, db_url: str, tmp_path: Path) -> None:
    world = make_world(session, clock, RELANCES)
    for n in range(CASES):
        cases.start(session, clock, world.coordinator, world.circuit.id,
                    {"nom_menage": f"Ménage {n:02d}"})
    instant = clock.now() + timedelta(days=30)  # all 80 overdue
    log = tmp_path / "child.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.scheduler_stop_child", db_url,
             instant.isoformat()], cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # it fired one timer and holds the rest of its claim
        assert first.startswith("fired"), log.read_text()
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=60)
    lines = [first, *out.splitlines()]
    assert proc.returncode == 0, log.read_text()
    assert lines[-1] == "stopped"
    fired = [int(line.split()[1]) for line in lines if line.startswith("fired")]
    assert "claimed timer(s) released" in log.read_text()

    counts = statuses(sessions)
    assert counts["claimed"] == 0  # nothing left to wait a lease for
    assert 0 < len(fired) < 50 and counts["waiting"] > 0
    with sessions() as s:
        waiting = s.execute(select(Timer.attempts, Timer.lease_owner).where(
            Timer.status == "waiting", Timer.due_at <= instant)).all()
    # the rest of its claim went back as if never claimed, ready for another scheduler now
    assert set(waiting) == {(0, None)} and len(waiting) == counts["waiting"]

    # another scheduler, at the same instant (no lease has expired), takes and fires them all
    with sessions() as s:
        taken = timers.claim_due(s, FixedClock(instant), "successor", batch=1000)
    assert len(taken) == len(waiting)
    for timer_id in taken:
        with sessions() as s:
            timers.fire(s, FixedClock(instant), "successor", timer_id)
    with sessions() as s:
        assert set(s.scalars(select(Timer.status))) == {"done"}
        fired_once: Counter[tuple[int, str]] = Counter()
        for case_id, detail in s.execute(select(AuditEvent.case_id, AuditEvent.detail).where(
                AuditEvent.action == "timer.fired")):
            fired_once.update((case_id, b) for b in detail["fired"])
    assert len(fired_once) == CASES * 4 and set(fired_once.values()) == {1}


def test_release_leaves_a_timer_another_worker_took_over(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock) -> None:
    world = make_world(session, clock, RELANCES)
    cases.start(session, clock, world.coordinator, world.circuit.id, {"nom_menage": "Ménage"})
    instant = clock.now() + timedelta(days=30)
    with sessions() as s:
        mine = timers.claim_due(s, FixedClock(instant), "stopping", batch=4)
    later = FixedClock(instant + timers.LEASE + timedelta(seconds=1))
    with sessions() as s:  # the lease expired: another scheduler claimed them
        assert timers.claim_due(s, later, "other", batch=4) == mine
    with sessions() as s:
        assert timers.release(s, "stopping", mine) == 0
    with sessions() as s:
        rows = s.execute(select(Timer.status, Timer.lease_owner, Timer.attempts)).all()
    assert set(rows) == {("claimed", "other", 2)}
