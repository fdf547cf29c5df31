"""How lists show rows: case summaries, task items, and the length check of list filters.

Shared by the case, task and oversight services (it breaks the cycle that held ``summary_of``
in ``cases`` and ``task_items`` in ``tasks``, each needing the other)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import InvalidInput
from engine.persistence.models import Case, Circuit, HumanTask, User
from engine.services import audit
from engine.services.results import CaseSummary, TaskItem
from engine.services.runtime import Step


def bounded(name: str, value: str | None, maximum: int) -> None:
    """Refuse a filter longer than the column it compares with (it could match nothing).

    :raises InvalidInput: ``value`` is longer than ``maximum``.
    """
    if value is not None and len(value) > maximum:
        raise InvalidInput(code="svc.filter_too_long", name=name, maximum=maximum)


def summary_of(case: Case, circuit_title: str, named: bool = True) -> CaseSummary:
    """A case row as lists show it (without the household's name unless ``named``: the
    caller asked ``access`` whether the reader may know it)."""
    return CaseSummary(case.id, case.reference, case.household_name if named else None,
                       case.territory_id,
                       case.circuit_id, circuit_title, case.status, case.created_at,
                       case.next_due_at, case.end_label)


def task_items(session: Session, rows: list[HumanTask], named: bool = True) -> list[TaskItem]:
    """Rows as list items (one query for their cases and circuits; without the household's
    name unless ``named``)."""
    if not rows:
        return []
    case_ids = {r.case_id for r in rows}
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(case_ids)))}
    circuits = {c.id: c for c in session.scalars(
        select(Circuit).where(Circuit.id.in_({r.circuit_id for r in rows})))}
    return [task_item(r, cases[r.case_id], circuits[r.circuit_id].title, named) for r in rows]


def task_item(row: HumanTask | Step, case: Case, circuit_title: str,
              named: bool = True) -> TaskItem:
    """One step (a row, or a step just saved) as the task list shows it."""
    return TaskItem(row.id, row.case_id, case.reference,
                    case.household_name if named else None, row.circuit_id,
                    circuit_title, row.bpmn_id, row.name, row.role, row.lane, row.assignee_id,
                    row.ready_at, row.due_at, row.status)


Event = tuple[datetime, str, dict[str, Any], str | None]


def history(session: Session, case_id: int) -> list[Event]:
    """A case's history as its page shows it: (when, action code, detail, who), who being the
    person's name (None: the platform itself, a timer or the scheduler). One query for the
    events (``audit.timeline_of``: the caller has decided the reader may see them), one for
    the names."""
    events = audit.timeline_of(session, case_id)
    ids = {user_id for *_, user_id in events if user_id is not None}
    names = {uid: name for uid, name in session.execute(
        select(User.id, User.display_name).where(User.id.in_(ids)))} if ids else {}
    return [(at, action, detail, names.get(user_id) if user_id is not None else None)
            for at, action, detail, user_id in events]
