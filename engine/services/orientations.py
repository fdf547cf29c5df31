"""Orientations: a case proposed to a service of the directory, answered by its operator
(with an account, or through a signed link), reminded and expired by the circuit's timers,
cancelled with its case; coded refusal reasons per territory (``engine.core.orientation``,
``refusal_reasons``).

An orientation is written by a completed form (``from_answers``, inside the completion's
unit of work): a field with ``"x-aiguillage-orientation"`` creates one (the service's
organisation takes the part it names), a field with ``"x-aiguillage-orientation-answer"``
answers the case's open one. Every refusal (a service of another territory, a full one, a
refusal without a reason...) raises ``FormInvalid`` on the field at fault before anything
is written, and the whole completion rolls back. Every move is logged in
``orientation_event``, audited, and told by a notice to the organisation concerned (the
operator when one arrives; the referrer when it is answered or expires).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.directory import MEASURES
from engine.core.forms import FieldSpec, FormSpec
from engine.core.messages import render
from engine.core.orientation import (
    ACCEPTED,
    ANSWER_FIELDS,
    CANCELLED,
    DECISIONS,
    EXPIRED,
    MAX_DETAIL,
    MAX_MESSAGE,
    MAX_REASON_CODE,
    MAX_REASON_LABEL,
    OPEN_STATES,
    REFUSED,
    REVIEWING,
    SENT,
    STATES,
    VIA_ACCOUNT,
    VIA_LINK,
    VIA_SYSTEM,
    VIA_TIMER,
    WAITING,
    MoveRefused,
    check_move,
)
from engine.errors import FormInvalid, NotFound
from engine.persistence.models import (
    Case,
    CaseParty,
    DirectoryService,
    Organisation,
    Orientation,
    OrientationEvent,
    OutboxMessage,
    User,
)
from engine.services import audit, directory, parties, refusal_reasons, webhooks
from engine.services.access import SYSTEM, Actor, View, case_view, may_edit_service
from engine.services.orientation_choices import as_submitted, labels_for, with_services
from engine.services.refusal_reasons import ReasonItem

__all__ = ["MAX_REASON_CODE", "MAX_REASON_LABEL", "EventItem", "OrientationItem",
           "ReasonItem", "as_submitted", "labels_for", "with_services"]

# notice kinds (engine/services/notices.py renders them; recipients: the organisation named
# in the payload)
NOTICE_SENT, NOTICE_ANSWERED, NOTICE_EXPIRED = ("orientation", "orientation-reponse",
                                                "orientation-expiree")
WHO_BY_VIA = {VIA_LINK: "Lien de réponse", VIA_TIMER: "Délai de réponse dépassé",
              VIA_SYSTEM: "Aiguillage"}


@dataclass(frozen=True)
class EventItem:
    """One move of an orientation, as the case page tells it."""

    at: datetime
    who: str  # a person's name, « Lien de réponse », « Délai de réponse dépassé »
    before: str | None  # state label; None when created
    after: str  # state label
    comment: str = ""


@dataclass(frozen=True)
class OrientationItem:
    """An orientation as the case page shows it (labels, never codes)."""

    id: int
    case_id: int
    service_id: int
    service_name: str
    organisation_name: str
    measure: str  # label
    state: str  # code (engine.core.orientation.STATES)
    state_label: str
    created_at: datetime
    answered_at: datetime | None
    reasons: tuple[str, ...] = ()  # labels
    reason_detail: str = ""
    message_referrer: str = ""
    answer_household: str = ""
    place_taken: bool = False
    events: tuple[EventItem, ...] = ()
    may_send_link: bool = False  # the reader may send a signed answer link now
    comment: str = ""  # the platform's argument
    place_returned_at: datetime | None = None
    answered_by: str = ""  # a person's name, or « Lien de réponse »
    is_open: bool = False  # awaiting the operator's answer


# --------------------------------------------------------------------------- reading


def of_case(session: Session, clock: Clock, actor: Actor, case_id: int,
            view: View | None = None) -> list[OrientationItem]:
    """The case's orientations, newest first, as far as the reader sees the case (none for a
    minimal reader; ``view``: the reader's ``access.case_view`` when the caller has decided it).

    :raises NotFound: unknown case, or out of the actor's reach.
    """
    territory_id = session.scalar(select(Case.territory_id).where(Case.id == case_id))
    if territory_id is None or not actor.is_member(territory_id):
        raise NotFound(code="svc.case_not_found")
    if (view or case_view(session, actor, case_id, territory_id, clock.now())).minimal:
        return []
    rows = session.execute(
        select(Orientation, DirectoryService.name, Organisation.name)
        .join(DirectoryService, DirectoryService.id == Orientation.service_id)
        .join(Organisation, Organisation.id == Orientation.organisation_id)
        .where(Orientation.case_id == case_id)
        .order_by(Orientation.created_at.desc(), Orientation.id.desc())).all()
    if not rows:
        return []
    ids = [o.id for o, _, _ in rows]
    events: dict[int, list[EventItem]] = {}
    for event, name in session.execute(
            select(OrientationEvent, User.display_name)
            .outerjoin(User, User.id == OrientationEvent.user_id)
            .where(OrientationEvent.orientation_id.in_(ids))
            .order_by(OrientationEvent.at, OrientationEvent.id)):
        events.setdefault(event.orientation_id, []).append(EventItem(
            event.at, _who(name, event.via), STATES.get(event.before, event.before)
            if event.before else None, STATES.get(event.after, event.after), event.comment))
    labels = refusal_reasons.labels_of(session, territory_id,
                                       [c for o, _, _ in rows for c in o.reasons or []])
    answerers = _names(session, [o.answered_by_id for o, _, _ in rows])
    coordinator = actor.is_coordinator(territory_id) and not actor.is_system
    return [OrientationItem(
        id=o.id, case_id=o.case_id, service_id=o.service_id, service_name=service,
        organisation_name=organisation, measure=MEASURES.get(o.measure, MEASURES["autre"]),
        state=o.state, state_label=STATES.get(o.state, o.state), created_at=o.created_at,
        answered_at=o.answered_at,
        reasons=tuple(labels.get(c, c) for c in o.reasons or []),
        reason_detail=o.reason_detail, message_referrer=o.message_referrer,
        answer_household=o.answer_household, place_taken=o.place_taken,
        events=tuple(events.get(o.id, [])),
        may_send_link=coordinator and o.state in OPEN_STATES, comment=o.comment,
        place_returned_at=o.place_returned_at,
        answered_by=answerers.get(o.answered_by_id, "") if o.answered_by_id is not None
        else WHO_BY_VIA.get(o.answered_via or "", ""),
        is_open=o.state in OPEN_STATES) for o, service, organisation in rows]


def _who(name: str | None, via: str) -> str:
    return name or WHO_BY_VIA.get(via, "Aiguillage")


def _names(session: Session, user_ids: list[int | None]) -> dict[int, str]:
    wanted = sorted({u for u in user_ids if u is not None})
    return dict(session.execute(select(User.id, User.display_name).where(
        User.id.in_(wanted))).all()) if wanted else {}


# --------------------------------------------------------------------------- from a form


def from_answers(session: Session, clock: Clock, actor: Actor, case: Case,
                 form: FormSpec | None, data: Mapping[str, Any], step: str,
                 via: str = VIA_ACCOUNT) -> None:
    """Create or answer an orientation from a completed form (in the caller's unit of work).

    :raises FormInvalid: the service chosen is not an active one of the case's territory,
        or is full and the orientation is not to its waiting list; a refusal without a
        reason, or without the detail its reason asks; an acceptance when no place is left;
        a decision the orientation's state does not allow. Nothing is written then.
    """
    if form is None:
        return
    for spec in form.orientation_fields():
        if data.get(spec.name) not in (None, ""):
            _create(session, clock, actor, case, spec, data, step, via)
    answer = form.answer_field()
    if answer is not None and data.get(answer.name) in DECISIONS:
        _answer(session, clock, actor, case, answer.name, data, via)


def _refused(field_name: str, code: str, **params: Any) -> FormInvalid:
    return FormInvalid({field_name: [render(code, "fr", params)]})


def _create(session: Session, clock: Clock, actor: Actor, case: Case, spec: FieldSpec,
            data: Mapping[str, Any], step: str, via: str) -> None:
    settings = spec.orientation or {}
    try:
        service_id = int(data[spec.name])
    except (TypeError, ValueError):
        raise _refused(spec.name, "orient.not_a_service") from None
    service = session.get(DirectoryService, service_id)
    if service is None or service.territory_id != case.territory_id:
        raise _refused(spec.name, "orient.service_elsewhere")
    if not service.active:
        raise _refused(spec.name, "orient.service_inactive")
    organisation = session.get(Organisation, service.organisation_id)
    if organisation is None or not organisation.active:
        raise _refused(spec.name, "orient.organisation_inactive")
    state_field = settings.get("state_field")
    waiting = state_field is not None and \
        data.get(str(state_field)) == settings.get("waiting_value")
    if not waiting and service.places_available == 0:
        raise _refused(spec.name, "orient.service_full")
    now = clock.now()
    for earlier in _open(session, case.id):
        _move(session, clock, actor, earlier, CANCELLED, via,
              "Remplacée par une nouvelle orientation")
    comment_field = settings.get("comment")
    comment = data.get(comment_field) if comment_field else None
    row = Orientation(
        territory_id=case.territory_id, case_id=case.id, service_id=service.id,
        organisation_id=service.organisation_id, measure=service.measure,
        part=str(settings.get("part") or "operator"), state=WAITING if waiting else SENT,
        step=step[:300], comment=str(comment or "").strip()[:MAX_MESSAGE], created_at=now,
        created_by_id=actor.user_id, updated_at=now, reasons=[])
    session.add(row)
    session.flush()
    event = _event(session, clock, actor, row, None, row.state, via, "")
    parties.record(session, clock, actor, case, row.part, service.organisation_id,
                   f"Orientation vers {service.name}"[:parties.MAX_REASON])
    audit.record(session, clock, actor, "orientation.create", territory_id=case.territory_id,
                 case_id=case.id, orientation=row.id, service=service.id, name=service.name,
                 state=row.state)
    _notify(session, clock, NOTICE_SENT, case, row, event, service.organisation_id,
            service=service.name)


def _answer(session: Session, clock: Clock, actor: Actor, case: Case, field_name: str,
            data: Mapping[str, Any], via: str) -> None:
    row = session.scalar(select(Orientation).where(
        Orientation.case_id == case.id, Orientation.state.in_(sorted(OPEN_STATES)))
        .order_by(Orientation.created_at.desc(), Orientation.id.desc()).limit(1)
        .with_for_update())
    if row is None:
        return  # an older case, oriented before the directory: nothing to record
    after = DECISIONS[str(data[field_name])]
    if after != row.state:
        try:
            check_move(row.state, after)
        except MoveRefused:
            raise _refused(field_name, "orient.move", before=STATES[row.state],
                           after=STATES[after]) from None
    texts = {key: _text(data, ANSWER_FIELDS[key], limit)
             for key, limit in (("detail", MAX_DETAIL), ("referrer", MAX_MESSAGE),
                                ("household", MAX_MESSAGE))}
    codes: list[str] = []
    comment = ""
    if after == REFUSED:
        codes, comment = _reasons(session, case.territory_id, data, texts["detail"])
    service = session.scalar(select(DirectoryService).where(
        DirectoryService.id == row.service_id).with_for_update())
    assert service is not None
    counted = after == ACCEPTED and service.places_available is not None
    if counted and service.places_available is not None and service.places_available <= 0:
        raise _refused(field_name, "orient.no_place")
    # every refusal has been raised: from here on, writes
    if counted:
        placer = actor if may_edit_service(actor, service.territory_id,
                                           service.organisation_id) else SYSTEM
        if not directory.take_place(session, clock, placer, service.id,
                                    f"Orientation acceptée — dossier {case.reference}"):
            raise _refused(field_name, "orient.no_place")
        row.place_taken = True
    row.reasons, row.reason_detail = codes, texts["detail"] if after == REFUSED else ""
    row.message_referrer, row.answer_household = texts["referrer"], texts["household"]
    row.answered_at, row.answered_by_id, row.answered_via = clock.now(), actor.user_id, via
    event = _move(session, clock, actor, row, after, via, comment)
    referrer = _referrer(session, case.id)
    _notify(session, clock, NOTICE_ANSWERED, case, row, event, referrer,
            service=service.name, reasons=comment)
    webhooks.emit(session, clock.now(), "orientation.answered",
                  f"orientation.answered:{row.id}:{event.id}", case.territory_id, [referrer],
                  {"case": case.reference, "orientation": {
                      "id": row.id, "state": row.state, "state_label": STATES[row.state],
                      "service": service.name, "reasons": codes}},
                  case_id=case.id, circuit_id=case.circuit_id)


def _text(data: Mapping[str, Any], name: str, limit: int) -> str:
    value = str(data.get(name) or "").strip()
    if len(value) > limit:
        raise FormInvalid({name: [render("form.max_length", "fr", {"limit": limit})]})
    return value


def _reasons(session: Session, territory_id: int, data: Mapping[str, Any],
             detail: str) -> tuple[list[str], str]:
    """The refusal's reason codes (checked against the territory's active ones) and their
    labels as one line.

    :raises FormInvalid: none, an unknown or retired one, or a missing detail.
    """
    name = ANSWER_FIELDS["reasons"]
    given = data.get(name)
    codes = list(dict.fromkeys(str(c) for c in given)) if isinstance(given, list) else []
    if not codes:
        raise _refused(name, "orient.reason_required")
    active = {r.code: r for r in refusal_reasons.active_of(session, territory_id)}
    if any(code not in active for code in codes):
        raise _refused(name, "orient.reason_unknown")
    asking = next((active[c] for c in codes if active[c].needs_detail), None)
    if asking is not None and not detail:
        raise _refused(ANSWER_FIELDS["detail"], "orient.detail_required", label=asking.label)
    return codes, " ; ".join(active[c].label for c in codes)


def _referrer(session: Session, case_id: int) -> int | None:
    return session.scalar(select(CaseParty.organisation_id).where(
        CaseParty.case_id == case_id, CaseParty.part == parties.REFERRER,
        CaseParty.until.is_(None)))


# --------------------------------------------------------------------------- moves


def claimed(session: Session, clock: Clock, actor: Actor, case_id: int) -> None:
    """The operator took the answer step (``tasks.claim``): the case's orientation « envoyée »
    becomes « en cours d'examen » (inside the caller's unit of work)."""
    for row in _open(session, case_id):
        if row.state == SENT:
            _move(session, clock, actor, row, REVIEWING, VIA_ACCOUNT, "")


def mark_reviewing(session: Session, clock: Clock, orientation_id: int, via: str) -> bool:
    """An orientation « envoyée » becomes « en cours d'examen » (a signed link was opened;
    inside the caller's unit of work). False when it was not « envoyée ».

    :raises NotFound: unknown orientation.
    """
    row = session.scalar(select(Orientation).where(Orientation.id == orientation_id)
                         .with_for_update())
    if row is None:
        raise NotFound(code="svc.orientation_unknown")
    if row.state != SENT:
        return False
    _move(session, clock, SYSTEM, row, REVIEWING, via, "")
    return True


def expire_open(session: Session, clock: Clock, case_id: int, comment: str) -> int:
    """The case's orientations still awaiting an answer become « expirée »; their count
    (inside the timer's unit of work; the referrer is told)."""
    count = 0
    for row in _open(session, case_id):
        event = _move(session, clock, SYSTEM, row, EXPIRED, VIA_TIMER, comment)
        case = session.get(Case, case_id)
        assert case is not None
        service = session.scalar(select(DirectoryService.name).where(
            DirectoryService.id == row.service_id)) or ""
        _notify(session, clock, NOTICE_EXPIRED, case, row, event,
                _referrer(session, case_id), service=service)
        count += 1
    return count


def end_of_case(session: Session, clock: Clock, actor: Actor, case_id: int,
                cancelled: bool) -> None:
    """The case ends: open orientations are cancelled, places taken are given back (inside
    the caller's unit of work)."""
    via = VIA_SYSTEM if actor.is_system else VIA_ACCOUNT
    why = "Dossier annulé" if cancelled else "Fin du dossier"
    for row in _open(session, case_id):
        _move(session, clock, actor, row, CANCELLED, via, why)
    taken = session.scalars(select(Orientation).where(
        Orientation.case_id == case_id, Orientation.state == ACCEPTED,
        Orientation.place_taken.is_(True), Orientation.place_returned_at.is_(None))
        .with_for_update())
    for row in taken:
        service = session.get(DirectoryService, row.service_id)
        assert service is not None
        placer = actor if may_edit_service(actor, service.territory_id,
                                           service.organisation_id) else SYSTEM
        directory.give_back_place(session, clock, placer, service.id,
                                  "Fin de l'accompagnement : place rendue")
        row.place_returned_at = row.updated_at = clock.now()
        _event(session, clock, actor, row, ACCEPTED, ACCEPTED, via,
               "Fin de l'accompagnement : place rendue")
        audit.record(session, clock, actor, "orientation.place_returned",
                     territory_id=row.territory_id, case_id=case_id, orientation=row.id,
                     name=service.name)


def _open(session: Session, case_id: int) -> list[Orientation]:
    return list(session.scalars(select(Orientation).where(
        Orientation.case_id == case_id, Orientation.state.in_(sorted(OPEN_STATES)))
        .order_by(Orientation.id).with_for_update()))


def _move(session: Session, clock: Clock, actor: Actor, row: Orientation, after: str,
          via: str, comment: str) -> OrientationEvent:
    """Move an orientation (checked), log and audit it.

    :raises MoveRefused: the state machine does not allow it.
    """
    before = row.state
    if after != before:
        check_move(before, after)
    row.state, row.updated_at = after, clock.now()
    event = _event(session, clock, actor, row, before, after, via, comment)
    audit.record(session, clock, actor, "orientation.move", territory_id=row.territory_id,
                 case_id=row.case_id, orientation=row.id, before=before, after=after,
                 name=f"{STATES[before]} → {STATES[after]}", via=via)
    return event


def _event(session: Session, clock: Clock, actor: Actor, row: Orientation,
           before: str | None, after: str, via: str, comment: str) -> OrientationEvent:
    event = OrientationEvent(orientation_id=row.id, at=clock.now(), user_id=actor.user_id,
                             via=via, before=before, after=after, comment=comment[:2000])
    session.add(event)
    session.flush()
    return event


def _notify(session: Session, clock: Clock, kind: str, case: Case, row: Orientation,
            event: OrientationEvent, organisation_id: int | None, **payload: str) -> None:
    """A notice to the people of an organisation (none when no organisation holds the part
    to tell): the case's reference, the service and the state, never the household's
    data."""
    if organisation_id is None:
        return
    session.add(OutboxMessage(
        dedupe_key=f"{kind}:{row.id}:{event.id}", kind=kind, territory_id=case.territory_id,
        case_id=case.id, created_at=clock.now(),
        payload={"case": case.reference, "case_id": case.id, "orientation_id": row.id,
                 "organisation_id": organisation_id, "state": STATES[row.state], **payload}))
