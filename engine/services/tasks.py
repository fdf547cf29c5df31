"""Steps: my tasks, claim, unclaim, assign, complete."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import Conflict, InvalidTransition, NotFound, PermissionDenied
from engine.persistence.db import transaction
from engine.persistence.models import Case, Circuit, HumanTask, Membership, User
from engine.persistence.models.case import OPEN as CASE_OPEN
from engine.persistence.models.human_task import COMPLETED, OPEN
from engine.services import audit, runtime
from engine.services.access import Actor, can_work_on, require_coordinator
from engine.services.views import COUNT_CAP, Page, Person, TaskDetail, TaskItem

MAX_PER_PAGE = 100
Due = Literal["overdue", "soon"] | None
SORTS = {"due": (HumanTask.due_sort, HumanTask.id),
         "ready": (HumanTask.ready_at, HumanTask.id),
         "ready_desc": (HumanTask.ready_at.desc(), HumanTask.id.desc())}


def task_items(session: Session, rows: list[HumanTask]) -> list[TaskItem]:
    """Rows as list items (one query for their cases and circuits)."""
    if not rows:
        return []
    case_ids = {r.case_id for r in rows}
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(case_ids)))}
    circuits = {c.id: c for c in session.scalars(
        select(Circuit).where(Circuit.id.in_({r.circuit_id for r in rows})))}
    return [_item(r, cases[r.case_id], circuits[r.circuit_id].title) for r in rows]


def _item(row: HumanTask, case: Case, circuit_title: str) -> TaskItem:
    return TaskItem(row.id, row.case_id, case.reference, case.household_name, row.circuit_id,
                    circuit_title, row.bpmn_id, row.name, row.role, row.lane, row.assignee_id,
                    row.ready_at, row.due_at, row.status)


def my_tasks(session: Session, clock: Clock, actor: Actor, *, circuit_id: int | None = None,
             step: str | None = None, due: Due = None, assigned: bool | None = None,
             sort: str = "due", page: int = 1, per_page: int = 25) -> Page[TaskItem]:
    """Open steps assigned to me, or offered to my roles in my territories (reads the
    ``human_task`` table only: no workflow is loaded).

    Each source (assigned to me; offered to one role of one territory) is read in due order
    on its own index and cut at the page's end, then the sources are merged: the cost
    follows the page, not the number of open steps in the territory.
    """
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(page, 1)
    now = clock.now()
    common: list[Any] = [HumanTask.status == OPEN]
    if circuit_id is not None:
        common.append(HumanTask.circuit_id == circuit_id)
    if step:
        common.append(HumanTask.bpmn_id == step)
    if due == "overdue":
        common.append(HumanTask.due_sort < now)
    elif due == "soon":
        common += [HumanTask.due_sort >= now, HumanTask.due_sort < now + timedelta(days=3)]
    sources: list[list[Any]] = [[]] if actor.is_system else []  # the system sees every step
    if assigned in (None, True) and actor.user_id is not None:
        sources.append([HumanTask.assignee_id == actor.user_id])
    if assigned in (None, False):
        sources += [[HumanTask.territory_id == t, HumanTask.role == role,
                     HumanTask.assignee_id.is_(None)]
                    for t, roles in sorted(actor.roles.items()) for role in sorted(roles)]
    if not sources:
        return Page([], 0, page, per_page)
    order = SORTS.get(sort, SORTS["due"])
    wheres = [common + conditions for conditions in sources]
    ids = _merged(session, wheres, order, page * per_page)
    total = len(_merged(session, wheres, order, COUNT_CAP + 1))
    wanted = ids[(page - 1) * per_page:]
    rows = {r.id: r for r in session.scalars(select(HumanTask).where(HumanTask.id.in_(wanted)))}
    return Page(task_items(session, [rows[i] for i in wanted if i in rows]), total, page,
                per_page)


def _merged(session: Session, sources: list[list[Any]], order: Any, limit: int) -> list[int]:
    """Ids of the first ``limit`` rows of the union of ``sources`` in ``order``."""
    parts = [select(HumanTask.id, *[c.label(f"k{i}") for i, c in enumerate(_keys(order))])
             .where(*where).order_by(*order).limit(limit).subquery() for where in sources]
    union = union_all(*[select(*p.c) for p in parts]).subquery()
    keys = [union.c[f"k{i}"] for i in range(len(_keys(order)))]
    directions = [k.desc() if _descending(o) else k for k, o in zip(keys, order, strict=True)]
    return list(session.scalars(select(union.c.id).order_by(*directions).limit(limit)))


def _keys(order: Any) -> list[Any]:
    return [getattr(o, "element", o) for o in order]


def _descending(clause: Any) -> bool:
    return getattr(getattr(clause, "modifier", None), "__name__", "") == "desc_op"


def claim(session: Session, clock: Clock, actor: Actor, task_id: int) -> TaskItem:
    """Take an offered step.

    :raises Conflict: someone else holds it.
    :raises PermissionDenied: the step's role is not the actor's.
    """
    with transaction(session):
        row = _open_task(session, actor, task_id)
        if row.assignee_id not in (None, actor.user_id):
            raise Conflict("cette étape est déjà prise en charge par quelqu'un d'autre")
        if row.role not in actor.roles_in(row.territory_id):
            raise PermissionDenied("cette étape relève d'un autre rôle")
        row.assignee_id = actor.user_id
        _note_referent(session, row, actor.user_id)
        audit.record(session, clock, actor, "task.claim", territory_id=row.territory_id,
                     case_id=row.case_id, task=row.bpmn_id, name=row.name)
        return task_items(session, [row])[0]


def unclaim(session: Session, clock: Clock, actor: Actor, task_id: int) -> TaskItem:
    """Give a step back to its role (its holder, or a coordinator)."""
    with transaction(session):
        row = _open_task(session, actor, task_id)
        if row.assignee_id != actor.user_id and not actor.is_coordinator(row.territory_id):
            raise PermissionDenied("seule la personne qui la tient peut rendre cette étape")
        row.assignee_id = None
        audit.record(session, clock, actor, "task.unclaim", territory_id=row.territory_id,
                     case_id=row.case_id, task=row.bpmn_id, name=row.name)
        return task_items(session, [row])[0]


def assign(session: Session, clock: Clock, actor: Actor, task_id: int,
           user_id: int) -> TaskItem:
    """Coordinator: give (or move) a step to someone holding its role in the territory.

    :raises Conflict: that person does not hold the step's role there.
    """
    with transaction(session):
        row = _open_task(session, actor, task_id)
        require_coordinator(actor, row.territory_id)
        holds = session.scalar(select(Membership.id).join(User, User.id == Membership.user_id)
                               .where(Membership.user_id == user_id, User.active.is_(True),
                                      Membership.territory_id == row.territory_id,
                                      Membership.role == row.role))
        if holds is None:
            raise Conflict("cette personne n'a pas le rôle de l'étape dans ce territoire")
        previous, row.assignee_id = row.assignee_id, user_id
        _note_referent(session, row, user_id)
        audit.record(session, clock, actor, "task.assign", territory_id=row.territory_id,
                     case_id=row.case_id, task=row.bpmn_id, name=row.name, to=user_id,
                     previous=previous)
        return task_items(session, [row])[0]


def complete(session: Session, clock: Clock, actor: Actor, task_id: int,
             data: Mapping[str, Any]) -> TaskItem | None:
    """Complete a step with its form data; return the case's next step for the same actor.

    :raises InvalidTransition: the step is already completed (double submit) or gone.
    :raises PermissionDenied: the step belongs to someone else or another role.
    :raises FormInvalid: the data fails the form; nothing is written.
    :raises ConcurrentUpdate: the case changed meanwhile.
    """
    with transaction(session):
        row = _task(session, actor, task_id)
        case = session.scalar(select(Case).where(Case.id == row.case_id).with_for_update())
        session.refresh(row)  # re-read under the case lock: the winner already changed it
        if row.status != OPEN or case is None or case.status != CASE_OPEN:
            raise InvalidTransition("cette étape est déjà terminée")
        if not can_work_on(actor, row.territory_id, row.role, row.assignee_id):
            raise PermissionDenied("cette étape est tenue par quelqu'un d'autre")
        instance = runtime.load(session, case, clock)
        instance.complete(row.spiff_task_id, data)
        row.status, row.completed_at, row.completed_by_id = COMPLETED, clock.now(), actor.user_id
        row.assignee_id = row.assignee_id or actor.user_id
        _note_referent(session, row, row.assignee_id)
        runtime.save(session, case, instance, clock)
        audit.record(session, clock, actor, "task.complete", territory_id=row.territory_id,
                     case_id=case.id, task=row.bpmn_id, name=row.name, fields=sorted(data))
        nxt = session.scalars(select(HumanTask).where(
            HumanTask.case_id == case.id, HumanTask.status == OPEN)
            .order_by(HumanTask.ready_at, HumanTask.id)).all()
        for candidate in nxt:
            if can_work_on(actor, candidate.territory_id, candidate.role, candidate.assignee_id):
                return task_items(session, [candidate])[0]
        return None


REFERENT_ROLE = "referent"


def _note_referent(session: Session, row: HumanTask, user_id: int | None) -> None:
    """Whoever holds a step of the pathway referent's lane is the case's référent·e."""
    if row.role == REFERENT_ROLE and user_id is not None:
        case = session.get(Case, row.case_id)
        if case is not None:
            case.referent_id = user_id


def _task(session: Session, actor: Actor, task_id: int) -> HumanTask:
    row = session.get(HumanTask, task_id)
    if row is None or not actor.is_member(row.territory_id):
        raise NotFound("étape introuvable")
    return row


def _open_task(session: Session, actor: Actor, task_id: int) -> HumanTask:
    row = _task(session, actor, task_id)
    if row.status != OPEN:
        raise InvalidTransition("cette étape est déjà terminée")
    return row


def details(session: Session, clock: Clock, actor: Actor, task_id: int) -> TaskDetail:
    """The task page: the step, its case summary, instructions and form (the one case
    being acted on is loaded; the read is audited).

    :raises NotFound: unknown step, or outside the actor's territories.
    """
    from engine.services.cases import summary_of
    with transaction(session):
        row = _task(session, actor, task_id)
        case = session.get(Case, row.case_id)
        assert case is not None
        item = task_items(session, [row])[0]
        instructions, form, values = "", None, {}
        if row.status == OPEN:
            instance = runtime.load(session, case, clock)
            view = instance.task(row.spiff_task_id)
            instructions, form = view.documentation, instance.form_for(row.spiff_task_id)
            data = instance.data()
            values = {k: data[k] for k in (form.field_names() if form else ()) if k in data}
        coordinator = actor.is_coordinator(row.territory_id)
        candidates = _candidates(session, row) if coordinator and row.status == OPEN else []
        audit.record(session, clock, actor, "case.read", territory_id=row.territory_id,
                     case_id=row.case_id, task=row.bpmn_id, name=row.name)
        circuit = session.get(Circuit, case.circuit_id)
        return TaskDetail(
            task=item, case=summary_of(case, circuit.title if circuit else ""),
            instructions=instructions, form=form, values=values,
            can_complete=row.status == OPEN and can_work_on(
                actor, row.territory_id, row.role, row.assignee_id),
            can_assign=coordinator and row.status == OPEN, candidates=candidates)


def _candidates(session: Session, row: HumanTask) -> list[Person]:
    users = session.execute(select(User.id, User.display_name).join(
        Membership, Membership.user_id == User.id).where(
        Membership.territory_id == row.territory_id, Membership.role == row.role,
        User.active.is_(True)).order_by(User.display_name).distinct()).all()
    return [Person(uid, name) for uid, name in users]
