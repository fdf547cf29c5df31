"""The timer process: a ticker only; the ``timer`` table is the truth.

Each tick claims due timers with a lease and fires them, a group per transaction, until none
is due. Late timers (after downtime) always fire, and their lateness is recorded. Cycle timers
catch up: every missed occurrence fires once. Run it as ``aiguillage scheduler`` (a plain
loop; SIGTERM lets it finish the timer it fires and release the ones it claimed); the
embedded mode (one process with the web app) starts a background APScheduler ticker instead.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from engine import metrics
from engine.clock import Clock, SystemClock
from engine.errors import EngineError
from engine.mail import Sender, sender_from_environment
from engine.services import (
    commission_sessions,
    health,
    notices,
    retention,
    saisines,
    timers,
    webhooks,
)
from engine.webhook_sender import HttpSender, WebhookSender

log = logging.getLogger("aiguillage.scheduler")
POLL_SECONDS = 2.0
BEAT_EVERY = timedelta(seconds=5)  # a long tick (a backlog of timers) still beats this often
_started: dict[str, datetime] = {}  # worker -> when its first tick began (heartbeat rows)
FORGET_EVERY = timedelta(hours=1)  # expired API idempotency keys are deleted this often
_forgotten: dict[str, datetime] = {}  # worker -> when it last deleted them


def worker_name() -> str:
    """A name unique to this process (lease owner)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Tick:
    """What one tick did."""

    claimed: int = 0
    fired: int = 0
    failed: int = 0
    notices: int = 0
    sessions: int = 0  # commission sessions planned or moved on (agenda closed, files sent)
    anonymised: int = 0  # closed cases past their retention, anonymised
    released: int = 0  # claimed, not fired, given back because the scheduler is stopping
    webhooks: int = 0  # webhook deliveries made (2xx answers)


def stopping(stop: threading.Event | None) -> bool:
    """Whether the scheduler was told to stop (SIGTERM or SIGINT)."""
    return stop is not None and stop.is_set()


def release(sessions: sessionmaker[Session], worker: str, ids: list[int]) -> int:
    """Release the claims of ``ids`` (never raises: unreleased claims expire with their
    lease, which is also what happens when the process is killed)."""
    try:
        with sessions() as session:
            released = timers.release(session, worker, ids)
    except Exception:  # a database error: the leases expire on their own
        log.exception("releasing %d claimed timer(s) failed", len(ids))
        return 0
    log.info("scheduler %s stopping: %d claimed timer(s) released", worker, released)
    return released


def run_once(sessions: sessionmaker[Session], clock: Clock, worker: str,
             batch: int = 50, max_batches: int = 1000, sender: Sender | None = None,
             retention_batch: int = retention.BATCH, stop: threading.Event | None = None,
             webhook_sender: WebhookSender | None = None) -> Tick:
    """Claim and fire due timers until none is due (bounded by ``max_batches``); move the
    commission's sessions on; anonymise up to ``retention_batch`` closed cases past their
    retention, each in its own transaction; then, with a ``sender``, write and deliver
    notices (overdue steps, daily digests, reminders). Once ``stop`` is set, the timer
    being fired finishes, the claimed ones not yet fired are released, and the tick ends."""
    tick = Tick()
    began, beaten = time.monotonic(), _beat(sessions, clock, worker)
    for _ in range(max_batches):
        if stopping(stop):
            return tick
        with sessions() as session:
            ids = timers.claim_due(session, clock, worker, batch)
        if not ids:
            break
        tick.claimed += len(ids)
        if clock.now() - beaten >= BEAT_EVERY:
            beaten = _beat(sessions, clock, worker)
        if not _fire_claimed(sessions, clock, worker, ids, tick, stop):
            return tick
    if stopping(stop):
        return tick
    with sessions() as session:
        try:  # the commission's sessions: planned, agendas closed, files sent when due
            tick.sessions = commission_sessions.sweep(session, clock)
        except Exception:  # a bug or a database error: the timers above are fired anyway
            log.exception("commission sessions sweep failed")
    tick.anonymised = sweep_retention(sessions, clock, retention_batch, stop)
    forget_expired_keys(sessions, clock, worker)
    if sender is not None and not stopping(stop):
        with sessions() as session:
            report = notices.tick(session, clock, sender)
        tick.notices = report.sent
    if webhook_sender is not None and not stopping(stop):
        tick.webhooks = send_webhooks(sessions, clock, webhook_sender, stop)
    _report(clock, worker, tick, time.monotonic() - began)
    return tick


