"""Steps: my tasks, claim, unclaim, assign, complete."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, NoReturn
from uuid import UUID

from sqlalchemy import and_, bindparam, func, null, or_, select, union_all
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from engine import metrics
from engine.clock import Clock
from engine.core.forms import FormSpec
from engine.core.orientation import VIA_ACCOUNT
from engine.core.snapshots import EndView as EndView  # what EndUnconfirmed carries
from engine.core.spiff.runner import Instance
from engine.errors import Conflict, InvalidTransition, NotFound, PermissionDenied
from engine.persistence.db import transaction
from engine.persistence.models import Case, Circuit, CircuitVersion, HumanTask, Membership, User
from engine.persistence.models.case import CaseStatus
from engine.persistence.models.human_task import TaskStatus, whole_hours
from engine.persistence.models.user import PERSON
from engine.services import audit, commission_sessions, consent, orientations, parties, runtime
from engine.services.access import (
    NOTHING_YET,
    Actor,
    acts_on,
    case_view,
    data_categories,
    may_work_on,
    name_shown,
    offered_to,
    require_case_coordinator,
)
from engine.services.case_facts import record as record_facts
from engine.services.listing import summary_of, task_item, task_items
from engine.services.results import COUNT_CAP, DUE_SOON, Page, Person, TaskDetail, TaskItem

MAX_PER_PAGE = 100
Due = Literal["overdue", "soon"] | None
SORTS = {"due": (HumanTask.due_sort, HumanTask.id),
         "ready": (HumanTask.ready_at, HumanTask.id),
         "ready_desc": (HumanTask.ready_at.desc(), HumanTask.id.desc())}


def my_tasks(session: Session, clock: Clock, actor: Actor, *, circuit_id: int | None = None,
             step: str | None = None, due: Due = None, assigned: bool | None = None,
             sort: str = "due", page: int = 1, per_page: int = 25,
             after: tuple[datetime, int] | None = None) -> Page[TaskItem]:
    """Open steps assigned to me, or offered to me: to one of my roles in my territories,
    for a lane bound to no part; to one of my roles in my organisation, for a lane bound to a
    part my organisation holds in the case (reads the ``human_task`` table only: no workflow
    is loaded). The household's name is shown as ``access.name_shown`` says (else None).

    Each source (assigned to me; offered to one role of one territory; offered to one role
    of one organisation of mine there) is read in order on its own index and cut at the
    page's end, then the sources are merged: the cost follows the page, not the number of
    open steps in the territory. The count reads at most ``COUNT_CAP + 1`` index entries
    per source. Two statements in all, built once per shape of query (building costs
    SQLAlchemy more than running them); only the name's column, which depends on the
    reader, is added to the page statement per call.

    ``after``: the sort key (first column, id) of the last step already read: the list
    goes on after it (keyset, read in SQL: steps completed meanwhile shift nothing); the
    page is then 1 and the count is that of the steps after it.
    """
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = 1 if after is not None else max(page, 1)
    now = clock.now()
    params: dict[str, Any] = {"circuit": circuit_id, "step": step, "now": now,
                              "soon": now + DUE_SOON, "me": actor.user_id,
                              "cap": COUNT_CAP + 1, "upto": page * per_page,
                              "per_page": per_page, "offset": (page - 1) * per_page}
    if after is not None:
        params["after_key"], params["after_id"] = after
    offered = [(t, role) for t, roles in sorted(actor.roles.items()) for role in sorted(roles)]
    mine = assigned in (None, True) and actor.user_id is not None
    if assigned not in (None, False):
        offered = []
    bound = [(t, role, o) for t, role in offered
             for o in sorted(actor.organisations.get(t, frozenset()))]
    for n, (territory_id, role) in enumerate(offered):
        params[f"t{n}"], params[f"r{n}"] = territory_id, role
    for n, (territory_id, role, organisation_id) in enumerate(bound):
        params[f"bt{n}"], params[f"br{n}"], params[f"bo{n}"] = territory_id, role, organisation_id
    if not (actor.is_system or mine or offered):
        return Page([], 0, page, per_page)
    shape = _Shape(actor.is_system, mine, len(offered), len(bound), circuit_id is not None,
                   bool(step), due, sort if sort in SORTS else "due",
                   actor.circuits is not None, after is not None)
    if actor.circuits is not None:
        params["circuits"] = sorted(actor.circuits)
    listed, counted = _statements(shape)
    if not actor.is_system:
        listed = _named(listed, actor, now)
    connection = session.connection()
    total = min(connection.execute(counted, params).scalar_one(), COUNT_CAP + 1)
    items = [TaskItem(*row) for row in connection.execute(listed, params)]
    return Page(items, total, page, per_page)


@dataclass(frozen=True)
class _Shape:
    """What decides the text of the my-tasks statements (values are bound separately)."""

    system: bool
    mine: bool
    offered: int  # sources offered to a role of a territory (unbound lanes)
    bound: int  # sources offered to a role of an organisation (lanes bound to a part)
    circuit: bool
    step: bool
    due: Due
    sort: str
    circuits: bool = False  # an API key limited to some circuits (``Actor.circuits``)
    after: bool = False  # a keyset cursor: only the steps after (key, id) in the order


_LISTED = (HumanTask.id, HumanTask.case_id, Case.reference, Case.household_name,
           HumanTask.circuit_id, Circuit.title, HumanTask.bpmn_id, HumanTask.name,
           HumanTask.role, HumanTask.lane, HumanTask.assignee_id, HumanTask.ready_at,
           HumanTask.due_at, HumanTask.status)  # TaskItem's fields, in order
_NAME = _LISTED.index(Case.household_name)


def _named(listed: Any, actor: Actor, now: datetime) -> Any:
    """The page statement with the household's name only where the reader may know it
    (per territory of theirs: ``access.name_shown``, plain true for coordination)."""
    shown = [and_(Case.territory_id == t, name_shown(actor, t, Case.id, now))
             for t in actor.territories()]
    name = sql_case((or_(*shown), Case.household_name), else_=null()) if shown else null()
    columns: list[Any] = list(_LISTED)
    columns[_NAME] = name.label("household_name")
    return listed.with_only_columns(*columns, maintain_column_froms=False)


@lru_cache(maxsize=256)
def _statements(shape: _Shape) -> tuple[Any, Any]:
    """The page statement and the capped count statement for one shape."""
    common: list[Any] = [HumanTask.status == TaskStatus.OPEN]
    if shape.circuit:
        common.append(HumanTask.circuit_id == bindparam("circuit"))
    if shape.circuits:
        common.append(HumanTask.circuit_id.in_(bindparam("circuits", expanding=True)))
    if shape.step:
        common.append(HumanTask.bpmn_id == bindparam("step"))
    if shape.due == "overdue":
        common.append(HumanTask.due_sort < bindparam("now"))
    elif shape.due == "soon":
        common += [HumanTask.due_sort >= bindparam("now"), HumanTask.due_sort < bindparam("soon")]
    if shape.after:
        common.append(_after(SORTS[shape.sort]))
    sources: list[list[Any]] = [[]] if shape.system else []  # the system sees every step
    if shape.mine:
        sources.append([HumanTask.assignee_id == bindparam("me")])
    # a lane bound to no part: the three IS NULL terms are the partial index's predicate
    sources += [[HumanTask.territory_id == bindparam(f"t{n}"), HumanTask.role == bindparam(f"r{n}"),
                 HumanTask.organisation_id.is_(None), HumanTask.assignee_id.is_(None),
                 HumanTask.part.is_(None)] for n in range(shape.offered)]
    # a lane bound to a part an organisation of mine holds in the case
    sources += [[HumanTask.territory_id == bindparam(f"bt{n}"),
                 HumanTask.role == bindparam(f"br{n}"),
                 HumanTask.organisation_id == bindparam(f"bo{n}"),
                 HumanTask.assignee_id.is_(None)] for n in range(shape.bound)]
    order = SORTS[shape.sort]
    keys = [getattr(o, "element", o) for o in order]
    parts = [select(HumanTask.id, *[k.label(f"k{i}") for i, k in enumerate(keys)])
             .where(*common, *where).order_by(*order).limit(bindparam("upto")).subquery()
             for where in sources]
    union = union_all(*[select(*p.c) for p in parts]).subquery()
    merged = [union.c[f"k{i}"].desc() if _descending(o) else union.c[f"k{i}"]
              for i, o in enumerate(order)]
    # the page's ids first (the merge reads the sources' index keys only), then their rows:
    # joining before the cut would look up every row of every source up to the page's end
    page = (select(union.c.id, *[union.c[f"k{i}"] for i in range(len(order))])
            .order_by(*merged).limit(bindparam("per_page")).offset(bindparam("offset"))
            .subquery())
    again = [page.c[f"k{i}"].desc() if _descending(o) else page.c[f"k{i}"]
             for i, o in enumerate(order)]
    listed = (select(*_LISTED).select_from(page)
              .join(HumanTask, HumanTask.id == page.c.id)
              .join(Case, Case.id == HumanTask.case_id)
              .join(Circuit, Circuit.id == HumanTask.circuit_id)
              .order_by(*again))
    # ordered like the page, so that the planner reads the same index (unordered, SQLite
    # without statistics may scan every open step)
    capped = [select(HumanTask.id).where(*common, *where).order_by(*order)
              .limit(bindparam("cap")).subquery() for where in sources]
    counted = select(func.count()).select_from(
        union_all(*[select(c.c.id) for c in capped]).subquery())
    return listed, counted


def _after(order: tuple[Any, Any]) -> Any:
    """Rows strictly after the bound ``after_key``, ``after_id`` in ``order`` (key, id)."""
    key, ident = (getattr(o, "element", o) for o in order)
    if _descending(order[0]):
        return or_(key < bindparam("after_key"),
                   and_(key == bindparam("after_key"), ident < bindparam("after_id")))
    return or_(key > bindparam("after_key"),
               and_(key == bindparam("after_key"), ident > bindparam("after_id")))


def _descending(clause: Any) -> bool:
    return getattr(getattr(clause, "modifier", None), "__name__", "") == "desc_op"


def claim(session: Session, clock: Clock, actor: Actor, task_id: int) -> TaskItem:
    """Take an offered step.

    :raises Conflict: someone else holds it.
    :raises PermissionDenied: the step is not offered to the actor (another role, or a lane
        bound to a part another organisation holds); the refusal is audited.
    :raises NotFound: unknown step, or its case is out of the actor's reach (audited).
    """
    with _refusals_audited(session, clock, actor, task_id, "claim"), transaction(session):
        row = _open_task(session, actor, task_id)
        mine = row.assignee_id == actor.user_id
        if not mine and not offered_to(actor, row.territory_id, row.role, row.part,
                                       row.organisation_id):
            _refuse(session, clock, actor, row.case_id, row.territory_id, row.role)
        if not mine and row.assignee_id is not None:
            raise Conflict(code="svc.step_taken")
        row.assignee_id = actor.user_id
        audit.record(session, clock, actor, "task.claim", territory_id=row.territory_id,
                     case_id=row.case_id, task=row.bpmn_id, name=row.name)
        form = _form(session, row)
        if form is not None and form.answer_field() is not None:
            orientations.claimed(session, clock, actor, row.case_id)  # « en cours d'examen »
        return task_items(session, [row])[0]


def unclaim(session: Session, clock: Clock, actor: Actor, task_id: int) -> TaskItem:
    """Give a step back to its role (its holder, or a coordinator).

    :raises PermissionDenied: neither its holder nor a coordinator (audited).
    :raises NotFound: unknown step, or its case is out of the actor's reach (audited).
    """
    with _refusals_audited(session, clock, actor, task_id, "unclaim"), transaction(session):
        row = _open_task(session, actor, task_id)
        if row.assignee_id != actor.user_id and not actor.is_coordinator(row.territory_id):
            case_view(session, actor, row.case_id, row.territory_id, clock.now())  # reach
            raise PermissionDenied(code="svc.only_holder_unclaims")
        row.assignee_id = None
        audit.record(session, clock, actor, "task.unclaim", territory_id=row.territory_id,
                     case_id=row.case_id, task=row.bpmn_id, name=row.name)
        return task_items(session, [row])[0]


def assign(session: Session, clock: Clock, actor: Actor, task_id: int,
           user_id: int) -> TaskItem:
    """Coordinator: give (or move) a step to someone holding its role in the territory (and,
    for a lane bound to a part, in the organisation holding that part).

    :raises PermissionDenied: the actor does not coordinate the territory (audited).
    :raises Conflict: that person does not hold the step's role there (or not in that
        organisation), or no organisation holds the step's part yet.
    """
    with _refusals_audited(session, clock, actor, task_id, "assign"), transaction(session):
        row = _open_task(session, actor, task_id)
        require_case_coordinator(session, actor, row.case_id, row.territory_id, clock.now())
        if row.part is not None and row.organisation_id is None:
            raise Conflict(code="svc.step_waits_for_party")
        holds = session.scalar(select(Membership.id).join(User, User.id == Membership.user_id)
                               .where(Membership.user_id == user_id, User.active.is_(True),
                                      User.kind == PERSON,
                                      Membership.territory_id == row.territory_id,
                                      Membership.role == row.role,
                                      *_of_holder(row)).limit(1))
        if holds is None:
            raise Conflict(code="svc.assignee_lacks_role" if row.part is None
                           else "svc.assignee_other_organisation")
        previous, row.assignee_id = row.assignee_id, user_id
        audit.record(session, clock, actor, "task.assign", territory_id=row.territory_id,
                     case_id=row.case_id, task=row.bpmn_id, name=row.name, to=user_id,
                     previous=previous)
        return task_items(session, [row])[0]


def _of_holder(row: HumanTask) -> list[Any]:
    """The membership condition of a bound step: in the organisation holding its part."""
    return [] if row.part is None else [Membership.organisation_id == row.organisation_id]


def complete(session: Session, clock: Clock, actor: Actor, task_id: int,
             data: Mapping[str, Any], via: str = VIA_ACCOUNT, *,
             by_session: bool = False, confirmed_end: str | None = None) -> TaskItem | None:
    """Complete a step with its form data; return the case's next step for the same actor.
    ``via`` says how the answer came (an account, or a signed link: the orientations'
    log keeps it). A step held by a commission session (``commission_sessions.held``) is
    completed only by the session (``by_session``). ``confirmed_end``: when given, an
    answer that would end the case is kept only if it is that very end's BPMN id (the page
    asks « Cette réponse clôt le dossier. Confirmer ? »; ``""``: nothing confirmed yet);
    the check runs on the case loaded for the completion, under its lock (no second load).

    :raises InvalidTransition: the step is already completed (double submit) or gone.
    :raises PermissionDenied: the step belongs to someone else, another role, or another
        organisation (audited, as a refusal out of the case's reach is).
    :raises FormInvalid: the data fails the form; nothing is written.
    :raises ConcurrentUpdate: the case changed meanwhile.
    :raises EndUnconfirmed: the answer would end the case at another end than
        ``confirmed_end``; nothing is written.
    """
    with _refusals_audited(session, clock, actor, task_id, "complete"), transaction(session):
        case = runtime.lock(session, task_id=task_id)
        if case is None or not actor.is_member(case.territory_id):
            raise NotFound(code="svc.step_not_found")
        # read under the case lock: a winner that completed it first is seen here
        steps = runtime.open_steps(session, case.id)
        row = next((s for s in steps if s.id == task_id), None)
        if row is None or case.status != CaseStatus.OPEN:
            raise InvalidTransition(code="svc.step_done")
        if not may_work_on(actor, row.territory_id, row.role, row.assignee_id, row.part,
                           row.organisation_id):
            _refuse(session, clock, actor, case.id, case.territory_id, row.role,
                    held=row.assignee_id is not None)
        instance = runtime.load(session, case, clock)
        if not by_session and commission_sessions.held(session, case.id, instance.circuit,
                                                       row.bpmn_id):
            raise Conflict("Cette étape se fait depuis la page de la séance de la commission "
                           "où la situation est inscrite.")
        armed = [(t.id, t.due_at) for t in instance.waiting_timers()]  # as the rows say
        form = instance.circuit.forms.get(row.form) if row.form else None
        if form is not None and commission_sessions.session_field(form):
            data = commission_sessions.join(session, clock, actor, case, form, data)
        instance.complete(row.spiff_task_id, data)
        end = instance.end() if confirmed_end is not None else None
        if end is not None and end.bpmn_id != confirmed_end:
            raise EndUnconfirmed(end)  # the transaction is rolled back: nothing written
        # before saving: an answer step that leads straight to the end must find its
        # orientation still open (the end gives places back and cancels what is open), and
        # a new operator's steps are created already routed to it
        orientations.from_answers(session, clock, actor, case, form, data, row.name, via=via)
        holder = row.assignee_id or actor.user_id
        now = clock.now()
        done = row.row(status=TaskStatus.COMPLETED, completed_at=now,
                       completed_by_id=actor.user_id, assignee_id=holder,
                       hours_taken=whole_hours(row.ready_at, now))
        saved = runtime.save(session, case, instance, clock, armed=armed,
                             done=done, steps=[s for s in steps if s.id != row.id])
        if form is not None and form.part_fields():  # no extra write for other forms
            parties.from_answers(session, clock, actor, case, form, data, row.name)
        consent.from_answers(session, clock, actor, case, form, data, row.name)
        record_facts(session, clock, case, form, data)  # no query for most forms
        audit.record(session, clock, actor, "task.complete", territory_id=row.territory_id,
                     case_id=case.id, task=row.bpmn_id, name=row.name, fields=sorted(data))
        following = _next_for(session, actor, case, saved.steps)
    metrics.step_completed(instance.circuit.process_id)  # committed (or joined a caller's)
    return following


class EndUnconfirmed(Exception):
    """The answer would end the case at ``end``, which the person has not confirmed."""

    def __init__(self, end: EndView) -> None:
        super().__init__(end.bpmn_id)
        self.end = end


def _next_for(session: Session, actor: Actor, case: Case,
              steps: list[runtime.Step]) -> TaskItem | None:
    """The first of ``steps`` ``actor`` may work on, as a task item."""
    for step in steps:
        if may_work_on(actor, step.territory_id, step.role, step.assignee_id, step.part,
                       step.organisation_id):
            title = session.scalar(select(Circuit.title).where(Circuit.id == step.circuit_id))
            return task_item(step, case, title or "")
    return None


def _refuse(session: Session, clock: Clock, actor: Actor, case_id: int, territory_id: int,
            role: str | None, held: bool = False) -> NoReturn:
    """Refuse a step the actor may not act on: as "not found" when its case is out of their
    reach (no existence leak), else as not theirs (someone else holds it, another role, or
    another organisation).

    :raises NotFound:
    :raises PermissionDenied:
    """
    case_view(session, actor, case_id, territory_id, clock.now())  # NotFound when out of reach
    raise PermissionDenied(code="svc.step_held" if held
                           else "svc.step_other_role" if role not in actor.roles_in(territory_id)
                           else "svc.step_other_organisation")


@contextmanager
def _refusals_audited(session: Session, clock: Clock, actor: Actor, task_id: int,
                      attempt: str) -> Iterator[None]:
    """Audit a refused attempt on an existing step (after the rollback: nothing else stays):
    who tried what on which step, and why (the refusal's code)."""
    try:
        yield
    except (NotFound, PermissionDenied) as exc:
        step = session.execute(select(HumanTask.territory_id, HumanTask.case_id,
                                      HumanTask.bpmn_id, HumanTask.name)
                               .where(HumanTask.id == task_id)).one_or_none()
        if step is not None:
            with transaction(session):
                audit.record(session, clock, actor, "task.refused",
                             territory_id=step.territory_id, case_id=step.case_id,
                             task=step.bpmn_id, name=step.name, attempt=attempt,
                             reason=exc.code)
        raise


def _task(session: Session, actor: Actor, task_id: int) -> HumanTask:
    row = session.get(HumanTask, task_id)
    if row is None or not actor.is_member(row.territory_id):
        raise NotFound(code="svc.step_not_found")
    return row


def _open_task(session: Session, actor: Actor, task_id: int) -> HumanTask:
    row = _task(session, actor, task_id)
    if row.status != TaskStatus.OPEN:
        raise InvalidTransition(code="svc.step_done")
    return row


def form_of(session: Session, actor: Actor, task_id: int, clock: Clock | None = None
            ) -> tuple[TaskItem, FormSpec | None]:
    """The step as lists show it and the form it asks for, without loading its case: what a
    submission needs to read the posted values (``details`` is the page).

    :raises NotFound: unknown step, or outside the actor's territories.
    """
    found = session.execute(FORM_OF, {"task_id": task_id}).one_or_none()
    if found is None or not actor.is_member(found[0].territory_id):
        raise NotFound(code="svc.step_not_found")
    row, case, checksum, title = found
    form = (runtime.compiled(session, case.circuit_version_id, checksum).forms.get(row.form)
            if row.form else None)
    form = orientations.as_submitted(session, row.territory_id, form)
    if clock is not None:  # the sessions whose agenda is open now
        form = commission_sessions.with_sessions(session, clock, row.territory_id, form)
    return task_item(row, case, title), parties.with_organisations(session, row.territory_id,
                                                                   form)


# the step, its case, its version's checksum and its circuit's title: all a submission
# reads before ``complete`` (one statement, not five)
FORM_OF = (select(HumanTask, Case, CircuitVersion.checksum, Circuit.title)
           .join(Case, Case.id == HumanTask.case_id)
           .join(CircuitVersion, CircuitVersion.id == Case.circuit_version_id)
           .join(Circuit, Circuit.id == HumanTask.circuit_id)
           .where(HumanTask.id == bindparam("task_id")))


def _form(session: Session, row: HumanTask) -> FormSpec | None:
    """The form a step asks for, as its circuit version declares it (no case loaded)."""
    if not row.form:
        return None
    version_id = session.scalar(select(Case.circuit_version_id).where(Case.id == row.case_id))
    assert version_id is not None
    return runtime.compiled(session, version_id).forms.get(row.form)


def _answered_afresh(form: FormSpec | None) -> set[str]:
    """Fields a step's page leaves blank instead of showing the case's earlier answer: the
    whole answer to an orientation (the previous one may be another operator's refusal)
    and the choice of a service (the previous one may have refused)."""
    if form is None:
        return set()
    if form.answer_field() is not None:
        return set(form.field_names())
    return {f.name for f in form.orientation_fields()}


def _latest_answers(instance: Instance, task_id: str) -> dict[str, Any]:
    """The case data a step's page shows: the step's own copy (what its branch answered;
    the first open step's, ``Instance.data``, if it cannot be found), with each date as last
    answered anywhere in the case (the runner keeps them in the workflow's own data). In a
    circuit with parallel branches the first open step may be in another branch, and every
    branch carries copies made before the other's answers: C4's « Enregistrer un acte de la
    procédure », open beside the support, must show the act and the hearing date it recorded."""
    try:
        own = instance.workflow.tasks.get(UUID(task_id))
    except ValueError:
        own = None
    latest = {k: v for k, v in instance.workflow.data.items() if k != "aiguillage_seq"}
    return {**(dict(own.data) if own is not None else instance.data()), **latest}


def details(session: Session, clock: Clock, actor: Actor, task_id: int) -> TaskDetail:
    """The task page: the step, its case summary, instructions and form (the one case
    being acted on is loaded; the read is audited). Only for someone who must act on the
    step (``access.acts_on``: it is assigned to them or offered to them) or coordinates the
    territory. Instructions and form values are filled only with the data categories the
    reader sees of the case (``access.case_view``): none for a minimal reader.

    :raises NotFound: unknown step, outside the actor's territories, or not theirs to act on.
    """
    with transaction(session):
        row = _task(session, actor, task_id)
        coordinator = actor.is_coordinator(row.territory_id)
        if not coordinator and session.scalar(select(HumanTask.id).where(
                HumanTask.id == row.id, acts_on(actor, row.territory_id))) is None:
            raise NotFound(code="svc.step_not_found")
        case = session.get(Case, row.case_id)
        assert case is not None
        try:
            view = case_view(session, actor, case.id, case.territory_id, clock.now())
        except NotFound:  # a step they completed, on a case they no longer act on
            view = NOTHING_YET
        item = task_items(session, [row], named=view.shows_name)[0]
        instructions, form, values = "", None, {}
        if row.status == TaskStatus.OPEN:
            instance = runtime.load(session, case, clock)
            data = view.shown(_latest_answers(instance, row.spiff_task_id),
                              data_categories(instance.circuit))
            shown = instance.task(row.spiff_task_id, data=None if view.whole else data)
            instructions = shown.documentation
            form = parties.with_organisations(session, row.territory_id,
                                              orientations.with_services(
                                                  session, clock, row.territory_id,
                                                  instance.form_for(row.spiff_task_id),
                                                  data))
            form = commission_sessions.with_sessions(session, clock, row.territory_id, form)
            blank = _answered_afresh(form)
            values = {k: data[k] for k in (form.field_names() if form else ())
                      if k in data and k not in blank}
        is_open = row.status == TaskStatus.OPEN
        candidates = _candidates(session, row) if coordinator and is_open else []
        audit.record(session, clock, actor, "case.read", territory_id=row.territory_id,
                     case_id=row.case_id, task=row.bpmn_id, name=row.name,
                     minimal=view.minimal)
        circuit = session.get(Circuit, case.circuit_id)
        return TaskDetail(
            task=item, case=summary_of(case, circuit.title if circuit else "",
                                       named=view.shows_name),
            instructions=instructions, form=form, values=values,
            can_complete=is_open and may_work_on(
                actor, row.territory_id, row.role, row.assignee_id, row.part,
                row.organisation_id),
            can_assign=coordinator and is_open, candidates=candidates,
            minimal=view.minimal)


def _candidates(session: Session, row: HumanTask) -> list[Person]:
    """Who a coordinator may give the step to: the active holders of its role in the
    territory (for a lane bound to a part, in the organisation holding it; nobody while no
    organisation does)."""
    if row.part is not None and row.organisation_id is None:
        return []
    users = session.execute(select(User.id, User.display_name).join(
        Membership, Membership.user_id == User.id).where(
        Membership.territory_id == row.territory_id, Membership.role == row.role,
        User.active.is_(True), User.kind == PERSON,
        *_of_holder(row)).order_by(User.display_name).distinct()).all()
    return [Person(uid, name) for uid, name in users]
