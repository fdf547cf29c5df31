"""Between rows and running instances: compiled-circuit cache, lock, load, save-with-sync.

Saving writes, in the caller's transaction, the state, the case columns lists read, the
human-task rows, the timer rows and the outbox rows for the notices the circuit produced.
State and timers commit together, so a waiting timer never lacks its row.

This is the hot path of every completion and every timer (issue #3's budget: about twice
the engine's own load + step + dump): the case row, its state and its version's checksum
come in one statement (``lock``), and the step, timer and outbox rows are written with
plain multi-row statements instead of through the unit of work. Only the case row goes
through the ORM, for its version counter.

The package holds the three concerns apart: ``cache`` (compiled circuits), ``statements``
(the SQL built once) and ``rows`` (the sync of step, timer and outbox rows); this module
keeps the passage itself: ``lock``, ``load``, ``save``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.rules import EXPIRE
from engine.core.spiff.runner import Instance
from engine.persistence.db import SESSION_STATES, table
from engine.persistence.models import Case, CaseState
from engine.persistence.models.case import CaseStatus
from engine.services.access import SYSTEM
from engine.services.runtime.cache import CACHE_SIZE as CACHE_SIZE
from engine.services.runtime.cache import bundle_of as bundle_of
from engine.services.runtime.cache import compiled as compiled
from engine.services.runtime.rows import Saved as Saved
from engine.services.runtime.rows import Step as Step
from engine.services.runtime.rows import TimerKey as TimerKey
from engine.services.runtime.rows import armed_timers as armed_timers
from engine.services.runtime.rows import (
    notices,
    sync_tasks,
    sync_timers,
    write_case,
)
from engine.services.runtime.rows import open_steps as open_steps
from engine.services.runtime.statements import LOCK, SAVE_STATE, STATE


def lock(session: Session, case_id: int | None = None, *, task_id: int | None = None,
         timer_id: int | None = None) -> Case | None:
    """The case row (given, or of a step or of a timer), locked for this transaction
    (``FOR UPDATE`` on PostgreSQL; SQLite's write transaction already holds the lock),
    fresh from the database; None if there is no such case, step or timer.

    Its state and its version's checksum come in the same statement and are kept for the
    ``load`` that follows, keyed by the case's version counter.
    """
    kind, key = (("task", task_id) if task_id is not None
                 else ("timer", timer_id) if timer_id is not None else ("case", case_id))
    found = session.execute(LOCK[kind], {"id": key}).one_or_none()
    if found is None:
        return None
    case, state, checksum = found
    session.info.setdefault(SESSION_STATES, {})[(case.id, case.version)] = (state, checksum)
    return case


def load(session: Session, case: Case, clock: Clock) -> Instance:
    """The running instance of a case row (no query after ``lock``, one otherwise)."""
    kept = session.info.get(SESSION_STATES, {}).pop((case.id, case.version), None)
    if kept is None:
        kept = session.execute(STATE, {"case_id": case.id, "version_id": case.circuit_version_id
                                        }).one_or_none()
        assert kept is not None, f"case {case.id} has no state"
    state, checksum = kept
    return Instance.load(compiled(session, case.circuit_version_id, checksum), state, clock)


def save(session: Session, case: Case, instance: Instance, clock: Clock, *,
         new: bool = False, steps: Sequence[Step] | None = None,
         armed: Iterable[TimerKey] | None = None, done: Mapping[str, Any] | None = None,
         also: Mapping[str, Any] | None = None) -> Saved:
    """Write the instance back into ``case`` and sync tasks, timers and notices.

    ``new``: the case was just created (its state row is inserted). ``steps``: the case's
    open steps, when the caller already read them under the lock. ``armed``: the timers the
    case waited on before the caller acted on it, as the caller read them (the timer rows
    under the lock, or the loaded instance's ``waiting_timers``: save keeps rows and state
    in step, so the two agree); both are read here when not given. ``done``: the whole row
    of the step the caller completed, written with the new steps. ``also``: other case
    columns to write with the same version-checked UPDATE (changes made on the object
    itself are written too, at the cost of a unit-of-work flush at commit).
    """
    if inspect(case).pending:
        session.flush()  # a case created in this transaction: its row comes first
    with session.no_autoflush:  # the case row is written once, by write_case
        now = clock.now()
        state = instance.dump()
        if new:
            session.connection().execute(table(CaseState).insert(),
                                         {"case_id": case.id, "state": state})
        else:
            session.connection().execute(SAVE_STATE, {"cid": case.id, "state": state})
        waiting = instance.waiting_timers()
        saved = Saved()
        saved.steps = sync_tasks(session, case, instance, open_steps(session, case.id)
                                  if steps is None else steps, done)
        # always touch the case row: its version counter moves
        changes = {**(also or {}), "updated_at": now, "next_due_at": next_due(saved.steps)}
        end = instance.end()
        ended = end is not None and case.status != CaseStatus.COMPLETED
        if end is not None and ended:
            changes.update(status=CaseStatus.COMPLETED, end_state=end.bpmn_id, end_label=end.name,
                           closed_at=now)
        write_case(session, case, changes)
        saved.closed_timers = sync_timers(session, case, instance, now, waiting, armed)
        notices(session, case, instance, now, saved.steps)
        _orientations(session, case, instance, clock, ended)
        if end is not None and ended:
            _ended(session, case, now, end.bpmn_id, end.name)
    return saved


def next_due(steps: Iterable[Step]) -> datetime | None:
    """A case's « prochaine échéance »: the earliest due date of its open steps (past or
    not: an overdue step keeps showing its date), never a timer's; None without one.

    The one definition the lists, the case page and supervision read from ``case.next_due_at``,
    computed here from the steps ``save`` has just synced (no statement of its own)."""
    return min((s.due_at for s in steps if s.due_at is not None), default=None)


def _ended(session: Session, case: Case, now: datetime, end_id: str, end_name: str) -> None:
    """The webhooks of the case's organisations: it reached an end event (one read, only
    when a case ends)."""
    # imported here: webhooks → access would load before runtime's own imports finish
    from engine.services import webhooks

    webhooks.emit_to_parties(session, now, "case.closed", f"case.closed:{case.id}",
                             case.territory_id, case.id,
                             {"case": case.reference, "status": CaseStatus.COMPLETED.value,
                              "end": {"id": end_id, "name": end_name}},
                             circuit_id=case.circuit_id)


def _orientations(session: Session, case: Case, instance: Instance, clock: Clock,
                  ended: bool) -> None:
    """The circuit's effects on the case's orientations, in the same transaction: a throw
    event with ``orientation`` = ``expire`` expires those awaiting an answer; the case's end
    cancels the open ones and gives back the places taken. Nothing is read otherwise: the
    hot path gains no statement."""
    effects = instance.drain_effects()
    if not effects and not ended:
        return
    # imported here: orientations → parties → runtime would be a cycle at import time
    from engine.services import orientations

    for effect in effects:
        if effect.effect == EXPIRE:
            orientations.expire_open(session, clock, case.id, comment=effect.name)
    if ended:
        orientations.end_of_case(session, clock, SYSTEM, case.id, cancelled=False)


