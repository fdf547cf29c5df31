"""Between rows and running instances: compiled-circuit cache, lock, load, save-with-sync.

Saving writes, in the caller's transaction, the state, the case columns lists read, the
human-task rows, the timer rows and the outbox rows for the notices the circuit produced.
State and timers commit together, so a waiting timer never lacks its row.

This is the hot path of every completion and every timer (issue #3's budget: about twice
the engine's own load + step + dump): the case row, its state and its version's checksum
come in one statement (``lock``), and the step, timer and outbox rows are written with
plain multi-row statements instead of through the unit of work. Only the case row goes
through the ORM, for its version counter.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from threading import Lock
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Float,
    Row,
    String,
    bindparam,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy import case as when
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine.clock import Clock
from engine.core.circuits import CircuitBundle, Role
from engine.core.spiff import serializer
from engine.core.spiff.compiler import CompiledCircuit, compile_circuit
from engine.core.spiff.runner import Instance
from engine.core.views import TimerView
from engine.errors import ConcurrentUpdate
from engine.persistence.db import SESSION_STATES, UtcDateTime, table, upsert
from engine.persistence.models import (
    Case,
    CaseState,
    Circuit,
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
from engine.persistence.models.timer import CANCELLED, CLAIMED, DONE, FAILED, WAITING

_CACHE: OrderedDict[tuple[int, str], CompiledCircuit] = OrderedDict()
_CACHE_LOCK = Lock()
CACHE_SIZE = 64

_TASKS = table(HumanTask)
_TIMERS = table(TimerRow)
STEP_COLUMNS = (HumanTask.id, HumanTask.case_id, HumanTask.circuit_id, HumanTask.territory_id,
                HumanTask.spiff_task_id, HumanTask.bpmn_id, HumanTask.name, HumanTask.role,
                HumanTask.lane, HumanTask.form, HumanTask.assignee_id, HumanTask.ready_at,
                HumanTask.due_at, HumanTask.due_sort, HumanTask.overdue_noticed_at,
                HumanTask.status)
TIMER_COLUMNS = (TimerRow.id, TimerRow.case_id, TimerRow.spiff_task_id, TimerRow.bpmn_id,
                 TimerRow.due_at, TimerRow.status, TimerRow.lease_owner, TimerRow.lease_until)

# The hot path's statements, built once: building a statement costs SQLAlchemy more Python
# than running it (the compiled form is cached either way). Plain statements run on the
# session's connection: same transaction, without the ORM's per-statement overhead (nor
# its autoflush: nothing here depends on pending ORM objects but the case, flushed first).
_LOCKED = (select(Case, CaseState.state, CircuitVersion.checksum)
           .join(CaseState, CaseState.case_id == Case.id)
           .join(CircuitVersion, CircuitVersion.id == Case.circuit_version_id)
           # Lock the state row too: on PostgreSQL a statement that waited for a lock
           # returns the new version of each locked row but the old version of the rows it
           # only joined; the state must be the one saved with the version it comes with.
           .with_for_update(of=[Case, CaseState]).execution_options(populate_existing=True))
_LOCK = {"case": _LOCKED.where(Case.id == bindparam("id")),
         "task": _LOCKED.join(HumanTask, HumanTask.case_id == Case.id)
         .where(HumanTask.id == bindparam("id")),
         "timer": _LOCKED.join(TimerRow, TimerRow.case_id == Case.id)
         .where(TimerRow.id == bindparam("id"))}
# the columns a service may change on a case row; save writes them with the version check
_CASE_WRITES = ("circuit_version_id", "status", "updated_at", "next_due_at", "end_state",
                "end_label", "error", "closed_at", "close_reason", "referent_id")
_CASES = table(Case)
_SAVE_CASE = (update(_CASES).where(_CASES.c.id == bindparam("case_id_"),
                                   _CASES.c.version == bindparam("version_"))
              .values(version=bindparam("next_"),
                      **{c: bindparam(c + "_") for c in _CASE_WRITES}))
_STATE = (select(CaseState.state, CircuitVersion.checksum)
          .join(CircuitVersion, CircuitVersion.id == bindparam("version_id"))
          .where(CaseState.case_id == bindparam("case_id")))
_CHECKSUM = select(CircuitVersion.checksum).where(CircuitVersion.id == bindparam("version_id"))
_OPEN_STEPS = select(*STEP_COLUMNS).where(HumanTask.case_id == bindparam("case_id"),
                                          HumanTask.status == TASK_OPEN)
_ARMED = select(*TIMER_COLUMNS).where(
    TimerRow.case_id == bindparam("case_id"),
    TimerRow.status.in_((WAITING, CLAIMED, FAILED)) | (TimerRow.id == bindparam("also"))
).with_for_update()
_SAVE_STATE = (update(table(CaseState)).where(table(CaseState).c.case_id == bindparam("cid"))
               .values(state=bindparam("state")))
_CANCEL_STEPS = (update(_TASKS).where(_TASKS.c.id.in_(bindparam("ids", expanding=True)))
                 .values(status=TASK_CANCELLED))
# Closing a timer row by its key (case, BPMN task, due time): it fired (done, with its
# lateness) or was cancelled; an incident the case moved past is withdrawn (cancelled).
_STILL = or_(*[_TIMERS.c.status == s for s in (WAITING, CLAIMED, FAILED)])  # no IN: executemany
_FAILED_ROW = _TIMERS.c.status == FAILED
_CLOSE_TIMERS = update(_TIMERS).where(
    _TIMERS.c.case_id == bindparam("case_"), _TIMERS.c.spiff_task_id == bindparam("task_"),
    _TIMERS.c.due_at == bindparam("due_"), _STILL,
).values(status=when((_FAILED_ROW, CANCELLED), else_=bindparam("outcome_", type_=String())),
         fired_at=when((_FAILED_ROW, None), else_=bindparam("fired_at_", type_=UtcDateTime())),
         lateness_seconds=when((_FAILED_ROW, None), else_=sql_cast(bindparam("late_"), Float())),
         lease_owner=None, lease_until=None)


@dataclass(frozen=True)
class Step:
    """An open human-task row of the case being saved (plain values, not an ORM object)."""

    id: int
    case_id: int
    circuit_id: int
    territory_id: int
    spiff_task_id: str
    bpmn_id: str
    name: str
    role: str | None
    lane: str | None
    form: str | None
    assignee_id: int | None
    ready_at: datetime
    due_at: datetime | None
    due_sort: datetime
    overdue_noticed_at: datetime | None = None
    status: str = TASK_OPEN

    def row(self, **changes: Any) -> dict[str, Any]:
        """The whole row as it must be written (an upsert sets every column)."""
        values = {c.key: getattr(self, c.key) for c in STEP_COLUMNS if c.key != "id"}
        return {**values, "completed_at": None, "completed_by_id": None, **changes}


TimerKey = tuple[str, datetime]  # (BPMN task id, due time): one timer row per case


@dataclass
class Saved:
    """What ``save`` wrote: the case's open steps afterwards and the timers it closed."""

    steps: list[Step] = field(default_factory=list)
    closed_timers: set[TimerKey] = field(default_factory=set)


