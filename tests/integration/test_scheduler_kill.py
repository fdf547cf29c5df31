"""Fault injection: scheduler processes killed with SIGKILL at random moments (RELIABILITY.md §4).

1,000 timers (250 cases of the ``relances`` test circuit, 4 timers each: three reminders and
an escalation on one step), all overdue, and 10 cases of the ``dates`` test circuit whose
hearing date was corrected before the schedulers start (issue #15): their reminder « 7 jours
avant » moved from March to early February and is overdue, its first time is not (and its
row is cancelled); the escalation and the day-after timer stay in the future. Scheduler
processes are started one after the
other against the same database and killed with ``kill -9`` at random points (fixed seed,
bounded rounds and time), until an unkilled one finishes. Each new process works at an
instant beyond the previous lease, so a claim left by a killed process is recovered. The
invariant: every timer's effect happened exactly once and no timer row was lost or left
waiting or claimed; a recomputed timer fired once, at its recomputed time. On PostgreSQL, two schedulers running at once fire disjoint sets.
"""

from __future__ import annotations

import json
import os
import random
import select as select_io
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import FixedClock
from engine.core.calendar import end_of_day
from engine.persistence.models import (
    AuditEvent,
    Case,
    Circuit,
    HumanTask,
    OutboxMessage,
    Timer,
)
from engine.services import cases, circuits, tasks, timers
from engine.services.access import SYSTEM
from tests.integration.factories import RELANCES, World, make_user, make_world
from tests.unit.test_relative_timers import DATES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CASES = 250
TIMERS = ("relance_1_timer", "relance_2_timer", "relance_3_timer", "escalade_timer")
NOTICES = ("Relance 1 envoyée", "Relance 2 envoyée", "Relance 3 envoyée")
SEED = 20260109
MAX_ROUNDS = 60
KILL_PHASE_SECONDS = 60.0  # the kill phase stops after this, whatever is left
CHILD_SECONDS = 120.0  # an unkilled scheduler must finish within this


def populate(session: Session, clock: FixedClock) -> tuple[World, list[int]]:
    world = make_world(session, clock, RELANCES)
    ids = [cases.start(session, clock, world.coordinator, world.circuit.id,
                       {"nom_menage": f"Ménage {n:03d}"}).id for n in range(CASES)]
    return world, ids


DATED = 10  # cases of the dates circuit, their hearing date corrected before the kill phase
FIRST_HEARING, CORRECTED = date(2026, 3, 10), date(2026, 2, 11)
DATED_TIMERS = ("rappel_timer", "escalade_timer", "lendemain")


def populate_dated(session: Session, clock: FixedClock) -> list[int]:
    """Cases whose timers count from the hearing's date, the date corrected once: the
    reminder (7 days before) moves to the end of 4 February, due when the kill phase starts
    (9 February); the escalation (the day before) and the day-after timer stay ahead."""
    [version] = circuits.deploy_folder(session, clock, SYSTEM, DATES, DATES / "forms")
    circuit = session.get(Circuit, version.circuit_id)
    assert circuit is not None
    actor = make_user(session, clock, "dates@demo.test", circuit.territory_id, "coordination")
    ids = []
    for n in range(DATED):
        case = cases.start(session, clock, actor, circuit.id,
                           {"nom_menage": f"Daté {n:02d}",
                            "date_audience": FIRST_HEARING.isoformat()})
        step = session.scalar(select(HumanTask.id).where(
            HumanTask.case_id == case.id, HumanTask.bpmn_id == "corriger"))
        assert step is not None
        tasks.complete(session, clock, actor, step, {"date_audience": CORRECTED.isoformat()})
        ids.append(case.id)
    return ids


def check_dated(sessions: sessionmaker[Session], ids: list[int]) -> None:
    """The reminder fired once, at its recomputed time; its first time never fired; the
    timers still ahead wait."""
    with sessions() as s:
        rows = Counter((b, d, st) for b, d, st in s.execute(
            select(Timer.bpmn_id, Timer.due_at, Timer.status).where(Timer.case_id.in_(ids))))
        fired: Counter[tuple[int, str]] = Counter()
        for case_id, detail in s.execute(select(AuditEvent.case_id, AuditEvent.detail).where(
                AuditEvent.action == "timer.fired", AuditEvent.case_id.in_(ids))):
            fired.update((case_id, b) for b in detail["fired"])
            assert detail["due_at"] == end_of_day(CORRECTED - timedelta(days=7)).isoformat()
    first, moved = FIRST_HEARING, CORRECTED
    assert rows == Counter({
        ("rappel_timer", end_of_day(first - timedelta(days=7)), "cancelled"): DATED,
        ("escalade_timer", end_of_day(first - timedelta(days=1)), "cancelled"): DATED,
        ("lendemain", end_of_day(first + timedelta(days=1)), "cancelled"): DATED,
        ("rappel_timer", end_of_day(moved - timedelta(days=7)), "done"): DATED,
        ("escalade_timer", end_of_day(moved - timedelta(days=1)), "waiting"): DATED,
        ("lendemain", end_of_day(moved + timedelta(days=1)), "waiting"): DATED})
    assert fired == Counter({(c, "rappel_timer"): 1 for c in ids})


