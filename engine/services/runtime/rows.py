"""The row sync: after a step or a timer, the human-task, timer and outbox rows are brought
in step with the running instance, and the case row is written with its version check."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Row,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine.core.snapshots import TimerView
from engine.core.spiff.runner import Instance
from engine.errors import ConcurrentUpdate
from engine.persistence.db import table
from engine.persistence.models import (
    Case,
    OutboxMessage,
)
from engine.persistence.models.human_task import NO_DEADLINE, TaskStatus
from engine.persistence.models.timer import TimerStatus
from engine.services.runtime.statements import (
    ARMED,
    CANCEL_STEPS,
    CASE_WRITES,
    CLOSE_TIMERS,
    HOLDERS,
    OPEN_STEPS,
    SAVE_CASE,
    STEP_COLUMNS,
    TASKS,
    built_once,
    upsert_steps,
    upsert_timers,
)


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
    status: str = TaskStatus.OPEN
    part: str | None = None  # the part its lane is bound to (None: offered to the role)
    organisation_id: int | None = None  # the organisation holding that part (None: waiting)

    def row(self, **changes: Any) -> dict[str, Any]:
        """The whole row as it must be written (an upsert sets every column)."""
        values = {c.key: getattr(self, c.key) for c in STEP_COLUMNS if c.key != "id"}
        return {**values, "completed_at": None, "completed_by_id": None, "hours_taken": None,
                **changes}


TimerKey = tuple[str, datetime]  # (BPMN task id, due time): one timer row per case


@dataclass
class Saved:
    """What ``save`` wrote: the case's open steps afterwards and the timers it closed."""

    steps: list[Step] = field(default_factory=list)
    closed_timers: set[TimerKey] = field(default_factory=set)


def open_steps(session: Session, case_id: int) -> list[Step]:
    """The case's open human-task rows (read under the case lock by writers)."""
    rows = session.connection().execute(OPEN_STEPS, {"case_id": case_id})
    return [Step(**r._mapping) for r in rows]


def armed_timers(session: Session, case_id: int, also: int | None = None) -> list[Row[Any]]:
    """The case's timer rows still in play (waiting, claimed or in incident), and ``also``
    whatever its status; locked on PostgreSQL."""
    return list(session.connection().execute(ARMED, {"case_id": case_id, "also": also}))


def write_case(session: Session, case: Case, changes: Mapping[str, Any]) -> None:
    """One UPDATE of the case row checked against its version counter (what the unit of
    work would do, without its cost on the hot path); the row object is brought in step
    without being marked modified, so that no flush runs for it afterwards."""
    values = {c: changes[c] if c in changes else getattr(case, c) for c in CASE_WRITES}
    version = case.version
    result = session.connection().execute(SAVE_CASE, {**{c + "_": v for c, v in values.items()},
                                          "case_id_": case.id, "version_": version,
                                          "next_": version + 1})
    if cast(CursorResult[Any], result).rowcount != 1:
        raise ConcurrentUpdate(code="svc.case_changed")
    for column, value in values.items():
        set_committed_value(case, column, value)
    set_committed_value(case, "version", version + 1)