def bundle_of(version: CircuitVersion, territory: Territory) -> CircuitBundle:
    """The files of a stored version, as a bundle."""
    return CircuitBundle(
        process_id=version.process_id, main_file=version.main_file,
        bpmn={k: v.encode() for k, v in version.bpmn_files.items()},
        forms={k: v.encode() for k, v in version.form_files.items()},
        roles=tuple(Role(r["key"], r["label"]) for r in territory.roles),
        holiday_subdivision=territory.holiday_subdivision)


def compiled(session: Session, version_id: int, checksum: str | None = None) -> CompiledCircuit:
    """The compiled circuit of a version (cached per process; specs come from the row).

    Versions are immutable; on a hit only the checksum is needed (never the 250 KB row); it
    guards against an id reused by another database in the same process (tests). Callers
    that already read it (``lock``) pass it and no query runs at all.
    """
    if checksum is None:
        checksum = session.scalar(_CHECKSUM, {"version_id": version_id})
    key = (version_id, str(checksum))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    version = session.get(CircuitVersion, version_id)
    assert version is not None
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
    found = session.execute(_LOCK[kind], {"id": key}).one_or_none()
    if found is None:
        return None
    case, state, checksum = found
    session.info.setdefault(SESSION_STATES, {})[(case.id, case.version)] = (state, checksum)
    return case