def due_left(sessions: sessionmaker[Session], instant: datetime) -> int:
    """Rows still to fire at ``instant`` (waiting or claimed, due)."""
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(Timer).where(
            Timer.status.in_(("waiting", "claimed")), Timer.due_at <= instant)) or 0


def spawn(url: str, instant: datetime, worker: str, batch: int, log: IO[str],
          wait_go: bool = False) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.integration.scheduler_child", url,
               instant.isoformat(), worker, str(batch)] + (["--wait-go"] if wait_go else [])
    return subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=log, text=True)


def wait_ready(proc: subprocess.Popen[str], seconds: float) -> bool:
    """True once the child printed ``ready`` (False if it died or took too long)."""
    assert proc.stdout is not None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        readable, _, _ = select_io.select([proc.stdout], [], [], 0.05)
        if readable:
            return proc.stdout.readline().strip() == "ready"
        if proc.poll() is not None:
            return False
    return False


def report(proc: subprocess.Popen[str], log_path: Path) -> dict[str, Any]:
    """Wait for an unkilled child and return its JSON report."""
    try:
        out, _ = proc.communicate(timeout=CHILD_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"scheduler did not finish in {CHILD_SECONDS} s:\n{log_path.read_text()}")
    assert proc.returncode == 0, log_path.read_text()
    return dict(json.loads(out.strip().splitlines()[-1]))


def counts(sessions: sessionmaker[Session]) -> Counter[str]:
    with sessions() as s:
        return Counter(dict(s.execute(select(Timer.status, func.count())
                                      .group_by(Timer.status)).all()))


def check_exactly_once(sessions: sessionmaker[Session], ids: list[int]) -> None:
    """Every timer's effect happened exactly once; every timer row is settled."""
    with sessions() as s:
        timer_rows = s.execute(select(Timer.case_id, Timer.bpmn_id, Timer.status)
                               .where(Timer.case_id.in_(ids))).all()
        assert len(timer_rows) == len(ids) * len(TIMERS)  # none lost, none added
        assert Counter((c, b) for c, b, _ in timer_rows) == \
            Counter({(c, b): 1 for c in ids for b in TIMERS})
        assert {status for _, _, status in timer_rows} <= {"done", "cancelled"}
        fired: Counter[tuple[int, str]] = Counter()
        for case_id, detail in s.execute(select(AuditEvent.case_id, AuditEvent.detail)
                                         .where(AuditEvent.action == "timer.fired",
                                                AuditEvent.case_id.in_(ids))):
            fired.update((case_id, b) for b in detail["fired"])
        assert fired == Counter({(c, b): 1 for c in ids for b in TIMERS})
        notices = s.execute(select(OutboxMessage.case_id, OutboxMessage.payload)
                            .where(OutboxMessage.case_id.in_(ids))).all()
        assert Counter((c, p["notice"]) for c, p in notices) == \
            Counter({(c, n): 1 for c in ids for n in NOTICES})
        steps = s.execute(select(HumanTask.case_id, HumanTask.bpmn_id, HumanTask.status)
                          .where(HumanTask.case_id.in_(ids))).all()
        expected_steps = (("reponse", "cancelled"), ("escalade", "open"))
        assert Counter(tuple(r) for r in steps) == \
            Counter({(c, b, st): 1 for c in ids for b, st in expected_steps})
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "timer.incident")) == 0
        assert set(s.scalars(select(Case.status))) == {"open"}


