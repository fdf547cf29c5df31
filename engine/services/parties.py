"""The organisations on a case, by part (referrer, operator, landlord...), with history.

A territory declares its parts (territory.json ``parts``). A party is set by the circuit (the
referrer and the platform at case start), by a form answer (a property with
``"x-aiguillage-part"`` whose answer is an organisation id) or by a coordinator on the case
page. Each part has at most one current organisation; a change ends the current row and adds
one, dated, with its reason, set by whom; every change is audited (``case.party_set``,
``case.party_end``).

The open steps of a lane bound to a part follow the party: a change offers them to the new
organisation (an end, to nobody until another holds the part), in the same unit of work.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.forms import Choice, FormSpec
from engine.errors import Conflict, InvalidInput, NotFound
from engine.persistence.db import transaction
from engine.persistence.models import (
    Case,
    CaseParty,
    HumanTask,
    Membership,
    Organisation,
    Territory,
    User,
)
from engine.persistence.models.human_task import TaskStatus
from engine.services import audit, runtime
from engine.services.access import (
    Actor,
    require_case_coordinator,
    require_coordinator,
    require_member,
)

MAX_REASON = 500  # case_party.reason
PLATFORM_KIND = "plateforme"  # the organisation kind of the territory's coordination
REFERRER, PLATFORM, LANDLORD = "referrer", "platform", "landlord"
LANDLORD_KIND = "bailleur"  # the organisation kind of a social landlord


@dataclass(frozen=True)
class PartInfo:
    """A part the territory declares: its key and French label."""

    key: str
    label: str


@dataclass(frozen=True)
class PartyInfo:
    """An organisation playing a part in a case, since when (and until when, if ended)."""

    part: str
    part_label: str
    organisation_id: int
    organisation: str
    since: datetime
    until: datetime | None
    reason: str
    end_reason: str | None


def parts_of(session: Session, actor: Actor, territory_id: int) -> list[PartInfo]:
    """The parts a territory declares, in the order of its file."""
    require_member(actor, territory_id)
    return _parts(session, territory_id)


def _parts(session: Session, territory_id: int) -> list[PartInfo]:
    territory = session.get(Territory, territory_id)
    return [PartInfo(p["key"], p["label"]) for p in (territory.parts or [])] if territory else []


def current(session: Session, actor: Actor, case_id: int) -> list[PartyInfo]:
    """The current parties of a case, in the order of the territory's parts."""
    case = case_for(session, actor, case_id)
    return _listed(session, case, current_only=True)


def history(session: Session, actor: Actor, case_id: int) -> list[PartyInfo]:
    """Every party a case has had, newest first (coordinators only).

    :raises PermissionDenied: the actor does not coordinate the case's territory.
    """
    case = case_for(session, actor, case_id)
    require_coordinator(actor, case.territory_id)
    rows = _listed(session, case, current_only=False)
    return sorted(rows, key=lambda p: p.since, reverse=True)


def _listed(session: Session, case: Case, current_only: bool) -> list[PartyInfo]:
    labels = {p.key: p.label for p in _parts(session, case.territory_id)}
    query = (select(CaseParty, Organisation.name)
             .join(Organisation, Organisation.id == CaseParty.organisation_id)
             .where(CaseParty.case_id == case.id).order_by(CaseParty.since, CaseParty.id))
    if current_only:
        query = query.where(CaseParty.until.is_(None))
    order = list(labels)
    rows = [PartyInfo(p.part, labels.get(p.part, p.part), p.organisation_id, name, p.since,
                      p.until, p.reason, p.end_reason) for p, name in session.execute(query)]
    return sorted(rows, key=lambda p: order.index(p.part) if p.part in order else len(order))


def set_party(session: Session, clock: Clock, actor: Actor, case_id: int, part: str,
              organisation_id: int, reason: str) -> PartyInfo:
    """Coordinator: give a part of the case to an organisation of its territory (or change it).

    :raises PermissionDenied: the actor does not coordinate the case's territory.
    :raises InvalidInput: no reason, or one too long; an unknown part.
    :raises Conflict: an organisation of another territory, a deactivated one, or the one
        already holding the part.
    """
    reason = checked_reason(reason)
    with transaction(session):
        case = case_for(session, actor, case_id, lock=True)
        require_case_coordinator(session, actor, case.id, case.territory_id, clock.now())
        if not record(session, clock, actor, case, part, organisation_id, reason):
            raise Conflict(code="svc.party_unchanged")
    return next(p for p in current(session, actor, case_id) if p.part == part)