def load(session: Session, case: Case, clock: Clock) -> Instance:
    """The running instance of a case row (no query after ``lock``, one otherwise)."""
    kept = session.info.get(SESSION_STATES, {}).pop((case.id, case.version), None)
    if kept is None:
        kept = session.execute(_STATE, {"case_id": case.id, "version_id": case.circuit_version_id
                                        }).one_or_none()
        assert kept is not None, f"case {case.id} has no state"
    state, checksum = kept
    return Instance.load(compiled(session, case.circuit_version_id, checksum), state, clock)


def open_steps(session: Session, case_id: int) -> list[Step]:
    """The case's open human-task rows (read under the case lock by writers)."""
    rows = session.connection().execute(_OPEN_STEPS, {"case_id": case_id})
    return [Step(**r._mapping) for r in rows]


def armed_timers(session: Session, case_id: int, also: int | None = None) -> list[Row[Any]]:
    """The case's timer rows still in play (waiting, claimed or in incident), and ``also``
    whatever its status; locked on PostgreSQL."""
    return list(session.connection().execute(_ARMED, {"case_id": case_id, "also": also}))


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
    with session.no_autoflush:  # the case row is written once, by _write_case
        now = clock.now()
        state = instance.dump()
        if new:
            session.connection().execute(table(CaseState).insert(),
                                         {"case_id": case.id, "state": state})
        else:
            session.connection().execute(_SAVE_STATE, {"cid": case.id, "state": state})
        waiting = instance.waiting_timers()
        # always touch the case row: its version counter moves
        changes = {**(also or {}), "updated_at": now,
                   "next_due_at": waiting[0].due_at if waiting else None}
        end = instance.end()
        if end is not None and case.status != COMPLETED:
            changes.update(status=COMPLETED, end_state=end.bpmn_id, end_label=end.name,
                           closed_at=now)
        _write_case(session, case, changes)
        saved = Saved()
        saved.steps = _sync_tasks(session, case, instance, open_steps(session, case.id)
                                  if steps is None else steps, done)
        saved.closed_timers = _sync_timers(session, case, instance, now, waiting, armed)
        _notices(session, case, instance, now, saved.steps)
    return saved


def _write_case(session: Session, case: Case, changes: Mapping[str, Any]) -> None:
    """One UPDATE of the case row checked against its version counter (what the unit of
    work would do, without its cost on the hot path); the row object is brought in step
    without being marked modified, so that no flush runs for it afterwards."""
    values = {c: changes[c] if c in changes else getattr(case, c) for c in _CASE_WRITES}
    version = case.version
    result = session.connection().execute(_SAVE_CASE, {**{c + "_": v for c, v in values.items()},
                                          "case_id_": case.id, "version_": version,
                                          "next_": version + 1})
    if cast(CursorResult[Any], result).rowcount != 1:
        raise ConcurrentUpdate(code="svc.case_changed")
    for column, value in values.items():
        set_committed_value(case, column, value)
    set_committed_value(case, "version", version + 1)


def _sync_tasks(session: Session, case: Case, instance: Instance, rows: Sequence[Step],
                done: Mapping[str, Any] | None) -> list[Step]:
    ready = {t.id: t for t in instance.ready_tasks(instructions=False)}
    known = {r.spiff_task_id: r for r in rows}
    gone = [r.id for r in rows if r.spiff_task_id not in ready]
    if gone:
        session.connection().execute(_CANCEL_STEPS, {"ids": gone})
    out: list[Step] = []
    for task_id, view in ready.items():
        row = known.get(task_id)
        if row is None:
            continue
        if (row.name, row.lane, row.role, row.form) != (view.name[:300], view.lane, view.role,
                                                        view.form):
            # a move to another version may rename a step or change its lane
            session.connection().execute(update(_TASKS).where(_TASKS.c.id == row.id).values(
                name=view.name[:300], lane=view.lane, role=view.role, form=view.form))
        out.append(row)
    new = [Step(id=0, case_id=case.id, circuit_id=case.circuit_id,
                territory_id=case.territory_id, spiff_task_id=v.id, bpmn_id=v.bpmn_id,
                name=v.name[:300], role=v.role, lane=v.lane, form=v.form, assignee_id=None,
                ready_at=v.ready_at, due_at=v.due_at, due_sort=v.due_at or NO_DEADLINE)
           for task_id, v in ready.items() if task_id not in known]
    # One statement for the step just completed and the steps now ready: an upsert, so that
    # a step a repair made ready again reopens its own row.
    values = ([dict(done)] if done else []) + [step.row() for step in new]
    if values:
        statement = _statement(session, "steps", _upsert_steps)
        ids = dict((spiff, i) for i, spiff in session.connection().execute(statement, values))
        out += [replace(step, id=ids[step.spiff_task_id]) for step in new]
    return sorted(out, key=lambda s: (s.ready_at, s.id))