def forget_expired_keys(sessions: sessionmaker[Session], clock: Clock, worker: str) -> None:
    """At the first tick, then hourly: delete the API's expired idempotency keys. Never
    raises."""
    now = clock.now()
    last = _forgotten.get(worker)
    if last is not None and timedelta(0) <= now - last < FORGET_EVERY:
        return  # (a clock set back, as in tests, runs it again)
    _forgotten[worker] = now
    with sessions() as session:
        try:
            saisines.forget_expired(session, clock)
        except Exception:  # a bug or a database error: the rest of the tick goes on
            log.exception("forgetting expired idempotency keys failed")


def send_webhooks(sessions: sessionmaker[Session], clock: Clock, sender: WebhookSender,
                  stop: threading.Event | None = None) -> int:
    """Deliver the due webhooks (engine/services/webhooks.py); returns how many were
    delivered. Never raises: a failed pass leaves leases that expire, the next tick goes on."""
    with sessions() as session:
        try:
            return webhooks.tick(session, clock, sender,
                                 stopping=lambda: stopping(stop)).delivered
        except Exception:  # a bug or a database error
            log.exception("webhook delivery failed")
            return 0


def _beat(sessions: sessionmaker[Session], clock: Clock, worker: str) -> datetime:
    """Write ``worker``'s heartbeat (``/readyz``); its first one also forgets schedulers
    gone for a day. Never raises: a database outage only delays the beat."""
    now = clock.now()
    first = worker not in _started
    started = _started.setdefault(worker, now)
    try:
        with sessions() as session:
            health.beat(session, clock, worker, started, forget=first)
    except Exception:  # the sweep goes on; readiness reports the silence if it lasts
        log.warning("scheduler %s: heartbeat not written", worker, exc_info=True)
    return now


def _report(clock: Clock, worker: str, tick: Tick, seconds: float) -> None:
    """Count the tick and write its line (INFO when it did something, else DEBUG)."""
    metrics.scheduler_ticked(clock.now().timestamp())
    figures = {"worker": worker, "claimed": tick.claimed, "fired": tick.fired,
               "failed": tick.failed, "notices": tick.notices, "sessions": tick.sessions,
               "anonymised": tick.anonymised, "duration_ms": round(seconds * 1000, 1)}
    busy = tick.claimed or tick.failed or tick.notices or tick.sessions or tick.anonymised
    log.log(logging.INFO if busy else logging.DEBUG,
            "tick: %d fired, %d failed, %d notice(s), %d session(s), %d anonymised in %s ms",
            tick.fired, tick.failed, tick.notices, tick.sessions, tick.anonymised,
            figures["duration_ms"], extra=figures)


GROUP_SECONDS = 0.25  # a group of timers fired in one transaction holds its locks so long


def _fire_claimed(sessions: sessionmaker[Session], clock: Clock, worker: str, ids: list[int],
                  tick: Tick, stop: threading.Event | None) -> bool:
    """Fire the claimed ``ids``; False when told to stop (the timer being fired finished, the
    rest were released so that another scheduler takes them at once).

    They are fired in groups, one transaction and one commit per group of at most
    ``GROUP_SECONDS`` (a commit waits for the disk: it cost as much as a timer's statements).
    A timer whose case another transaction holds, and every timer of a group that failed
    (rolled back as a whole), is fired alone, as before: a failure is recorded per timer."""
    pending, alone = list(ids), False
    while pending:
        if stopping(stop):
            tick.released = release(sessions, worker, pending)
            return False
        if alone:
            _fire_one(sessions, clock, worker, pending.pop(0), tick)
            continue
        until = time.monotonic() + GROUP_SECONDS

        def enough(until: float = until) -> bool:
            return stopping(stop) or time.monotonic() >= until

        with sessions() as session:
            try:
                group = timers.fire_together(session, clock, worker, pending, enough)
            except Exception:  # rolled back: the rest of this batch is fired one by one
                log.info("a group of timers failed: the %d left are fired one by one",
                         len(pending), exc_info=True)
                alone = True
                continue
        tick.fired += len(group.fired)
        if group.settled:
            settled = set(group.settled)
            pending = [i for i in pending if i not in settled]
        else:  # every case was held by another transaction: the first one alone (it
            # waits for its case's lock while holding none)
            _fire_one(sessions, clock, worker, pending.pop(0), tick)
    return True