def end_party(session: Session, clock: Clock, actor: Actor, case_id: int, part: str,
              reason: str) -> None:
    """Coordinator: end the part an organisation plays in the case, with a reason.

    :raises PermissionDenied: the actor does not coordinate the case's territory.
    :raises InvalidInput: no reason, or one too long.
    :raises Conflict: no organisation holds that part.
    """
    reason = checked_reason(reason)
    with transaction(session):
        case = case_for(session, actor, case_id, lock=True)
        require_case_coordinator(session, actor, case.id, case.territory_id, clock.now())
        row = _holding(session, case.id, part)
        if row is None:
            raise Conflict(code="svc.party_not_set")
        row.until, row.ended_by_id, row.end_reason = clock.now(), actor.user_id, reason
        organisation = session.get(Organisation, row.organisation_id)
        audit.record(session, clock, actor, "case.party_end", territory_id=case.territory_id,
                     case_id=case.id, part=part, organisation_id=row.organisation_id,
                     reason=reason, name=_named(session, case.territory_id, part,
                                                organisation.name if organisation else ""))
        reroute(session, clock, actor, case, part, None)


def record(session: Session, clock: Clock, actor: Actor, case: Case, part: str,
           organisation_id: int, reason: str) -> bool:
    """Set a party inside the caller's unit of work (checks the part and the organisation;
    the caller checks who may). Return False when that organisation already holds the part.

    :raises InvalidInput: an unknown part.
    :raises Conflict: an organisation of another territory or a deactivated one.
    """
    parts = _parts(session, case.territory_id)
    if part not in {p.key for p in parts}:
        raise InvalidInput(code="svc.part_unknown", part=part,
                           parts=", ".join(f"{p.key} ({p.label})" for p in parts) or "aucune")
    organisation = session.get(Organisation, organisation_id)
    if organisation is None or organisation.territory_id != case.territory_id:
        raise Conflict(code="svc.party_organisation_elsewhere")
    if not organisation.active:
        raise Conflict(code="svc.party_organisation_inactive")
    row = _holding(session, case.id, part)
    if row is not None and row.organisation_id == organisation_id:
        return False
    now = clock.now()
    if row is not None:
        row.until, row.ended_by_id, row.end_reason = now, actor.user_id, reason
    session.add(CaseParty(case_id=case.id, part=part, organisation_id=organisation_id,
                          since=now, set_by_id=actor.user_id, reason=reason))
    # written now: a step that becomes ready later in this unit of work asks the table who
    # holds its part (the row sync reads with the connection, without autoflush)
    session.flush()
    audit.record(session, clock, actor, "case.party_set", territory_id=case.territory_id,
                 case_id=case.id, part=part, organisation_id=organisation_id,
                 previous=row.organisation_id if row else None, reason=reason,
                 name=_named(session, case.territory_id, part, organisation.name))
    reroute(session, clock, actor, case, part, organisation_id)
    return True


def awaited(session: Session, territory_id: int, steps: Iterable[HumanTask]) -> dict[int, str]:
    """Open steps waiting for a party (their lane is bound to a part no organisation holds
    in the case): step id → the label of that part, as the territory names it ('' for a part
    it no longer declares). No query when no step waits."""
    waiting = [(s.id, s.part) for s in steps if s.part is not None and s.organisation_id is None]
    if not waiting:
        return {}
    labels = {p.key: p.label for p in _parts(session, territory_id)}
    return {step_id: labels.get(part, "") for step_id, part in waiting}


def reroute(session: Session, clock: Clock, actor: Actor, case: Case, part: str,
            organisation_id: int | None) -> None:
    """Offer the case's open steps bound to ``part`` to ``organisation_id`` (None: to nobody,
    until an organisation holds the part again), inside the caller's unit of work. A step
    held by someone who does not hold its role in that organisation is given back (audited
    as ``task.unclaim``, with the reason)."""
    steps = session.execute(select(HumanTask.id, HumanTask.role, HumanTask.assignee_id,
                                   HumanTask.bpmn_id, HumanTask.name).where(
        HumanTask.case_id == case.id, HumanTask.status == TaskStatus.OPEN,
        HumanTask.part == part)).all()
    if not steps:
        return
    holders = sorted({s.assignee_id for s in steps if s.assignee_id is not None})
    members = set() if organisation_id is None or not holders else set(session.execute(
        select(Membership.user_id, Membership.role).join(User, User.id == Membership.user_id)
        .where(Membership.territory_id == case.territory_id, User.active.is_(True),
               Membership.organisation_id == organisation_id,
               Membership.user_id.in_(holders))).all())
    released = [s for s in steps if s.assignee_id is not None
                and (s.assignee_id, s.role) not in members]
    session.execute(update(HumanTask).where(HumanTask.id.in_([s.id for s in steps]))
                    .values(organisation_id=organisation_id))
    if released:
        session.execute(update(HumanTask).where(HumanTask.id.in_([s.id for s in released]))
                        .values(assignee_id=None))
    for step in released:
        audit.record(session, clock, actor, "task.unclaim", territory_id=case.territory_id,
                     case_id=case.id, task=step.bpmn_id, name=step.name,
                     previous=step.assignee_id, reason="party")


