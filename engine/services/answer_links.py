"""Signed answer links: an organisation without an account answers one orientation (accept,
waiting list, refuse with reasons) through a single-use link that expires.

A link is bound to one orientation and to the case's open answer step (the step whose form
carries ``x-aiguillage-orientation-answer``). Its token (``secrets.token_urlsafe(32)``) is
shown once to the coordinator who sends it and mailed to the service; the database keeps
only its SHA-256 (``answer_link.token_hash``), and the outbox keeps the address only until the
message is delivered. Sending a new link revokes the earlier unused ones; a link dies with
its orientation, its step or its case. Whoever holds it reads of the case only what the
household's consent, in force now, grants the orientation's part (``access.part_view``), and
every open is audited as a read (``via`` « lien »). Attempts are counted per client address
and per link in ``sign_in_throttle`` (keys ``lien-adresse:…`` and ``lien:…``), as sign-ins are.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import literal, null, select, update
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.calendar import PARIS
from engine.core.consent import CATEGORIES
from engine.core.directory import EMAIL, MAX_EMAIL, MEASURES
from engine.core.forms import FormSpec
from engine.core.orientation import OPEN_STATES, SENT, STATES, VIA_LINK
from engine.errors import (
    Conflict,
    InvalidInput,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
)
from engine.mail import Mail, public_url
from engine.persistence.db import UtcDateTime, table, transaction, upsert
from engine.persistence.models import (
    AnswerLink,
    Case,
    DirectoryService,
    HumanTask,
    Organisation,
    Orientation,
    OutboxMessage,
    SignInThrottle,
    Territory,
    User,
)
from engine.persistence.models.case import CaseStatus
from engine.persistence.models.human_task import TaskStatus
from engine.persistence.models.outbox import OutboxStatus
from engine.services import audit, orientations, runtime, tasks
from engine.services.access import Actor, data_categories, part_view, require_case_coordinator
from engine.services.cases import facts

LIFETIME = timedelta(days=7)  # a link answers within a week, then a new one is sent
KIND = "lien_reponse"  # outbox kind of the message that carries a link
PATH = "/reponse/"  # where the web app serves a link
MAX_ROW_ID = 2**31 - 1  # the tables' integer keys
TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")  # what token_urlsafe gives, with room
_THROTTLE = table(SignInThrottle)


@dataclass(frozen=True)
class LinkLimits:
    """Attempts (opens and answers) allowed within ``window`` per link and per client
    address, then refused for ``lockout``."""

    per_link: int = 20
    per_address: int = 60
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class SentLink:
    """A link just made: its token is here, once, and nowhere else."""

    orientation_id: int
    case_id: int
    token: str
    path: str  # PATH + token
    email: str  # where it was mailed ("" when nowhere: the coordinator passes it on)
    expires_at: datetime


@dataclass(frozen=True)
class LinkItem:
    """A link as the coordinator's page lists it (never its token)."""

    id: int
    email: str
    created_at: datetime
    created_by: str
    expires_at: datetime
    state: str  # live, used, revoked, expired
    used_at: datetime | None


@dataclass(frozen=True)
class LinksPage:
    """An orientation's links, for its territory's coordination."""

    orientation_id: int
    case_id: int
    case_reference: str
    service_name: str
    organisation_name: str
    state_label: str
    default_email: str  # the directory's e-mail of the service
    may_send: bool  # open, with its answer step open
    links: tuple[LinkItem, ...]


@dataclass(frozen=True)
class AnswerPage:
    """What the holder of a live link reads, and the form they answer with."""

    territory_name: str
    organisation_name: str
    service_name: str
    measure: str  # label
    case_reference: str
    household_name: str | None  # None unless the consent covers identity
    comment: str  # the platform's argument
    step_name: str
    instructions: str
    facts: tuple[tuple[str, str], ...]
    shared: tuple[str, ...]  # labels of the data categories the consent covers
    form: FormSpec | None
    values: dict[str, Any]
    expires_at: datetime
    contact: str = ""  # who sent the link, to ask a question


# --------------------------------------------------------------------------- coordination


