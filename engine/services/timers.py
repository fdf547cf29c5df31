"""Timer rows: claim due ones with a lease, fire them, retry, report.

Exactly-once *effect*: firing = one transaction (one timer's, or a group's) that advances
the case and closes the timer row (RELIABILITY.md §4); attempts are at-least-once. A worker
whose lease expired may not commit (fencing), so a slow worker and its successor never both
apply a timer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from engine import metrics
from engine.clock import Clock, FixedClock
from engine.errors import InvalidTransition, NotFound
from engine.persistence.db import transaction
from engine.persistence.models import Case, Timer
from engine.persistence.models.case import CaseStatus
from engine.persistence.models.timer import ARMED_STATUSES, TimerStatus
from engine.services import audit, runtime
from engine.services.access import SYSTEM, Actor, require_admin

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 3
BACKOFF = (timedelta(seconds=30), timedelta(minutes=5), timedelta(minutes=30))


@dataclass(frozen=True)
class TimerCounts:
    """Counts for ``aiguillage timers status``."""

    waiting: int
    due: int
    late: int
    claimed: int
    failed: int
    oldest_due: datetime | None


def _due_condition(now: datetime):  # type: ignore[no-untyped-def]
    return and_(Timer.due_at <= now, or_(
        and_(Timer.status == TimerStatus.WAITING,
             or_(Timer.retry_at.is_(None), Timer.retry_at <= now)),
        and_(Timer.status == TimerStatus.CLAIMED, Timer.lease_until < now)))


def claim_due(session: Session, clock: Clock, worker: str, batch: int = 50) -> list[int]:
    """Lease up to ``batch`` due timers to ``worker`` and return their ids (committed).

    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` keeps concurrent schedulers on disjoint rows.
    SQLite: the write transaction (``BEGIN IMMEDIATE``) serialises claimers.
    """
    now = clock.now()
    with transaction(session):
        candidates = (select(Timer.id).where(_due_condition(now)).order_by(Timer.due_at)
                      .limit(batch).with_for_update(skip_locked=True))
        ids = list(session.scalars(candidates))
        if not ids:
            return []
        session.execute(update(Timer).where(Timer.id.in_(ids)).values(
            status=TimerStatus.CLAIMED, lease_owner=worker, lease_until=now + LEASE,
            attempts=Timer.attempts + 1))
    return ids


def release(session: Session, worker: str, ids: list[int]) -> int:
    """Give back timers ``worker`` claimed and did not fire (a scheduler told to stop): they
    are due again at once for any other scheduler instead of after the lease, and the
    attempt they never had is not counted. A timer whose lease another worker took over is
    left alone. Returns how many were released (committed)."""
    if not ids:
        return 0
    with transaction(session):
        result = session.execute(update(Timer).where(
            Timer.id.in_(ids), Timer.status == TimerStatus.CLAIMED,
            Timer.lease_owner == worker).values(
            status=TimerStatus.WAITING, lease_owner=None, lease_until=None,
            attempts=Timer.attempts - 1))  # claim_due counted one
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def fire(session: Session, clock: Clock, worker: str, timer_id: int) -> bool:
    """Fire one claimed timer: advance its case, close the row, arm new timers.

    Returns False when there was nothing to do (lease lost, already fired, case closed).
    On a failure (an engine fault, a library bug, a database error) the transaction is
    rolled back, the attempt recorded and the error re-raised; after ``MAX_ATTEMPTS`` the
    timer becomes an incident an administrator can retry, instead of being retried at every
    lease expiry without anyone knowing.
    """
    try:
        with transaction(session):
            lateness = _fire_in(session, clock, worker, timer_id)
        if lateness is None:
            return False
        metrics.timer_fired(lateness)  # committed
        return True
    except Exception as exc:
        _failed(session, clock, worker, timer_id, str(exc) or type(exc).__name__)
        raise


@dataclass(frozen=True)
class Together:
    """What ``fire_together`` committed: the ids that fired, and the ids it settled (fired,
    or nothing to do); the others are still claimed, for the caller to go on with."""

    fired: list[int]
    settled: list[int]


def fire_together(session: Session, clock: Clock, worker: str, ids: list[int],
                  enough: Callable[[], bool] = lambda: False) -> Together:
    """Fire claimed timers in ONE transaction (one commit for the group, not one per timer),
    in ``ids``' order, until ``enough()`` says so (asked after each timer: the caller bounds
    how long the group holds its cases' locks, and stops it when told to stop).

    The cases of ``ids`` are locked first in one statement that skips those another
    transaction holds (PostgreSQL ``SKIP LOCKED``): the group never waits for a lock while
    holding others, so it never deadlocks with a user completing a step or with another
    scheduler; the timers of skipped cases are left to the caller, to fire one by one
    (``fire``). Each timer does exactly what ``fire`` does, and the fencing is the same: its
    lease is checked under its row's lock, and that lock is held until the group commits.

    Raises on any failure, the whole group rolled back and nothing recorded: the caller
    then fires those timers one by one, which records the failing one as ``fire`` does.
    """
    fired: dict[int, float] = {}  # id -> lateness
    settled: list[int] = []
    with transaction(session):
        free = set(session.scalars(
            select(Timer.id).join(Case, Case.id == Timer.case_id).where(Timer.id.in_(ids))
            .with_for_update(of=Case, skip_locked=True)))
        for timer_id in ids:
            if settled and enough():
                break
            if timer_id not in free:
                continue
            lateness = _fire_in(session, clock, worker, timer_id)
            settled.append(timer_id)
            if lateness is not None:
                fired[timer_id] = lateness
    for lateness in fired.values():  # committed
        metrics.timer_fired(lateness)
    return Together(list(fired), settled)


def _fire_in(session: Session, clock: Clock, worker: str, timer_id: int) -> float | None:
    """Fire one claimed timer in the caller's transaction; its lateness in seconds, or None
    when there was nothing to do (lease lost, already fired, case closed)."""
    now = clock.now()
    # Lock order: the case, then its timer rows, as tasks.complete and cases.close
    # do (they lock the case, then update its timers). Locking the timer first
    # deadlocks on PostgreSQL when a form is submitted while its timer fires.
    case = runtime.lock(session, timer_id=timer_id)
    if case is None:
        return None
    armed = runtime.armed_timers(session, case.id, also=timer_id)
    timer = next((t for t in armed if t.id == timer_id), None)
    if timer is None or timer.status != TimerStatus.CLAIMED or timer.lease_owner != worker \
            or timer.lease_until is None or timer.lease_until < now:
        return None  # fencing: another worker owns it now, or it is settled
    if case.status != CaseStatus.OPEN:
        _set(session, timer_id, status=TimerStatus.CANCELLED, lease_owner=None,
             lease_until=None)
        return None
    instance = runtime.load(session, case, FixedClock(max(now, timer.due_at)))
    fired = instance.advance()
    saved = runtime.save(session, case, instance, instance.clock,
                         armed=[(t.spiff_task_id, t.due_at) for t in armed
                                if t.status in ARMED_STATUSES])
    if (timer.spiff_task_id, timer.due_at) not in saved.closed_timers:
        # the engine saw nothing due: re-arm it, and never spin on it within a tick
        _set(session, timer_id, status=TimerStatus.WAITING, lease_owner=None,
             lease_until=None, retry_at=now + BACKOFF[0])
    lateness: float = (now - timer.due_at).total_seconds()
    audit.record(session, clock, SYSTEM, "timer.fired", territory_id=case.territory_id,
                 case_id=case.id, timer_id=timer.id, timer=timer.bpmn_id,
                 due_at=timer.due_at.isoformat(), fired=[f.bpmn_id for f in fired],
                 lateness_seconds=lateness)
    return lateness


def _set(session: Session, timer_id: int, **values: Any) -> None:
    session.execute(update(Timer).where(Timer.id == timer_id).values(**values))


def _failed(session: Session, clock: Clock, worker: str, timer_id: int, error: str) -> None:
    with transaction(session):
        timer = session.get(Timer, timer_id)
        if timer is None or timer.lease_owner != worker:
            return
        timer.last_error = error[:2000]
        timer.lease_owner = timer.lease_until = None
        if timer.attempts >= MAX_ATTEMPTS:
            timer.status = TimerStatus.FAILED
            audit.record(session, clock, SYSTEM, "timer.incident", case_id=timer.case_id,
                         timer_id=timer.id, error=error[:500])
        else:
            timer.status = TimerStatus.WAITING
            timer.retry_at = clock.now() + BACKOFF[min(timer.attempts, len(BACKOFF)) - 1]
        incident = timer.status == TimerStatus.FAILED
    metrics.timer_failed(incident)


def retry(session: Session, clock: Clock, actor: Actor, timer_id: int) -> None:
    """Administrator: put a failed timer back in the queue.

    :raises InvalidTransition: the timer is not in incident (for example it already fired).
    """
    with transaction(session):
        timer = session.get(Timer, timer_id)
        case = session.get(Case, timer.case_id) if timer else None
        if timer is None or case is None or not actor.is_member(case.territory_id):
            raise NotFound(code="svc.timer_not_found")
        require_admin(actor, case.territory_id)
        if timer.status != TimerStatus.FAILED:
            raise InvalidTransition(code="svc.timer_not_failed")
        timer.status, timer.attempts, timer.retry_at, timer.last_error = (
            TimerStatus.WAITING, 0, None, None)
        audit.record(session, clock, actor, "timer.retry", territory_id=case.territory_id,
                     case_id=case.id, timer_id=timer.id)


def status(session: Session, clock: Clock) -> TimerCounts:
    """Waiting, due now, late (due more than a minute ago), claimed and failed counts."""
    now = clock.now()

    def count(*conditions: Any) -> int:
        return session.scalar(select(func.count()).select_from(Timer).where(*conditions)) or 0

    pending = (TimerStatus.WAITING, TimerStatus.CLAIMED)
    return TimerCounts(
        waiting=count(Timer.status == TimerStatus.WAITING),
        due=count(_due_condition(now)),
        late=count(Timer.status.in_(pending), Timer.due_at < now - timedelta(minutes=1)),
        claimed=count(Timer.status == TimerStatus.CLAIMED),
        failed=count(Timer.status == TimerStatus.FAILED),
        oldest_due=session.scalar(select(func.min(Timer.due_at)).where(
            Timer.status.in_(pending))),
    )


def done_count(session: Session) -> int:
    """Timers fired so far (benchmarks and tests)."""
    return session.scalar(select(func.count()).select_from(Timer)
                          .where(Timer.status == TimerStatus.DONE)) or 0