def _sync_timers(session: Session, case: Case, instance: Instance, now: datetime,
                 views: list[TimerView], armed: Iterable[TimerKey] | None) -> set[TimerKey]:
    if armed is None:
        armed = [(r.spiff_task_id, r.due_at) for r in armed_timers(session, case.id)]
    before = set(armed)
    waiting = {(t.id, t.due_at): t for t in views}
    gone = [key for key in before if key not in waiting]
    if gone:
        session.connection().execute(_CLOSE_TIMERS, [
            {"case_": case.id, "task_": task, "due_": due,
             **({"outcome_": DONE, "fired_at_": now, "late_": (now - due).total_seconds()}
                if instance.timer_outcome(task) == "fired"
                else {"outcome_": CANCELLED, "fired_at_": None, "late_": None})}
            for task, due in gone])
    new = [dict(case_id=case.id, spiff_task_id=v.id, bpmn_id=v.bpmn_id, name=v.name[:300],
                kind=v.kind, due_at=v.due_at, status=WAITING, attempts=0, retry_at=None,
                lease_owner=None, lease_until=None, last_error=None, created_at=now,
                fired_at=None, lateness_seconds=None)
           for key, v in waiting.items() if key not in before]
    if new:
        # a repair may arm again an occurrence that already fired or was cancelled
        session.connection().execute(_statement(session, "timers", _upsert_timers), new)
    return set(gone)


_STATEMENTS: dict[tuple[str, str], Any] = {}


def _statement(session: Session, name: str, build: Any) -> Any:
    """A statement built once per database kind (building them costs more than running)."""
    key = (session.get_bind().dialect.name, name)
    if key not in _STATEMENTS:
        _STATEMENTS[key] = build(session)
    return _STATEMENTS[key]


def _upsert_steps(session: Session) -> Any:
    insert = upsert(session, _TASKS)
    return insert.on_conflict_do_update(
        index_elements=[_TASKS.c.case_id, _TASKS.c.spiff_task_id],
        set_={c.key: insert.excluded[c.key] for c in _TASKS.c
              if c.key not in ("id", "case_id", "spiff_task_id")},
    ).returning(_TASKS.c.id, _TASKS.c.spiff_task_id)


def _upsert_timers(session: Session) -> Any:
    insert = upsert(session, _TIMERS)
    return insert.on_conflict_do_update(
        index_elements=[_TIMERS.c.case_id, _TIMERS.c.spiff_task_id, _TIMERS.c.due_at],
        set_={c.key: insert.excluded[c.key] for c in _TIMERS.c
              if c.key not in ("id", "case_id", "spiff_task_id", "due_at")})


def _notices(session: Session, case: Case, instance: Instance, now: datetime,
             steps: list[Step]) -> None:
    values = []
    for notice in instance.drain_notices():
        about = next((t for t in steps if t.bpmn_id == notice.about), None)
        user_id = role = None
        if notice.recipient == "assignee":
            user_id = about.assignee_id if about is not None else None
            role = about.role if about is not None and user_id is None else None
        else:
            role = notice.recipient
        values.append(dict(
            dedupe_key=f"notice:{case.id}:{notice.id}", kind="relance",
            territory_id=case.territory_id, case_id=case.id, recipient_user_id=user_id,
            recipient_role=role, created_at=now,
            payload={"case": case.reference, "notice": notice.name, "step": notice.about,
                     "step_name": about.name if about is not None else None}))
    if values:
        session.connection().execute(table(OutboxMessage).insert(), values)