def _fire_one(sessions: sessionmaker[Session], clock: Clock, worker: str, timer_id: int,
              tick: Tick) -> None:
    with sessions() as session:
        try:
            tick.fired += timers.fire(session, clock, worker, timer_id)
        except EngineError as exc:
            tick.failed += 1
            log.warning("timer %s failed: %s", timer_id, exc)
        except Exception:  # a bug or a database error: one timer never stops a sweep
            tick.failed += 1
            log.exception("timer %s failed", timer_id)


def sweep_retention(sessions: sessionmaker[Session], clock: Clock,
                    batch: int = retention.BATCH, stop: threading.Event | None = None) -> int:
    """Anonymise up to ``batch`` due cases, each in its own transaction (a case another
    scheduler did first, or held meanwhile, is skipped under its lock); returns how many."""
    with sessions() as session:
        try:
            ids = retention.due(session, clock, batch)
        except Exception:  # a bug or a database error: the rest of the tick goes on
            log.exception("retention sweep failed")
            return 0
    done = 0
    for case_id in ids:
        if stopping(stop):  # the rest waits for the next tick (nothing is claimed here)
            break
        with sessions() as session:
            try:
                done += retention.anonymise(session, clock, case_id)
            except Exception:  # one case never stops a sweep; it is tried again next tick
                log.exception("anonymising case %s failed", case_id)
    return done


def start_background(sessions: sessionmaker[Session], clock: Clock | None = None,
                     seconds: float = POLL_SECONDS) -> Any:
    """Embedded mode: a background ticker in this process (one web process only)."""
    # APScheduler loads only in the process that runs timers
    from apscheduler.schedulers.background import BackgroundScheduler
    scheduler = BackgroundScheduler(daemon=True)
    worker = worker_name()
    scheduler.add_job(run_once, "interval", seconds=seconds,
                      args=[sessions, clock or SystemClock(), worker],
                      kwargs={"sender": sender_from_environment(),
                              "webhook_sender": HttpSender()}, id="timers",
                      max_instances=1, coalesce=True, misfire_grace_time=None,
                      replace_existing=True)
    scheduler.start()
    return scheduler


def main(sessions: sessionmaker[Session], seconds: float = POLL_SECONDS,
         stop: threading.Event | None = None) -> None:
    """Dedicated process: tick every ``seconds`` (``aiguillage scheduler``) until SIGTERM or
    SIGINT (or ``stop``): the timer being fired finishes, the timers claimed and not fired
    are released for another scheduler, and the function returns."""
    stop = stop or threading.Event()
    stop_on_signals(stop)
    clock = SystemClock()
    worker = worker_name()
    log.info("scheduler %s started", worker)
    sender = sender_from_environment()
    while not stop.is_set():  # the first tick catches up at once after downtime
        started = time.monotonic()
        try:
            run_once(sessions, clock, worker, sender=sender, stop=stop,
                     webhook_sender=HttpSender())
        except Exception:  # a database outage: tick again later, never die of it
            log.exception("scheduler tick failed")
        stop.wait(max(0.0, seconds - (time.monotonic() - started)))
    log.info("scheduler %s stopped", worker)


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (main thread only: elsewhere signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, _frame: object) -> None:
        log.info("scheduler: %s received, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