def sync_tasks(session: Session, case: Case, instance: Instance, rows: Sequence[Step],
                done: Mapping[str, Any] | None) -> list[Step]:
    ready = {t.id: t for t in instance.ready_tasks(instructions=False)}
    known = {r.spiff_task_id: r for r in rows}
    gone = [r.id for r in rows if r.spiff_task_id not in ready]
    if gone:
        session.connection().execute(CANCEL_STEPS, {"ids": gone})
    fresh = [v for task_id, v in ready.items() if task_id not in known]
    moved = any(known[task_id].part != v.part for task_id, v in ready.items()
                if task_id in known)
    # only a step of a bound lane asks who holds its part: the others cost no statement
    holders = _holders(session, case.id) if any(v.part for v in fresh) or moved else {}
    out: list[Step] = []
    for task_id, view in ready.items():
        row = known.get(task_id)
        if row is None:
            continue
        if (row.name, row.lane, row.role, row.form, row.part) != (
                view.name[:300], view.lane, view.role, view.form, view.part):
            # a move to another version may rename a step or change its lane, and so its
            # part: it is then offered to the organisation holding the new one (a person it
            # was entrusted to keeps it: the move is an administrator's explicit act)
            row = replace(row, part=view.part,
                          organisation_id=holders.get(view.part) if view.part else None) \
                if row.part != view.part else row
            session.connection().execute(update(TASKS).where(TASKS.c.id == row.id).values(
                name=view.name[:300], lane=view.lane, role=view.role, form=view.form,
                part=row.part, organisation_id=row.organisation_id))
        if row.due_at != view.due_at:
            # a deadline counted from a date of the case follows that date when corrected
            # (other deadlines never move: no statement for them)
            row = replace(row, due_at=view.due_at, due_sort=view.due_at or NO_DEADLINE)
            session.connection().execute(update(TASKS).where(TASKS.c.id == row.id).values(
                due_at=row.due_at, due_sort=row.due_sort))
        out.append(row)
    new = [Step(id=0, case_id=case.id, circuit_id=case.circuit_id,
                territory_id=case.territory_id, spiff_task_id=v.id, bpmn_id=v.bpmn_id,
                name=v.name[:300], role=v.role, lane=v.lane, form=v.form, assignee_id=None,
                ready_at=v.ready_at, due_at=v.due_at, due_sort=v.due_at or NO_DEADLINE,
                part=v.part, organisation_id=holders.get(v.part) if v.part else None)
           for v in fresh]
    # One statement for the step just completed and the steps now ready: an upsert, so that
    # a step a repair made ready again reopens its own row.
    values = ([dict(done)] if done else []) + [step.row() for step in new]
    if values:
        statement = built_once(session, "steps", upsert_steps)
        ids = dict((spiff, i) for i, spiff in session.connection().execute(statement, values))
        out += [replace(step, id=ids[step.spiff_task_id]) for step in new]
    return sorted(out, key=lambda s: (s.ready_at, s.id))


def _holders(session: Session, case_id: int) -> dict[str, int]:
    """Part → the organisation holding it in the case now (parties recorded in this unit of
    work are flushed by ``parties.record``)."""
    rows = session.connection().execute(HOLDERS, {"case_id": case_id})
    return {part: organisation_id for part, organisation_id in rows}


def sync_timers(session: Session, case: Case, instance: Instance, now: datetime,
                 views: list[TimerView], armed: Iterable[TimerKey] | None) -> set[TimerKey]:
    if armed is None:
        armed = [(r.spiff_task_id, r.due_at) for r in armed_timers(session, case.id)]
    before = set(armed)
    waiting = {(t.id, t.due_at): t for t in views}
    gone = [key for key in before if key not in waiting]
    if gone:
        session.connection().execute(CLOSE_TIMERS, [
            {"case_": case.id, "task_": task, "due_": due,
             **({"outcome_": TimerStatus.DONE, "fired_at_": now,
                 "late_": (now - due).total_seconds()}
                if instance.timer_outcome(task) == "fired"
                else {"outcome_": TimerStatus.CANCELLED, "fired_at_": None, "late_": None})}
            for task, due in gone])
    new = [dict(case_id=case.id, spiff_task_id=v.id, bpmn_id=v.bpmn_id, name=v.name[:300],
                kind=v.kind, due_at=v.due_at, status=TimerStatus.WAITING, attempts=0, retry_at=None,
                lease_owner=None, lease_until=None, last_error=None, created_at=now,
                fired_at=None, lateness_seconds=None)
           for key, v in waiting.items() if key not in before]
    if new:
        # a repair may arm again an occurrence that already fired or was cancelled
        session.connection().execute(built_once(session, "timers", upsert_timers), new)
    return set(gone)


def notices(session: Session, case: Case, instance: Instance, now: datetime,
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
