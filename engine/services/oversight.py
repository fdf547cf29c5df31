"""What administrators watch: overdue steps, coming deadlines, steps waiting without
deadline, counts, daily history and timer incidents, across the territories they oversee.
Reads ``human_task``, ``case``, ``timer`` and reference tables only; no workflow is loaded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from engine.clock import Clock
from engine.core.calendar import PARIS
from engine.errors import PermissionDenied
from engine.persistence.models import (
    Case,
    Circuit,
    DailyCount,
    HumanTask,
    Membership,
    Organisation,
    Territory,
    Timer,
    User,
)
from engine.persistence.models.human_task import NO_DEADLINE, TaskStatus
from engine.persistence.models.timer import TimerStatus
from engine.services.access import Actor, overseen
from engine.services.listing import bounded
from engine.services.results import DUE_SOON, Page

MAX_PER_PAGE = 200
# the CSV export reads its steps by chunks of this many, each after the last one read (a
# count and an offset per page made 10,000 overdue steps take seconds); the steps waiting
# without deadline are those of the screen's default, waiting for more than 14 days
EXPORT_CHUNK = 1000
EXPORT_OLDER_THAN_DAYS = 14
MAX_DAYS = 36_500  # « waiting for more than N days »: a century is already everything
MAX_STEP, MAX_ROLE = 200, 60  # human_task.bpmn_id and human_task.role
View = Literal["overdue", "coming", "no_deadline"]
SORTS = {"due": ("due_at", "id"), "territory": ("territory", "due_at"),
         "step": ("step", "due_at"), "assignee": ("assignee", "due_at")}


@dataclass(frozen=True)
class Filters:
    """Dashboard filters (all optional)."""

    territory_id: int | None = None
    circuit_id: int | None = None
    step: str | None = None  # the step's name (« Vérifier la complétude ») or its BPMN id
    organisation_id: int | None = None
    role: str | None = None


@dataclass(frozen=True)
class StepRow:
    """One open step as the dashboard lists it."""

    task_id: int
    case_id: int
    case_reference: str
    territory: str
    circuit: str
    step: str
    role: str | None
    lane: str | None
    organisation: str | None
    assignee: str | None
    ready_at: datetime
    due_at: datetime | None
    days_late: int
    days_waiting: int


@dataclass(frozen=True)
class Counts:
    """Overdue steps counted by step, by organisation and by territory."""

    total: int
    by_step: list[tuple[str, int]]
    by_organisation: list[tuple[str, int]]
    by_territory: list[tuple[str, int]]


@dataclass(frozen=True)
class Incident:
    """A timer that failed after its retries."""

    timer_id: int
    case_id: int
    case_reference: str
    territory: str
    timer: str
    due_at: datetime
    attempts: int
    error: str | None


_Assignee = aliased(User)


def _conditions(actor: Actor, filters: Filters, view: View, now: datetime,
                older_than: timedelta) -> list[Any]:
    """WHERE clauses on ``human_task`` alone: counts never join other tables.

    :raises InvalidInput: a step or role filter longer than its column.
    """
    territories = overseen(actor)
    bounded("étape", filters.step, MAX_STEP)
    bounded("rôle", filters.role, MAX_ROLE)
    if filters.territory_id is not None:
        if filters.territory_id not in territories:
            raise PermissionDenied(code="svc.territory_out_of_scope")
        territories = [filters.territory_id]
    where: list[Any] = [HumanTask.status == TaskStatus.OPEN,
                        HumanTask.territory_id.in_(territories)]
    if view == "overdue":
        where.append(HumanTask.due_at < now)
    elif view == "coming":
        where += [HumanTask.due_at >= now, HumanTask.due_at < now + timedelta(days=7)]
    else:
        where += [HumanTask.due_sort == NO_DEADLINE, HumanTask.ready_at < now - older_than]
    if filters.circuit_id is not None:
        where.append(HumanTask.circuit_id == filters.circuit_id)
    if filters.step:
        where.append(or_(HumanTask.name == filters.step, HumanTask.bpmn_id == filters.step))
    if filters.role:
        where.append(HumanTask.role == filters.role)
    if filters.organisation_id is not None:
        # its own alias: the listing also joins ``membership``, which the subquery must not
        # correlate to (it would lose its FROM)
        member = aliased(Membership)
        where.append(HumanTask.assignee_id.in_(select(member.user_id).where(
            member.organisation_id == filters.organisation_id,
            member.territory_id == HumanTask.territory_id,
            member.role == HumanTask.role).correlate(HumanTask)))
    return where


# the columns of a step the dashboard and the export show (not the whole row: 10,000 rows
# of the export built as objects cost more than the query)
STEP_COLUMNS = (HumanTask.id, HumanTask.case_id, HumanTask.name, HumanTask.role,
                HumanTask.lane, HumanTask.ready_at, HumanTask.due_at)


def _display(where: list[Any]) -> Any:
    return (
        select(*STEP_COLUMNS, Case.reference, Territory.name, Circuit.title, Organisation.name,
               _Assignee.display_name)
        .join(Case, Case.id == HumanTask.case_id)
        .join(Territory, Territory.id == HumanTask.territory_id)
        .join(Circuit, Circuit.id == HumanTask.circuit_id)
        .outerjoin(_Assignee, _Assignee.id == HumanTask.assignee_id)
        .outerjoin(Membership, and_(Membership.user_id == HumanTask.assignee_id,
                                    Membership.territory_id == HumanTask.territory_id,
                                    Membership.role == HumanTask.role))
        .outerjoin(Organisation, Organisation.id == Membership.organisation_id)
        .where(*where))


def steps(session: Session, clock: Clock, actor: Actor, view: View = "overdue",
          filters: Filters | None = None, sort: str = "due", page: int = 1,
          per_page: int = 50, older_than_days: int = 14,
          counted: Counts | None = None) -> Page[StepRow]:
    """Overdue steps, steps due in the next 7 days, or steps waiting without deadline for
    more than ``older_than_days``. ``counted``: the overdue ``counts`` of the same filters,
    read just before (the dashboard shows both): their total is this list's, not counted
    again (each count reads every overdue step: 3 ms for 10,000)."""
    now = clock.now()
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    older_than_days = max(0, min(older_than_days, MAX_DAYS))
    where = _conditions(actor, filters or Filters(), view, now, timedelta(days=older_than_days))
    total = counted.total if counted is not None and view == "overdue" else session.scalar(
        select(func.count()).select_from(HumanTask).where(*where)) or 0
    order = {"territory": (Territory.name, HumanTask.due_at), "step": (HumanTask.name,
             HumanTask.due_at), "assignee": (_Assignee.display_name, HumanTask.due_at)}.get(
        sort, (HumanTask.due_at, HumanTask.id) if view != "no_deadline"
        else (HumanTask.ready_at, HumanTask.id))
    rows = session.execute(_display(where).order_by(*order).limit(per_page)
                           .offset((max(page, 1) - 1) * per_page)).all()
    return Page([_row(r, now) for r in rows], total, page, per_page)


def _row(row: Any, now: datetime) -> StepRow:
    (task_id, case_id, name, role, lane, ready_at, due_at, reference, territory, circuit,
     organisation, assignee) = row
    late = (now - due_at).days if due_at and due_at < now else 0
    return StepRow(task_id, case_id, reference, territory, circuit, name, role, lane,
                   organisation, assignee, ready_at, due_at, late, (now - ready_at).days)


def counts(session: Session, clock: Clock, actor: Actor,
           filters: Filters | None = None) -> Counts:
    """Overdue steps counted by step, organisation and territory (grouped on human_task)."""
    where = _conditions(actor, filters or Filters(), "overdue", clock.now(), timedelta(0))
    # one read of the overdue steps gives the total and the counts by step and by territory
    # (three reads of the 10,000 overdue steps at 100k, 3 ms each), in the names' order of
    # the database, each count then sorted on it (a stable sort keeps that order for ties:
    # ORDER BY count DESC, name as before)
    by_step_in: dict[str, int] = {}
    by_territory_in: dict[int, int] = {}
    for name, territory_id, n in session.execute(
            select(HumanTask.name, HumanTask.territory_id, func.count()).where(*where)
            .group_by(HumanTask.name, HumanTask.territory_id)
            .order_by(HumanTask.name, HumanTask.territory_id)):
        by_step_in[name] = by_step_in.get(name, 0) + n
        by_territory_in[territory_id] = by_territory_in.get(territory_id, 0) + n
    total = sum(by_step_in.values())
    by_step = sorted(by_step_in.items(), key=lambda pair: -pair[1])
    names = dict(session.execute(select(Territory.id, Territory.name)).all())
    by_territory = sorted(by_territory_in.items(), key=lambda pair: -pair[1])
    by_org = session.execute(
        select(Organisation.name, func.count())
        .select_from(HumanTask)
        .join(Membership, and_(Membership.user_id == HumanTask.assignee_id,
                               Membership.territory_id == HumanTask.territory_id,
                               Membership.role == HumanTask.role))
        .join(Organisation, Organisation.id == Membership.organisation_id)
        .where(*where).group_by(Organisation.name)
        .order_by(func.count().desc(), Organisation.name)).all()
    placed = sum(n for _, n in by_org)
    organisations = [(str(name), int(n)) for name, n in by_org]
    if total - placed:
        organisations.append(("Non attribuée", total - placed))
    return Counts(total, [(str(s), int(n)) for s, n in by_step], organisations,
                  [(str(names.get(t, t)), int(n)) for t, n in by_territory])


def export_rows(session: Session, clock: Clock, actor: Actor, view: View = "overdue",
                filters: Filters | None = None) -> Iterator[list[object]]:
    """CSV lines (header first) of every step of a view, in chunks (no size limit).

    The filters are checked here, before the first line (a refusal must come before a
    response starts streaming).

    :raises PermissionDenied: a territory the actor does not oversee.
    :raises InvalidInput: a filter longer than its column.
    """
    filters = filters or Filters()
    _conditions(actor, filters, view, clock.now(), timedelta(0))
    return _export(session, clock, actor, view, filters)


def _export(session: Session, clock: Clock, actor: Actor, view: View,
            filters: Filters) -> Iterator[list[object]]:
    """The view's columns, as on the screen: instants as datetimes (the CSV writer shows
    them in Paris time), the days late for overdue steps only, the days waiting for steps
    without deadline."""
    last = {"overdue": ["échéance", "jours de retard"], "coming": ["échéance"],
            "no_deadline": ["jours d'attente"]}[view]
    yield ["dossier", "territoire", "circuit", "étape", "rôle", "organisation", "personne",
           "prête depuis le", *last]
    now = clock.now()
    where = _conditions(actor, filters, view, now, timedelta(days=EXPORT_OLDER_THAN_DAYS))
    key = HumanTask.due_at if view != "no_deadline" else HumanTask.ready_at
    after: tuple[datetime, int] | None = None
    while True:  # chunks in the screen's order, each after the last (no count, no offset)
        more = [] if after is None else [or_(key > after[0],
                                             and_(key == after[0], HumanTask.id > after[1]))]
        rows = session.execute(_display([*where, *more]).order_by(key, HumanTask.id)
                               .limit(EXPORT_CHUNK)).all()
        for row in rows:
            r = _row(row, now)
            tail: list[object] = ([r.due_at, r.days_late] if view == "overdue" else
                                  [r.due_at] if view == "coming" else [r.days_waiting])
            yield [r.case_reference, r.territory, r.circuit, r.step, r.lane or "",
                   r.organisation or "", r.assignee or "", r.ready_at, *tail]
        if len(rows) < EXPORT_CHUNK:
            return
        final = rows[-1]
        after = (final.due_at if view != "no_deadline" else final.ready_at, final.id)


def history(session: Session, actor: Actor, days: int = 30,
            territory_id: int | None = None) -> list[tuple[date, int, int]]:
    """Daily overdue and due-soon counts (recorded by the scheduler), oldest first."""
    territories = overseen(actor) if territory_id is None else [territory_id]
    if territory_id is not None and territory_id not in overseen(actor):
        raise PermissionDenied(code="svc.territory_out_of_scope")
    rows = session.execute(
        select(DailyCount.day, func.sum(DailyCount.overdue), func.sum(DailyCount.due_soon))
        .where(DailyCount.territory_id.in_(territories))
        .group_by(DailyCount.day).order_by(DailyCount.day.desc()).limit(days)).all()
    return [(d, int(o or 0), int(s or 0)) for d, o, s in reversed(rows)]


def record_daily_counts(session: Session, clock: Clock) -> int:
    """Store today's counts per territory once (the scheduler calls it; idempotent)."""
    now = clock.now()
    today = now.astimezone(PARIS).date()
    done = set(session.scalars(select(DailyCount.territory_id).where(DailyCount.day == today)))
    added = 0
    for territory_id in session.scalars(select(Territory.id)):
        if territory_id in done:
            continue
        base = select(func.count()).select_from(HumanTask).where(
            HumanTask.status == TaskStatus.OPEN, HumanTask.territory_id == territory_id)
        overdue = session.scalar(base.where(HumanTask.due_at < now)) or 0
        soon = session.scalar(base.where(HumanTask.due_at >= now,
                                         HumanTask.due_at < now + DUE_SOON)) or 0
        session.add(DailyCount(territory_id=territory_id, day=today, overdue=overdue,
                               due_soon=soon))
        added += 1
    return added


def incidents(session: Session, actor: Actor) -> list[Incident]:
    """Timers that failed after their retries, in the overseen territories."""
    rows = session.execute(
        select(Timer, Case.reference, Territory.name).join(Case, Case.id == Timer.case_id)
        .join(Territory, Territory.id == Case.territory_id)
        .where(Timer.status == TimerStatus.FAILED, Case.territory_id.in_(overseen(actor)))
        .order_by(Timer.due_at)).all()
    return [Incident(t.id, t.case_id, ref, territory, t.name, t.due_at, t.attempts,
                     t.last_error) for t, ref, territory in rows]