def send(session: Session, clock: Clock, actor: Actor, orientation_id: int,
         email: str | None) -> SentLink:
    """Coordination: make a link for an orientation awaiting its answer, mail it to
    ``email`` (by default the service's e-mail in the directory), revoke the earlier
    unused ones; audited without the token.

    :raises NotFound: unknown orientation, or out of the actor's reach (audited).
    :raises PermissionDenied: the actor does not coordinate its territory (audited).
    :raises Conflict: the orientation no longer awaits an answer, or no answer step is open.
    :raises InvalidInput: the e-mail address is not one.
    """
    with _refusals_audited(session, clock, actor, orientation_id, "send"), \
            transaction(session):
        orientation = _coordinated(session, clock, actor, orientation_id)
        if orientation.state not in OPEN_STATES:
            raise Conflict(code="svc.link_orientation_closed")
        case = session.get(Case, orientation.case_id)
        assert case is not None
        step = _answer_step(session, case) if case.status == CaseStatus.OPEN else None
        if step is None:
            raise Conflict(code="svc.link_no_answer_step")
        service = session.get(DirectoryService, orientation.service_id)
        address = _address(email, service.email if service else "")
        now = clock.now()
        revoked = _revoke_unused(session, now, orientation.id)
        token = secrets.token_urlsafe(32)
        link = AnswerLink(orientation_id=orientation.id, task_id=step.id,
                          token_hash=_digest(token), email=address, created_at=now,
                          created_by_id=actor.user_id, expires_at=now + LIFETIME)
        session.add(link)
        session.flush()
        if address:
            _write_mail(session, now, link, case, service, token)
        audit.record(session, clock, actor, "answer_link.sent",
                     territory_id=orientation.territory_id, case_id=case.id,
                     orientation=orientation.id, link=link.id, email=address,
                     expires_at=link.expires_at.isoformat(), revoked=revoked)
        return SentLink(orientation.id, case.id, token, PATH + token, address,
                        link.expires_at)


def revoke(session: Session, clock: Clock, actor: Actor, orientation_id: int) -> int:
    """Coordination: the orientation's unused links stop working; how many were live.

    :raises NotFound: unknown orientation, or out of the actor's reach (audited).
    :raises PermissionDenied: the actor does not coordinate its territory (audited).
    :raises Conflict: no live link.
    """
    with _refusals_audited(session, clock, actor, orientation_id, "revoke"), \
            transaction(session):
        orientation = _coordinated(session, clock, actor, orientation_id)
        live = _revoke_unused(session, clock.now(), orientation.id)
        if not live:
            raise Conflict(code="svc.link_none_live")
        audit.record(session, clock, actor, "answer_link.revoked",
                     territory_id=orientation.territory_id, case_id=orientation.case_id,
                     orientation=orientation.id, revoked=live)
        return live


def links_of(session: Session, clock: Clock, actor: Actor, orientation_id: int) -> LinksPage:
    """Coordination: an orientation's links, newest first, and whether one may be sent.

    :raises NotFound: unknown orientation, or out of the actor's reach.
    :raises PermissionDenied: the actor does not coordinate its territory.
    """
    with transaction(session):
        orientation = _coordinated(session, clock, actor, orientation_id, lock=False)
        case = session.get(Case, orientation.case_id)
        service = session.get(DirectoryService, orientation.service_id)
        organisation = session.get(Organisation, orientation.organisation_id)
        assert case is not None and service is not None and organisation is not None
        now = clock.now()
        rows = session.execute(select(AnswerLink, User.display_name).outerjoin(
            User, User.id == AnswerLink.created_by_id).where(
            AnswerLink.orientation_id == orientation.id).order_by(
            AnswerLink.created_at.desc(), AnswerLink.id.desc()).limit(50)).all()
        may_send = (orientation.state in OPEN_STATES and case.status == CaseStatus.OPEN
                    and _answer_step(session, case) is not None)
        return LinksPage(
            orientation.id, case.id, case.reference, service.name, organisation.name,
            STATES.get(orientation.state, orientation.state), service.email, may_send,
            tuple(LinkItem(r.id, r.email, r.created_at, name or "—", r.expires_at,
                           _state(r, now), r.used_at) for r, name in rows))


def _coordinated(session: Session, clock: Clock, actor: Actor, orientation_id: int,
                 lock: bool = True) -> Orientation:
    """The orientation, for its territory's coordination (locked: two sends take turns)."""
    if not 0 < orientation_id <= MAX_ROW_ID:  # PostgreSQL refuses to compare past it
        raise NotFound(code="svc.link_orientation_unknown")
    query = select(Orientation).where(Orientation.id == orientation_id)
    orientation = session.scalar(query.with_for_update() if lock else query)
    if orientation is None or not actor.is_member(orientation.territory_id):
        raise NotFound(code="svc.link_orientation_unknown")
    require_case_coordinator(session, actor, orientation.case_id, orientation.territory_id,
                             clock.now())
    return orientation


