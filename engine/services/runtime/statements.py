"""The hot path's SQL, built once: the case lock, the version-checked case update, the
reads of open steps and armed timers, the writes of step, timer and state rows.

Building a statement costs SQLAlchemy more Python than running it (the compiled form is
cached either way). Plain statements run on the session's connection: same transaction,
without the ORM's per-statement overhead (nor its autoflush: nothing here depends on pending
ORM objects but the case, flushed first)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Float,
    String,
    bindparam,
    or_,
    select,
    update,
)
from sqlalchemy import case as when
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from engine.persistence.db import UtcDateTime, table, upsert
from engine.persistence.models import (
    Case,
    CaseParty,
    CaseState,
    CircuitVersion,
    HumanTask,
)
from engine.persistence.models import Timer as TimerRow
from engine.persistence.models.human_task import TaskStatus
from engine.persistence.models.timer import ARMED_STATUSES, TimerStatus

TASKS = table(HumanTask)
TIMERS = table(TimerRow)
STEP_COLUMNS = (HumanTask.id, HumanTask.case_id, HumanTask.circuit_id, HumanTask.territory_id,
                HumanTask.spiff_task_id, HumanTask.bpmn_id, HumanTask.name, HumanTask.role,
                HumanTask.lane, HumanTask.form, HumanTask.assignee_id, HumanTask.ready_at,
                HumanTask.due_at, HumanTask.due_sort, HumanTask.overdue_noticed_at,
                HumanTask.status, HumanTask.part, HumanTask.organisation_id)
TIMER_COLUMNS = (TimerRow.id, TimerRow.case_id, TimerRow.spiff_task_id, TimerRow.bpmn_id,
                 TimerRow.due_at, TimerRow.status, TimerRow.lease_owner, TimerRow.lease_until)

LOCKED = (select(Case, CaseState.state, CircuitVersion.checksum)
           .join(CaseState, CaseState.case_id == Case.id)
           .join(CircuitVersion, CircuitVersion.id == Case.circuit_version_id)
           # Lock the state row too: on PostgreSQL a statement that waited for a lock
           # returns the new version of each locked row but the old version of the rows it
           # only joined; the state must be the one saved with the version it comes with.
           .with_for_update(of=[Case, CaseState]).execution_options(populate_existing=True))
LOCK = {"case": LOCKED.where(Case.id == bindparam("id")),
         "task": LOCKED.join(HumanTask, HumanTask.case_id == Case.id)
         .where(HumanTask.id == bindparam("id")),
         "timer": LOCKED.join(TimerRow, TimerRow.case_id == Case.id)
         .where(TimerRow.id == bindparam("id"))}
# the columns a service may change on a case row; save writes them with the version check
CASE_WRITES = ("circuit_version_id", "status", "updated_at", "next_due_at", "end_state",
                "end_label", "error", "closed_at", "close_reason", "referent_id")
CASES = table(Case)
SAVE_CASE = (update(CASES).where(CASES.c.id == bindparam("case_id_"),
                                   CASES.c.version == bindparam("version_"))
              .values(version=bindparam("next_"),
                      **{c: bindparam(c + "_") for c in CASE_WRITES}))
STATE = (select(CaseState.state, CircuitVersion.checksum)
          .join(CircuitVersion, CircuitVersion.id == bindparam("version_id"))
          .where(CaseState.case_id == bindparam("case_id")))
CHECKSUM = select(CircuitVersion.checksum).where(CircuitVersion.id == bindparam("version_id"))
OPEN_STEPS = select(*STEP_COLUMNS).where(HumanTask.case_id == bindparam("case_id"),
                                          HumanTask.status == TaskStatus.OPEN)
# the organisations currently holding a part of the case (the steps of bound lanes go there)
HOLDERS = select(CaseParty.part, CaseParty.organisation_id).where(
    CaseParty.case_id == bindparam("case_id"), CaseParty.until.is_(None))
ARMED = select(*TIMER_COLUMNS).where(
    TimerRow.case_id == bindparam("case_id"),
    TimerRow.status.in_(ARMED_STATUSES) | (TimerRow.id == bindparam("also"))
).with_for_update()
SAVE_STATE = (update(table(CaseState)).where(table(CaseState).c.case_id == bindparam("cid"))
               .values(state=bindparam("state")))
CANCEL_STEPS = (update(TASKS).where(TASKS.c.id.in_(bindparam("ids", expanding=True)))
                 .values(status=TaskStatus.CANCELLED))
# Closing a timer row by its key (case, BPMN task, due time): it fired (done, with its
# lateness) or was cancelled; an incident the case moved past is withdrawn (cancelled).
_STILL = or_(*[TIMERS.c.status == s for s in ARMED_STATUSES])  # no IN: executemany
_FAILED_ROW = TIMERS.c.status == TimerStatus.FAILED
CLOSE_TIMERS = update(TIMERS).where(
    TIMERS.c.case_id == bindparam("case_"), TIMERS.c.spiff_task_id == bindparam("task_"),
    TIMERS.c.due_at == bindparam("due_"), _STILL,
).values(status=when((_FAILED_ROW, TimerStatus.CANCELLED),
                     else_=bindparam("outcome_", type_=String())),
         fired_at=when((_FAILED_ROW, None), else_=bindparam("fired_at_", type_=UtcDateTime())),
         lateness_seconds=when((_FAILED_ROW, None), else_=sql_cast(bindparam("late_"), Float())),
         lease_owner=None, lease_until=None)


STATEMENTS: dict[tuple[str, str], Any] = {}


def built_once(session: Session, name: str, build: Any) -> Any:
    """A statement built once per database kind (building them costs more than running)."""
    key = (session.get_bind().dialect.name, name)
    if key not in STATEMENTS:
        STATEMENTS[key] = build(session)
    return STATEMENTS[key]


def upsert_steps(session: Session) -> Any:
    insert = upsert(session, TASKS)
    return insert.on_conflict_do_update(
        index_elements=[TASKS.c.case_id, TASKS.c.spiff_task_id],
        set_={c.key: insert.excluded[c.key] for c in TASKS.c
              if c.key not in ("id", "case_id", "spiff_task_id")},
    ).returning(TASKS.c.id, TASKS.c.spiff_task_id)


def upsert_timers(session: Session) -> Any:
    insert = upsert(session, TIMERS)
    return insert.on_conflict_do_update(
        index_elements=[TIMERS.c.case_id, TIMERS.c.spiff_task_id, TIMERS.c.due_at],
        set_={c.key: insert.excluded[c.key] for c in TIMERS.c
              if c.key not in ("id", "case_id", "spiff_task_id", "due_at")})