def test_kill_9_at_random_moments_never_loses_nor_repeats_a_timer(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock, db_url: str,
        tmp_path: Path) -> None:
    began = time.monotonic()
    _, ids = populate(session, clock)
    dated = populate_dated(session, clock)
    assert counts(sessions) == Counter({"waiting": CASES * len(TIMERS) + DATED * 3,
                                        "cancelled": DATED * 3})
    setup = time.monotonic() - began

    instant = clock.now() + timedelta(days=30)  # the scheduler was down: all overdue
    with sessions() as s:  # a scheduler that died holding claims
        ghost = timers.claim_due(s, FixedClock(instant), "ghost", batch=40)
    assert len(ghost) == 40

    rng = random.Random(SEED)
    rounds = kills = early_kills = finished = 0
    deadline = time.monotonic() + KILL_PHASE_SECONDS
    log_path = tmp_path / "children.log"
    with log_path.open("w") as log:
        while rounds < MAX_ROUNDS and time.monotonic() < deadline:
            if not due_left(sessions, instant + timers.LEASE + timedelta(seconds=1)):
                break
            rounds += 1
            instant += timers.LEASE + timedelta(seconds=1)  # earlier leases have expired
            proc = spawn(db_url, instant, f"child-{rounds}", rng.choice((5, 20, 50)), log)
            if rng.random() < 0.15:  # anywhere: while importing, connecting or firing
                time.sleep(rng.uniform(0.0, 1.5))
                early = True
            else:  # while it claims and fires
                early = not wait_ready(proc, CHILD_SECONDS)
                time.sleep(rng.uniform(0.0, 0.6))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
                early_kills += early
            else:
                finished += 1
            proc.wait(CHILD_SECONDS)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        kill_phase = time.monotonic() - began - setup
        before_final = counts(sessions)

        instant += timers.LEASE + timedelta(seconds=1)
        last = report(spawn(db_url, instant, "survivor", 50, log), log_path)
        again = report(spawn(db_url, instant + timedelta(minutes=5), "again", 50, log),
                       log_path)

    failures = log_path.read_text()[-4000:]
    assert last["tick"][2] == 0 and again["tick"] == [0, 0, 0], \
        f"survivor {last['tick']}, next sweep {again['tick']}:\n{failures}"
    assert counts(sessions)["done"] == CASES * len(TIMERS) + DATED
    check_exactly_once(sessions, ids)
    check_dated(sessions, dated)
    with sessions() as s:
        attempts = Counter(s.scalars(select(Timer.attempts)))
        recovered = s.scalar(select(func.count()).select_from(Timer).where(
            Timer.id.in_(ghost), Timer.status == "done"))
    assert recovered == len(ghost)
    assert kills > 0
    print(f"\n[{db_url.split(':')[0]}] {CASES} cases x {len(TIMERS)} timers = "
          f"{CASES * len(TIMERS)} timers; setup {setup:.1f} s; kill phase {kill_phase:.1f} s: "
          f"{rounds} rounds, {kills} SIGKILLs ({early_kills} before the sweep began), "
          f"{finished} finished alone; left for the survivor: "
          f"{before_final['waiting']} waiting + {before_final['claimed']} claimed, it fired "
          f"{last['tick'][1]}; ghost claims recovered {recovered}/{len(ghost)}; claims per "
          f"timer {dict(sorted(attempts.items()))}; total {time.monotonic() - began:.1f} s")


def test_two_schedulers_at_once_fire_disjoint_sets(
        backend: str, session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        db_url: str, tmp_path: Path) -> None:
    if backend.startswith("sqlite"):
        pytest.skip("SQLite has one writer: one scheduler per database")
    _, ids = populate(session, clock)
    t0 = clock.now()
    log_path = tmp_path / "children.log"
    figures = []
    with log_path.open("w") as log:
        # One timer per case is due at each instant: each fire settles exactly one row.
        for offset in (timedelta(days=1, hours=12), timedelta(days=2, hours=12),
                       timedelta(days=3, hours=12), timedelta(days=4, hours=12)):
            instant = t0 + offset
            with sessions() as s:
                due = set(s.scalars(select(Timer.id).where(Timer.status == "waiting",
                                                           Timer.due_at <= instant)))
            assert len(due) == CASES
            procs = [spawn(db_url, instant, f"sched-{n}", 5, log, wait_go=True)
                     for n in (1, 2)]
            assert all(wait_ready(p, CHILD_SECONDS) for p in procs), log_path.read_text()
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            one, two = (report(p, log_path) for p in procs)
            assert not set(one["claimed"]) & set(two["claimed"])
            assert not set(one["fired"]) & set(two["fired"])
            assert set(one["fired"]) | set(two["fired"]) == due
            assert len(one["fired"]) + len(two["fired"]) == len(due)
            assert set(one["claimed"]) | set(two["claimed"]) == due
            figures.append((len(one["fired"]), len(two["fired"])))
    check_exactly_once(sessions, ids)
    print(f"\n[postgresql] two schedulers, {CASES} due timers per round, fired by each: "
          f"{figures}")