@contextmanager
def _refusals_audited(session: Session, clock: Clock, actor: Actor, orientation_id: int,
                      attempt: str) -> Iterator[None]:
    """Audit a refused attempt on an existing orientation (after the rollback)."""
    try:
        yield
    except (NotFound, PermissionDenied) as exc:
        found = session.execute(select(Orientation.territory_id, Orientation.case_id).where(
            Orientation.id == orientation_id)).one_or_none() \
            if 0 < orientation_id <= MAX_ROW_ID else None
        if found is not None:
            with transaction(session):
                audit.record(session, clock, actor, "answer_link.refused",
                             territory_id=found.territory_id, case_id=found.case_id,
                             orientation=orientation_id, attempt=attempt, reason=exc.code)
        raise


def _answer_step(session: Session, case: Case) -> HumanTask | None:
    """The case's open step whose form answers an orientation (None if there is none)."""
    steps = list(session.scalars(select(HumanTask).where(
        HumanTask.case_id == case.id, HumanTask.status == TaskStatus.OPEN,
        HumanTask.form.is_not(None)).order_by(HumanTask.id)))
    if not steps:
        return None
    forms = runtime.compiled(session, case.circuit_version_id).forms
    return next((s for s in steps if _answers(forms.get(s.form or ""))), None)


def _answers(form: FormSpec | None) -> bool:
    """Does the form answer an orientation (``x-aiguillage-orientation-answer``)?"""
    return form is not None and form.answer_field() is not None


def _address(email: str | None, default: str) -> str:
    """The address a link is mailed to: the one typed, else the directory's (may be empty).

    :raises InvalidInput:
    """
    address = (email or "").strip() or default.strip()
    if address and (len(address) > MAX_EMAIL or not EMAIL.fullmatch(address)):
        raise InvalidInput(code="svc.link_email_invalid")
    return address


def _revoke_unused(session: Session, now: datetime, orientation_id: int) -> int:
    """Revoke the orientation's unused links (their undelivered message is dropped); how many
    of them were still live."""
    links = list(session.scalars(select(AnswerLink).where(
        AnswerLink.orientation_id == orientation_id, AnswerLink.used_at.is_(None),
        AnswerLink.revoked_at.is_(None))))
    for link in links:
        link.revoked_at = now
    if links:
        session.execute(update(OutboxMessage).where(
            OutboxMessage.dedupe_key.in_([_mail_key(link.id) for link in links]),
            OutboxMessage.status == OutboxStatus.PENDING).values(
            status=OutboxStatus.FAILED, last_error="Lien révoqué avant l'envoi",
            payload={}).execution_options(synchronize_session=False))
    return sum(1 for link in links if link.expires_at > now)


def _state(link: AnswerLink, now: datetime) -> str:
    if link.used_at is not None:
        return "used"
    if link.revoked_at is not None:
        return "revoked"
    return "live" if link.expires_at > now else "expired"


# --------------------------------------------------------------------------- the mail


def _mail_key(link_id: int) -> str:
    return f"lien-reponse:{link_id}"


def _write_mail(session: Session, now: datetime, link: AnswerLink, case: Case,
                service: DirectoryService | None, token: str) -> None:
    """The outbox message that carries the link (no personal data: the case reference, the
    service and the platform)."""
    territory = session.get(Territory, case.territory_id)
    session.add(OutboxMessage(
        dedupe_key=_mail_key(link.id), kind=KIND, territory_id=case.territory_id,
        case_id=case.id, created_at=now,
        payload={"link_id": link.id, "email": link.email, "url": public_url() + PATH + token,
                 "case": case.reference, "service": service.name if service else "",
                 "territory": territory.name if territory else "",
                 "expires_at": link.expires_at.isoformat()}))


def mail_of(message: OutboxMessage) -> Mail:
    """The e-mail of a link's outbox message (nobody to send to once its address is gone)."""
    payload = message.payload
    url = payload.get("url")
    expires = datetime.fromisoformat(str(payload.get("expires_at"))).astimezone(PARIS) \
        if payload.get("expires_at") else None
    body = (f"Bonjour,\n\nLa plateforme {payload.get('territory')} vous adresse une orientation "
            f"vers « {payload.get('service')} » (dossier {payload.get('case')}).\n\n"
            "Pour en prendre connaissance et y répondre sans compte (accepter, inscrire en "
            f"liste d'attente ou refuser), ouvrez ce lien :\n{url}\n\n"
            "Ce lien ne sert qu'une fois"
            + (f" et expire le {expires:%d/%m/%Y à %H:%M}" if expires else "") + ". "
            "Ne le transférez pas : il ouvre les informations que la personne a accepté de "
            "partager avec votre structure. Un problème, une question : répondez à la "
            "plateforme.")
    subject = f"Aiguillage : orientation à examiner — dossier {payload.get('case')}"
    to = (str(payload["email"]),) if url and payload.get("email") else ()
    return Mail(to, subject, body + "\n\n— Aiguillage", message.dedupe_key)


