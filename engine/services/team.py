"""A case's team: its parties, its référent·e de parcours and the people on its open steps.

The référent·e is named by a coordinator (a person of the territory holding the ``referent``
role), changed or ended with a reason; ``case.referent_id`` is the current one and
``case_referent`` keeps the history (since, until, by whom, why). Holding or completing a step
of the referent's lane no longer makes one the référent·e. Coordinators also get the list of
cases oriented to an operator N days ago or more that still have no référent·e.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import Conflict, InvalidInput, NotFound
from engine.persistence.db import transaction
from engine.persistence.models import (
    Case,
    CaseParty,
    CaseReferent,
    HumanTask,
    Membership,
    Organisation,
    User,
)
from engine.persistence.models.case import CaseStatus
from engine.persistence.models.human_task import TaskStatus
from engine.persistence.models.user import PERSON
from engine.services import audit, parties
from engine.services.access import (
    Actor,
    View,
    case_view,
    require_case_coordinator,
    require_coordinator,
)
from engine.services.results import COUNT_CAP, Page

REFERENT_ROLE = "referent"
OPERATOR = "operator"
DEFAULT_DAYS, MAX_DAYS = 7, 3650
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Member:
    """A person working on a case: what they do on it, their organisation, since when."""

    user_id: int
    name: str
    organisation: str | None
    doing: str | None  # the name of the open step they hold; None: the référent·e
    since: datetime


@dataclass(frozen=True)
class Team:
    """A case's organisations (current parties) and the people working on it."""

    parties: list[parties.PartyInfo]
    referent_id: int | None
    members: list[Member]


@dataclass(frozen=True)
class Unassigned:
    """A case oriented to an operator that has no référent·e yet."""

    case_id: int
    reference: str
    household_name: str
    operator: str
    oriented_at: datetime


def team(session: Session, clock: Clock, actor: Actor, case_id: int,
         view: View | None = None) -> Team:
    """The case's current parties and its people (référent·e first, then step holders), for
    a reader beyond the minimal view (``access.case_view``, or ``view`` when the caller has
    decided it for this actor and case already).

    :raises NotFound: unknown case, out of the actor's reach, or read minimally.
    """
    case = parties.case_for(session, actor, case_id)
    if view is None:
        view = case_view(session, actor, case.id, case.territory_id, clock.now())
    if view.minimal:
        raise NotFound(code="svc.case_not_found")
    members: list[Member] = []
    if case.referent_id is not None:
        since = session.scalar(select(CaseReferent.since).where(
            CaseReferent.case_id == case.id, CaseReferent.until.is_(None),
            CaseReferent.user_id == case.referent_id))
        members.append(_member(session, case, case.referent_id, None,
                               since or case.created_at))
    for step in session.scalars(select(HumanTask).where(
            HumanTask.case_id == case.id, HumanTask.status == TaskStatus.OPEN,
            HumanTask.assignee_id.is_not(None)).order_by(HumanTask.ready_at, HumanTask.id)):
        assert step.assignee_id is not None
        members.append(_member(session, case, step.assignee_id, step.name, step.ready_at))
    return Team(parties.current(session, actor, case_id), case.referent_id, members)


def _member(session: Session, case: Case, user_id: int, doing: str | None,
            since: datetime) -> Member:
    name = session.scalar(select(User.display_name).where(User.id == user_id)) or "—"
    organisation = session.scalar(
        select(Organisation.name).join(Membership, Membership.organisation_id == Organisation.id)
        .where(Membership.user_id == user_id, Membership.territory_id == case.territory_id)
        .order_by(Organisation.name).limit(1))
    return Member(user_id, name, organisation, doing, since)


def name_referent(session: Session, clock: Clock, actor: Actor, case_id: int, user_id: int,
                  reason: str) -> None:
    """Coordinator: name (or change) the case's référent·e de parcours, with a reason.

    :raises PermissionDenied: the actor does not coordinate the case's territory.
    :raises InvalidInput: no reason, or one too long.
    :raises Conflict: the person does not hold the referent role there (or is inactive), or
        is already the référent·e.
    """
    reason = parties.checked_reason(reason)
    with transaction(session):
        case = parties.case_for(session, actor, case_id, lock=True)
        require_case_coordinator(session, actor, case.id, case.territory_id, clock.now())
        eligible = session.scalar(select(Membership.id).join(User, User.id == Membership.user_id)
                                  .where(Membership.user_id == user_id, User.active.is_(True),
                                         User.kind == PERSON,
                                         Membership.territory_id == case.territory_id,
                                         Membership.role == REFERENT_ROLE).limit(1))
        if eligible is None:
            raise Conflict(code="svc.referent_not_eligible")
        if case.referent_id == user_id:
            raise Conflict(code="svc.referent_unchanged")
        previous = case.referent_id
        _end_current(session, clock, actor, case, reason)
        session.add(CaseReferent(case_id=case.id, user_id=user_id, since=clock.now(),
                                 set_by_id=actor.user_id, reason=reason))
        case.referent_id = user_id
        audit.record(session, clock, actor, "case.referent_set", territory_id=case.territory_id,
                     case_id=case.id, referent=user_id, previous=previous, reason=reason,
                     name=_name_of(session, user_id))


