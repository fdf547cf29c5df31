"""Between rows and running instances: compiled-circuit cache, load, and save-with-sync.

Saving writes, in the caller's transaction, the state, the case columns lists read, the
human-task rows, the timer rows and the outbox rows for the notices the circuit produced.
State and timers commit together, so a waiting timer never lacks its row.
"""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.circuits import CircuitBundle, Role
from engine.core.spiff import serializer
from engine.core.spiff.compiler import CompiledCircuit, compile_circuit
from engine.core.spiff.runner import Instance
from engine.core.views import TimerView
from engine.persistence.models import (
    Case,
    CaseState,
    CircuitVersion,
    HumanTask,
    OutboxMessage,
    Territory,
)
from engine.persistence.models import Timer as TimerRow
from engine.persistence.models.case import COMPLETED
from engine.persistence.models.human_task import CANCELLED as TASK_CANCELLED
from engine.persistence.models.human_task import NO_DEADLINE
from engine.persistence.models.human_task import OPEN as TASK_OPEN
from engine.persistence.models.timer import CANCELLED, CLAIMED, DONE, WAITING

_CACHE: OrderedDict[tuple[int, str], CompiledCircuit] = OrderedDict()
_CACHE_LOCK = Lock()
CACHE_SIZE = 64


def bundle_of(version: CircuitVersion, territory: Territory) -> CircuitBundle:
    """The files of a stored version, as a bundle."""
    return CircuitBundle(
        process_id=version.process_id, main_file=version.main_file,
        bpmn={k: v.encode() for k, v in version.bpmn_files.items()},
        forms={k: v.encode() for k, v in version.form_files.items()},
        roles=tuple(Role(r["key"], r["label"]) for r in territory.roles),
        holiday_subdivision=territory.holiday_subdivision)


def compiled(session: Session, version_id: int) -> CompiledCircuit:
    """The compiled circuit of a version (cached per process; specs come from the row)."""
    # Versions are immutable; the checksum alone is read on a hit (never the 250 KB row), and
    # guards against an id reused by another database in the same process (tests).
    checksum = session.scalar(select(CircuitVersion.checksum).where(
        CircuitVersion.id == version_id))
    key = (version_id, str(checksum))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    version = session.get(CircuitVersion, version_id)
    assert version is not None
    from engine.persistence.models import Circuit
    circuit = session.get(Circuit, version.circuit_id)
    territory = session.get(Territory, circuit.territory_id) if circuit else None
    assert territory is not None
    result = compile_circuit(bundle_of(version, territory))
    # cases run on the spec stored at deploy time, whatever today's compiler would produce
    result.spec_json = version.spec
    result.spec, result.subprocess_specs = serializer.restore_spec(version.spec)
    with _CACHE_LOCK:
        _CACHE[key] = result
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


def load(session: Session, case: Case, clock: Clock) -> Instance:
    """The running instance of a case row."""
    stored = session.get(CaseState, case.id)  # kept in the session: save() reuses it
    assert stored is not None, f"case {case.id} has no state"
    return Instance.load(compiled(session, case.circuit_version_id), stored.state, clock)


def save(session: Session, case: Case, instance: Instance, clock: Clock) -> None:
    """Write the instance back into ``case`` and sync tasks, timers and notices."""
    with session.no_autoflush:  # one flush at the end, not one per query
        stored = session.get(CaseState, case.id)
        if stored is None:
            stored = CaseState(case_id=case.id, state="")
            session.add(stored)
        stored.state = instance.dump()
        waiting = instance.waiting_timers()
        case.updated_at = clock.now()  # always touch the case row: its version counter moves
        case.next_due_at = waiting[0].due_at if waiting else None
        end = instance.end()
        if end is not None and case.status != COMPLETED:
            case.status, case.end_state, case.end_label = COMPLETED, end.bpmn_id, end.name
            case.closed_at = clock.now()
        tasks = _sync_tasks(session, case, instance)
        _sync_timers(session, case, instance, clock, waiting)
        _notices(session, case, instance, clock, tasks)
    session.flush()


def _sync_tasks(session: Session, case: Case, instance: Instance) -> dict[str, HumanTask]:
    ready = {t.id: t for t in instance.ready_tasks(instructions=False)}
    known = {r.spiff_task_id: r for r in session.scalars(select(HumanTask).where(
        HumanTask.case_id == case.id,
        or_(HumanTask.status == TASK_OPEN, HumanTask.spiff_task_id.in_(list(ready)))))}
    rows = {k: r for k, r in known.items() if r.status == TASK_OPEN}
    for task_id, row in rows.items():
        if task_id not in ready:
            row.status = TASK_CANCELLED
    for task_id, view in ready.items():
        if task_id in rows:  # a move to another version may rename a step or change its lane
            row = rows[task_id]
            row.name, row.lane = view.name[:300], view.lane
            row.role, row.form = view.role, view.form
            continue
        past = known.get(task_id)
        if past is not None:  # a repair made a finished step ready again: reopen its row
            past.status, past.assignee_id, past.completed_at, past.completed_by_id = (
                TASK_OPEN, None, None, None)
            past.ready_at, past.due_at = view.ready_at, view.due_at
            past.due_sort, past.overdue_noticed_at = view.due_at or NO_DEADLINE, None
            rows[task_id] = past
            continue
        rows[task_id] = HumanTask(
            case_id=case.id, territory_id=case.territory_id, circuit_id=case.circuit_id,
            spiff_task_id=view.id, bpmn_id=view.bpmn_id, name=view.name[:300],
            lane=view.lane, role=view.role, form=view.form, status=TASK_OPEN,
            ready_at=view.ready_at, due_at=view.due_at, due_sort=view.due_at or NO_DEADLINE)
        session.add(rows[task_id])
    return rows


def _sync_timers(session: Session, case: Case, instance: Instance, clock: Clock,
                 views: list[TimerView]) -> None:
    rows = {(r.spiff_task_id, r.due_at): r for r in session.scalars(
        select(TimerRow).where(TimerRow.case_id == case.id,
                               TimerRow.status.in_((WAITING, CLAIMED))))}
    waiting = {(t.id, t.due_at): t for t in views}
    now = clock.now()
    for key, row in rows.items():
        if key in waiting:
            continue
        if instance.timer_outcome(row.spiff_task_id) == "fired":
            row.status, row.fired_at = DONE, now
            row.lateness_seconds = (now - row.due_at).total_seconds()
        else:
            row.status = CANCELLED
        row.lease_owner = row.lease_until = None
    for key, view in waiting.items():
        if key not in rows:
            session.add(TimerRow(case_id=case.id, spiff_task_id=view.id, bpmn_id=view.bpmn_id,
                                 name=view.name[:300], kind=view.kind, due_at=view.due_at,
                                 status=WAITING, created_at=now))


def _notices(session: Session, case: Case, instance: Instance, clock: Clock,
             tasks: dict[str, HumanTask]) -> None:
    for notice in instance.drain_notices():
        about = next((t for t in tasks.values() if t.bpmn_id == notice.about), None)
        user_id = role = None
        if notice.recipient == "assignee":
            user_id = about.assignee_id if about is not None else None
            role = about.role if about is not None and user_id is None else None
        else:
            role = notice.recipient
        session.add(OutboxMessage(
            dedupe_key=f"notice:{case.id}:{notice.id}", kind="relance",
            territory_id=case.territory_id, case_id=case.id, recipient_user_id=user_id,
            recipient_role=role, created_at=clock.now(),
            payload={"case": case.reference, "notice": notice.name, "step": notice.about,
                     "step_name": about.name if about is not None else None}))