def without_address(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A delivered link message's payload, without the link itself (only its hash stays)."""
    return {k: v for k, v in payload.items() if k != "url"}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


# --------------------------------------------------------------------------- the holder


def count_attempt(session: Session, clock: Clock, token: str, address: str | None,
                  limits: LinkLimits = LinkLimits()) -> None:
    """Count one open or answer of a link, per link and per client address (in its own
    unit of work: a refused answer still counts).

    :raises TooManyAttempts: too many recent attempts with this link or from this address.
    """
    keys = [(f"lien:{_digest(token)[:40]}", limits.per_link)]
    if address:
        keys.append((f"lien-adresse:{address}"[:300], limits.per_address))
    now = clock.now()
    minutes = max(1, round(limits.lockout.total_seconds() / 60))
    with transaction(session):
        if session.scalar(select(_THROTTLE.c.key).where(
                _THROTTLE.c.key.in_([k for k, _ in keys]),
                _THROTTLE.c.locked_until > now).limit(1)) is not None:
            raise TooManyAttempts(code="svc.link_throttled", minutes=minutes)
        for key, limit in keys:
            _count(session, now, key, limit, limits)


def _count(session: Session, now: datetime, key: str, limit: int, limits: LinkLimits) -> None:
    """One more attempt for ``key`` (a new window once the last one is over); locked at the
    limit (the sign-in throttle's upsert: two workers counting at once lose nothing)."""
    stale = _THROTTLE.c.window_started_at <= _instant(now - limits.window)
    attempts = sql_case((stale, 1), else_=_THROTTLE.c.failures + 1)
    statement = upsert(session, _THROTTLE).values(key=key, failures=1, window_started_at=now,
                                                  locked_until=None)
    session.connection().execute(statement.on_conflict_do_update(
        index_elements=[_THROTTLE.c.key],
        set_={"failures": attempts,
              "window_started_at": sql_case((stale, _instant(now)),
                                            else_=_THROTTLE.c.window_started_at),
              "locked_until": sql_case((attempts >= limit, _instant(now + limits.lockout)),
                                       (stale, null()), else_=_THROTTLE.c.locked_until)}))


def _instant(value: datetime) -> Any:
    return literal(value, UtcDateTime())


def page(session: Session, clock: Clock, token: str) -> AnswerPage:
    """Open a live link: the orientation, what the consent lets its part read of the case,
    and the answer form. The first open moves « envoyée » to « en cours d'examen »; every
    open is audited as a read of the case.

    :raises NotFound: unknown, malformed or revoked link.
    :raises InvalidTransition: used, expired, or the orientation no longer awaits an answer
        (``params``: the platform and who sent the link, to ask for another).
    """
    with transaction(session):
        link, orientation, case, step = _live(session, clock, token)
        now = clock.now()
        if orientation.state == SENT:
            orientations.mark_reviewing(session, clock, orientation.id, VIA_LINK)
        view = part_view(session, case.id, orientation.part, now)
        instance = runtime.load(session, case, clock)
        shown = view.shown(instance.data(), data_categories(instance.circuit))
        form = orientations.with_services(session, clock, case.territory_id,
                                          instance.form_for(step.spiff_task_id), shown)
        names = _names(session, orientation, case)
        audit.record(session, clock, _holder(names["organisation"]), "case.read",
                     territory_id=case.territory_id, case_id=case.id, via=VIA_LINK,
                     link=link.id, orientation=orientation.id, minimal=view.minimal)
        return AnswerPage(
            territory_name=names["territory"], organisation_name=names["organisation"],
            service_name=names["service"],
            measure=MEASURES.get(orientation.measure, orientation.measure),
            case_reference=case.reference,
            household_name=case.household_name if view.shows_name else None,
            comment=orientation.comment, step_name=step.name,
            instructions=instance.task(step.spiff_task_id, data=shown).documentation,
            facts=tuple(facts(instance.circuit, shown)),
            shared=tuple(label for key, label in CATEGORIES.items() if view.sees(key)),
            form=form,
            values={k: shown[k] for k in (form.field_names() if form else ()) if k in shown},
            expires_at=link.expires_at, contact=_contact(session, link, case)["contact"])


def form_of(session: Session, clock: Clock, token: str) -> FormSpec | None:
    """The answer form of a live link, to read a submission with (nothing is written).

    :raises NotFound: unknown, malformed or revoked link.
    :raises InvalidTransition: used, expired, or no longer awaited.
    """
    _, orientation, case, step = _live(session, clock, token)
    version = runtime.compiled(session, case.circuit_version_id)
    form = version.forms.get(step.form) if step.form else None
    return orientations.as_submitted(session, orientation.territory_id, form)


def answer(session: Session, clock: Clock, token: str, data: Mapping[str, Any]) -> None:
    """Answer through a live link: in one unit of work, the link is used and the step is
    completed with ``data`` in the name of « Lien de réponse · <organisation> » (via
    « lien »). A refused answer leaves the link usable.

    :raises NotFound: unknown, malformed or revoked link.
    :raises InvalidTransition: used (a double submit), expired, or no longer awaited.
    :raises FormInvalid: the data fails the form; nothing is written.
    """
    with transaction(session):
        link, orientation, case, step = _live(session, clock, token, lock=True)
        link.used_at = clock.now()
        session.flush()
        holder = _holder(_names(session, orientation, case)["organisation"])
        try:
            tasks.complete(session, clock, holder, step.id, data, via=VIA_LINK)
        except InvalidTransition as exc:  # completed meanwhile, with an account
            raise InvalidTransition(code="svc.link_closed",
                                    **_contact(session, link, case)) from exc
        audit.record(session, clock, holder, "answer_link.used",
                     territory_id=case.territory_id, case_id=case.id,
                     orientation=orientation.id, link=link.id)


def _live(session: Session, clock: Clock, token: str, lock: bool = False,
          ) -> tuple[AnswerLink, Orientation, Case, HumanTask]:
    """The link a token names, its orientation, case and step, all fresh from the database.

    :raises NotFound: unknown, malformed or revoked.
    :raises InvalidTransition: used, no longer awaited, expired (in that order).
    """
    if not TOKEN.fullmatch(token):
        raise NotFound(code="svc.link_unknown")
    query = select(AnswerLink).where(AnswerLink.token_hash == _digest(token)) \
        .execution_options(populate_existing=True)
    link = session.scalar(query.with_for_update() if lock else query)
    if link is None or link.revoked_at is not None:
        raise NotFound(code="svc.link_unknown")
    orientation = session.get(Orientation, link.orientation_id, populate_existing=True)
    assert orientation is not None
    case = session.get(Case, orientation.case_id, populate_existing=True)
    step = session.get(HumanTask, link.task_id, populate_existing=True)
    assert case is not None and step is not None
    if link.used_at is not None:
        raise InvalidTransition(code="svc.link_used", **_contact(session, link, case))
    if orientation.state not in OPEN_STATES or case.status != CaseStatus.OPEN \
            or step.status != TaskStatus.OPEN:
        raise InvalidTransition(code="svc.link_closed", **_contact(session, link, case))
    if link.expires_at <= clock.now():
        raise InvalidTransition(code="svc.link_expired", **_contact(session, link, case))
    return link, orientation, case, step


def _contact(session: Session, link: AnswerLink, case: Case) -> dict[str, str]:
    """Whom a holder asks for a new link: the platform, and who sent this one."""
    territory = session.scalar(select(Territory.name).where(Territory.id == case.territory_id))
    sender = session.execute(select(User.display_name, User.email).where(
        User.id == link.created_by_id)).one_or_none()
    return {"platform": territory or "",
            "contact": f"{sender.display_name} ({sender.email})" if sender else ""}


def _names(session: Session, orientation: Orientation, case: Case) -> dict[str, str]:
    territory = session.scalar(select(Territory.name).where(Territory.id == case.territory_id))
    organisation = session.scalar(select(Organisation.name).where(
        Organisation.id == orientation.organisation_id))
    service = session.scalar(select(DirectoryService.name).where(
        DirectoryService.id == orientation.service_id))
    return {"territory": territory or "", "organisation": organisation or "",
            "service": service or ""}


def _holder(organisation: str) -> Actor:
    """Who answers through a link: no account, the organisation's name."""
    return Actor(user_id=None, name=f"Lien de réponse · {organisation}")