def end_referent(session: Session, clock: Clock, actor: Actor, case_id: int,
                 reason: str) -> None:
    """Coordinator: end the référent·e's part on the case, with a reason.

    :raises PermissionDenied: the actor does not coordinate the case's territory.
    :raises InvalidInput: no reason, or one too long.
    :raises Conflict: the case has no référent·e.
    """
    reason = parties.checked_reason(reason)
    with transaction(session):
        case = parties.case_for(session, actor, case_id, lock=True)
        require_case_coordinator(session, actor, case.id, case.territory_id, clock.now())
        if case.referent_id is None:
            raise Conflict(code="svc.referent_none")
        previous = case.referent_id
        _end_current(session, clock, actor, case, reason)
        case.referent_id = None
        audit.record(session, clock, actor, "case.referent_end", territory_id=case.territory_id,
                     case_id=case.id, referent=previous, reason=reason,
                     name=_name_of(session, previous))


def _name_of(session: Session, user_id: int) -> str:
    """The person's display name, as the case history shows it."""
    return session.scalar(select(User.display_name).where(User.id == user_id)) or ""


def _end_current(session: Session, clock: Clock, actor: Actor, case: Case, reason: str) -> None:
    for row in session.scalars(select(CaseReferent).where(CaseReferent.case_id == case.id,
                                                          CaseReferent.until.is_(None))):
        row.until, row.ended_by_id, row.end_reason = clock.now(), actor.user_id, reason


def without_referent(session: Session, clock: Clock, actor: Actor, territory_id: int,
                     days: int = DEFAULT_DAYS, page: int = 1,
                     per_page: int = 25) -> Page[Unassigned]:
    """Open cases of a territory oriented to an operator ``days`` ago or more that have no
    référent·e, longest waiting first (coordinators only; filtered and paged in SQL).

    :raises PermissionDenied: the actor does not coordinate the territory.
    :raises InvalidInput: ``days`` outside 0..MAX_DAYS.
    """
    require_coordinator(actor, territory_id)
    if not 0 <= days <= MAX_DAYS:
        raise InvalidInput(code="svc.days_out_of_range", maximum=MAX_DAYS)
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    where = (Case.territory_id == territory_id, Case.status == CaseStatus.OPEN,
             Case.referent_id.is_(None), CaseParty.part == OPERATOR, CaseParty.until.is_(None),
             CaseParty.since <= clock.now() - timedelta(days=days))
    joined = select(Case.id).join(CaseParty, CaseParty.case_id == Case.id).where(*where)
    total = session.scalar(select(func.count()).select_from(
        joined.limit(COUNT_CAP + 1).subquery())) or 0
    rows = session.execute(
        select(Case.id, Case.reference, Case.household_name, Organisation.name, CaseParty.since)
        .join(CaseParty, CaseParty.case_id == Case.id)
        .join(Organisation, Organisation.id == CaseParty.organisation_id).where(*where)
        .order_by(CaseParty.since, Case.id)
        .limit(per_page).offset((max(page, 1) - 1) * per_page)).all()
    return Page([Unassigned(*row) for row in rows], total, page, per_page)


@dataclass(frozen=True)
class Panel:
    """The « Organisations et équipe » section of a case page, with the choices a
    coordinator edits it with (empty for anyone else)."""

    team: Team
    can_edit: bool
    parts: list[parties.PartInfo]
    organisations: list[tuple[int, str]]
    referents: list[tuple[int, str]]


def panel(session: Session, clock: Clock, actor: Actor, case_id: int,
          view: View | None = None) -> Panel:
    """The case's team, and for a coordinator of its territory the parts, the active
    organisations and the people holding the referent role there (``view`` as in ``team``).

    :raises NotFound: unknown case, out of the actor's reach, or read minimally.
    """
    shown = team(session, clock, actor, case_id, view)
    case = parties.case_for(session, actor, case_id)
    if not actor.is_coordinator(case.territory_id):
        return Panel(shown, False, [], [], [])
    organisations = session.execute(select(Organisation.id, Organisation.name).where(
        Organisation.territory_id == case.territory_id, Organisation.active.is_(True))
        .order_by(Organisation.name)).all()
    referents = session.execute(select(User.id, User.display_name).join(
        Membership, Membership.user_id == User.id).where(
        Membership.territory_id == case.territory_id, Membership.role == REFERENT_ROLE,
        User.active.is_(True), User.kind == PERSON).order_by(User.display_name).distinct()).all()
    return Panel(shown, case.status == CaseStatus.OPEN,
                 parties.parts_of(session, actor, case.territory_id),
                 [(i, n) for i, n in organisations], [(i, n) for i, n in referents])