def _named(session: Session, territory_id: int, part: str, organisation: str) -> str:
    """« Opérateur d'accompagnement : Association Relais »: what the case history shows."""
    label = next((p.label for p in _parts(session, territory_id) if p.key == part), part)
    return f"{label} : {organisation}"


def at_start(session: Session, clock: Clock, actor: Actor, case: Case) -> None:
    """The circuit's parties of a new case: the referrer is the organisation of the person
    who opens it (when they have exactly one there), and its landlord too when that
    organisation is a social landlord (kind ``bailleur``: a landlord signals its own tenant);
    the platform the territory's active coordination organisation (kind ``plateforme``);
    each when the territory declares it."""
    keys = {p.key for p in _parts(session, case.territory_id)}
    mine = sorted(actor.organisations.get(case.territory_id, frozenset()))
    opener = session.execute(select(Organisation.active, Organisation.kind).where(
        Organisation.id == mine[0])).one_or_none() if len(mine) == 1 else None
    if REFERRER in keys and opener is not None and opener.active:
        record(session, clock, actor, case, REFERRER, mine[0], "Ouverture du dossier")
    if LANDLORD in keys and opener is not None and opener.active and \
            opener.kind == LANDLORD_KIND:
        record(session, clock, actor, case, LANDLORD, mine[0], "Signalement du bailleur")
    if PLATFORM in keys:
        platform = session.scalar(select(Organisation.id).where(
            Organisation.territory_id == case.territory_id, Organisation.active.is_(True),
            Organisation.kind == PLATFORM_KIND).order_by(Organisation.id).limit(1))
        if platform is not None:
            record(session, clock, actor, case, PLATFORM, platform, "Plateforme du territoire")


def with_organisations(session: Session, territory_id: int,
                       form: FormSpec | None) -> FormSpec | None:
    """The form as the territory offers it: each field naming a part's organisation becomes a
    choice of the territory's active organisations (and accepts only them). Without such a
    field the form is returned as it is, with no query."""
    if form is None or not form.part_fields():
        return form
    offered = session.execute(select(Organisation.id, Organisation.name).where(
        Organisation.territory_id == territory_id, Organisation.active.is_(True))
        .order_by(Organisation.name)).all()
    choices = tuple(Choice(oid, name) for oid, name in offered)
    schema = copy.deepcopy(form.schema)
    properties = schema.get("properties", {})
    fields = []
    for spec in form.fields:
        if spec.part:
            spec = replace(spec, kind="choice", choices=choices)
            if isinstance(properties.get(spec.name), dict):
                properties[spec.name]["enum"] = [oid for oid, _ in offered]
        fields.append(spec)
    return replace(form, fields=tuple(fields), schema=schema)


def from_answers(session: Session, clock: Clock, actor: Actor, case: Case, form: FormSpec,
                 data: Mapping[str, Any], step: str) -> None:
    """Set the parties a completed form names (inside the caller's unit of work); the reason
    is the step's name.

    :raises InvalidInput: the field names a part the territory does not declare.
    :raises Conflict: the answer is not an active organisation of the case's territory.
    """
    for spec in form.part_fields():
        value = data.get(spec.name)
        if spec.part is None or value in (None, ""):
            continue
        try:
            organisation_id = int(value)
        except (TypeError, ValueError):
            raise Conflict(code="svc.party_organisation_elsewhere") from None
        record(session, clock, actor, case, spec.part, organisation_id, f"Étape « {step} »")


def _holding(session: Session, case_id: int, part: str) -> CaseParty | None:
    return session.scalar(select(CaseParty).where(
        CaseParty.case_id == case_id, CaseParty.part == part, CaseParty.until.is_(None))
        .with_for_update())


def checked_reason(reason: str) -> str:
    """The reason of a change, trimmed.

    :raises InvalidInput: empty, or longer than ``MAX_REASON``.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(code="svc.reason_required")
    if len(reason) > MAX_REASON:
        raise InvalidInput(code="svc.reason_too_long", maximum=MAX_REASON)
    return reason


def case_for(session: Session, actor: Actor, case_id: int, lock: bool = False) -> Case:
    """The case (locked if asked) of a territory the actor works in.

    :raises NotFound: unknown case, or outside the actor's territories.
    """
    case = runtime.lock(session, case_id) if lock else session.get(Case, case_id)
    if case is None or not actor.is_member(case.territory_id):
        raise NotFound(code="svc.case_not_found")
    return case
