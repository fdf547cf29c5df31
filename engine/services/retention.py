"""Retention of closed cases: anonymise a household's data once its circuit's rule says so.

A territory's files say how long each circuit's closed cases are kept after their closing
(``engine.core.retention``; ``territory.retention`` as last loaded). The scheduler asks
``due`` for a bounded batch of cases past their rule and ``anonymise``s each in its own
transaction: the answers of the workflow (identity and free texts, every step's data), the
household's name on the case and, once no other case still names it, on the household's
record; the free texts of orientations, of their history, of the parties and referents and
of the consents; the addresses answer links were sent to. The case is marked
(``case.anonymised_at``) and the act journalled (« Dossier anonymisé »), in that same
transaction: a process killed in the middle leaves the case untouched. It is irreversible
and done once: a case already marked, or no longer due, is left as it is.

Kept as they are (``HANDLED``): what holds no data of the household — steps, timers, the
commission's decisions, the facts the statistics count, the likely duplicates (ids and
likeness only), the journal (append-only, and written without the household's data: ids,
codes, field names, never values). So the statistics count the same after anonymising.

A legal hold keeps a case past its rule: a hold a coordinator set (``case.retention_hold``,
``hold``), or an eviction procedure still running (the case recorded a stage of the
procedure and did not end at one of the end events its rule says settle the procedure),
for at most the rule's ``procedure_hold`` after the procedure's last recorded act (its
latest stage, or the case's closing): a case closed with its procedure unsettled is not
kept forever.
Commission files (the documents sent before a session) are readable only until the session
ends already (``commission_sessions``); retention does not change that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, not_, or_, select, update
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.retention import ANONYMOUS_NAME, Rule, Rules, rules_from_json, scrubbers
from engine.core.spiff.correction import rewrite
from engine.core.statistics import EVICTION_STAGE
from engine.errors import InvalidInput, NotFound
from engine.persistence.db import transaction
from engine.persistence.models import (
    AnswerLink,
    ApiIdempotency,
    Case,
    CaseConsent,
    CaseFact,
    CaseParty,
    CaseReferent,
    Circuit,
    Household,
    Orientation,
    OrientationEvent,
    OutboxMessage,
    Territory,
)
from engine.persistence.models.case import CaseState, CaseStatus
from engine.persistence.models.outbox import OutboxStatus
from engine.services import audit, runtime
from engine.services.access import SYSTEM, Actor
from engine.services.cases import fields_of

BATCH = 20  # cases anonymised per scheduler tick (each in its own transaction)
ENDED = (CaseStatus.COMPLETED, CaseStatus.CLOSED, CaseStatus.CANCELLED)
MAX_HOLD_REASON = 500
PROCEDURE_RUNNING = "Procédure d'expulsion en cours"
_OUTBOX_PRIVATE = ("email", "url")  # an answer link's address and token

# every table ``subject_access.SOURCES`` names, and what anonymising does to its rows
SCRUBBED, KEPT = "anonymisé", "gardé"
HANDLED: dict[str, tuple[str, str]] = {
    "household": (SCRUBBED, "nom, clés de recherche, année de naissance et commune, quand "
                            "plus aucun dossier non anonymisé ne nomme le ménage"),
    "household_match": (KEPT, "numéros des fiches et ressemblance : aucune donnée du ménage"),
    "case": (SCRUBBED, "nom du ménage (« Ménage anonymisé ») et motif de clôture"),
    "case_state": (SCRUBBED, "réponses d'identité vidées, textes libres vidés, dans les "
                             "données de chaque étape"),
    "human_task": (KEPT, "étapes, dates et personnes : aucune donnée du ménage"),
    "timer": (KEPT, "minuteurs : aucune donnée du ménage"),
    "case_consent": (SCRUBBED, "témoin et motif du retrait"),
    "case_party": (SCRUBBED, "motifs"),
    "case_referent": (SCRUBBED, "motifs"),
    "orientation": (SCRUBBED, "argument, message à l'orienteur, réponse à la personne, "
                              "précision du refus"),
    "orientation_event": (SCRUBBED, "commentaires"),
    "answer_link": (SCRUBBED, "adresse où le lien a été envoyé"),
    "outbox": (SCRUBBED, "adresse et lien des courriels de réponse"),
    "audit_event": (KEPT, "journal inaltérable, écrit sans donnée du ménage (numéros, codes, "
                          "noms de champs, jamais leurs valeurs)"),
    "session_case": (KEPT, "séance et décision (un code) : aucune donnée du ménage"),
    "case_fact": (KEPT, "réponses comptées (des codes) : les statistiques restent justes"),
    "api_idempotency": (SCRUBBED, "identifiants de demande choisis par le logiciel d'un "
                                  "partenaire : supprimés"),
}


@dataclass(frozen=True)
class Planned:
    """A case past its rule: anonymised at the next sweep, or kept by a hold (``held``)."""

    case_id: int
    reference: str
    circuit: str
    closed_at: datetime
    due_at: datetime
    held: str | None
    held_until: datetime | None = None  # a procedure's hold: kept at most until then


# --------------------------------------------------------------------------- which cases


def _rules(session: Session) -> list[tuple[int, str, Rule]]:
    """(circuit id, circuit title, rule) of every circuit a rule applies to."""
    found: list[tuple[int, str, Rule]] = []
    for cid, key, title, stored in session.execute(
            select(Circuit.id, Circuit.key, Circuit.title, Territory.retention)
            .join(Territory, Territory.id == Circuit.territory_id).order_by(Circuit.id)):
        rule = rules_from_json(stored).of(key)
        if rule is not None:
            found.append((cid, title, rule))
    return found


def _procedure_running(rule: Rule, now: datetime) -> Any:
    """SQL: the case recorded a stage of an eviction procedure, did not end at one of the
    end events that settle it, and the procedure's last recorded act (its latest stage, or
    the case's closing) is less than the rule's ``procedure_hold`` old."""
    since = rule.procedure_hold.before(now)
    staged = exists().where(CaseFact.case_id == Case.id, CaseFact.kind == EVICTION_STAGE)
    recent = or_(Case.closed_at > since, exists().where(
        CaseFact.case_id == Case.id, CaseFact.kind == EVICTION_STAGE,
        CaseFact.recorded_at > since))
    if not rule.ends_of_procedure:
        return and_(staged, recent)
    return and_(staged, recent, not_(and_(Case.status == CaseStatus.COMPLETED,
                                          Case.end_state.in_(rule.ends_of_procedure))))


def _last_act() -> Any:
    """SQL: when the case's latest eviction stage was recorded (None without any)."""
    return (select(func.max(CaseFact.recorded_at))
            .where(CaseFact.case_id == Case.id, CaseFact.kind == EVICTION_STAGE)
            .scalar_subquery())


def _past(cid: int, rule: Rule, now: datetime) -> Any:
    """SQL: the circuit's cases, ended, not anonymised, closed before the rule's cutoff."""
    return and_(Case.anonymised_at.is_(None), Case.circuit_id == cid,
                Case.closed_at <= rule.closed_cases.before(now), Case.status.in_(ENDED))


def due(session: Session, clock: Clock, batch: int = BATCH) -> list[int]:
    """Up to ``batch`` cases past their rule and under no hold, oldest closing first."""
    now, ids = clock.now(), list[int]()
    with transaction(session):
        for cid, _, rule in _rules(session):
            ids += session.scalars(
                select(Case.id).where(_past(cid, rule, now), Case.retention_hold.is_(None),
                                      not_(_procedure_running(rule, now)))
                .order_by(Case.closed_at, Case.id).limit(batch - len(ids)))
            if len(ids) >= batch:
                break
    return ids


def plan(session: Session, clock: Clock, limit: int = 1000) -> list[Planned]:
    """The cases past their rule (at most ``limit``): to anonymise, or held and why."""
    now, found = clock.now(), list[Planned]()
    with transaction(session):
        for cid, title, rule in _rules(session):
            rows = session.execute(
                select(Case.id, Case.reference, Case.closed_at, Case.retention_hold,
                       _procedure_running(rule, now).label("running"), _last_act())
                .where(_past(cid, rule, now)).order_by(Case.closed_at, Case.id)
                .limit(limit - len(found)))
            for case_id, reference, closed_at, hold, running, last_act in rows:
                held = hold or (PROCEDURE_RUNNING if running else None)
                until = (rule.procedure_hold.after(max(closed_at, last_act or closed_at))
                         if running and not hold else None)
                found.append(Planned(case_id, reference, title, closed_at,
                                     rule.closed_cases.after(closed_at), held, until))
            if len(found) >= limit:
                break
    return found


def _rule_of(session: Session, case: Case) -> Rule | None:
    row = session.execute(select(Circuit.key, Territory.retention)
                          .join(Territory, Territory.id == Circuit.territory_id)
                          .where(Circuit.id == case.circuit_id)).one_or_none()
    return rules_from_json(row.retention).of(row.key) if row is not None else None


def _still_due(session: Session, case: Case, now: datetime) -> Rule | None:
    """The case's rule if the case is still due under it (read under the case's lock)."""
    rule = _rule_of(session, case)
    if rule is None or case.anonymised_at is not None or case.retention_hold is not None:
        return None
    ok = session.scalar(select(func.count()).select_from(Case).where(
        Case.id == case.id, _past(case.circuit_id, rule, now),
        not_(_procedure_running(rule, now))))
    return rule if ok else None


# --------------------------------------------------------------------------- anonymising


def anonymise(session: Session, clock: Clock, case_id: int) -> bool:
    """Anonymise one case in one transaction, if it is (still) due: True when done, False
    when there was nothing to do (already anonymised, held, no longer due, unknown)."""
    with transaction(session):
        case = runtime.lock(session, case_id)
        now = clock.now()
        if case is None:
            return False
        rule = _still_due(session, case, now)
        if rule is None:
            return False
        instance = runtime.load(session, case, clock)
        changed = rewrite(instance.workflow, scrubbers(fields_of(instance.circuit).values()))
        session.execute(update(CaseState).where(CaseState.case_id == case.id)
                        .values(state=instance.dump()))
        case.household_name, case.anonymised_at = ANONYMOUS_NAME, now
        if case.close_reason:
            case.close_reason = ""
        _rows(session, case.id)
        household = _household(session, case)
        audit.record(session, clock, SYSTEM, "case.anonymised", territory_id=case.territory_id,
                     case_id=case.id, rule=rule.closed_cases.text(), answers=len(changed),
                     household=household)
        return True


def _rows(session: Session, case_id: int) -> None:
    """The free texts of the case's other rows."""
    orientations = select(Orientation.id).where(Orientation.case_id == case_id)
    session.execute(update(Orientation).where(Orientation.case_id == case_id).values(
        comment="", message_referrer="", answer_household="", reason_detail="")
        .execution_options(synchronize_session=False))
    session.execute(update(OrientationEvent).where(
        OrientationEvent.orientation_id.in_(orientations)).values(comment="")
        .execution_options(synchronize_session=False))
    session.execute(update(AnswerLink).where(AnswerLink.orientation_id.in_(orientations))
                    .values(email="").execution_options(synchronize_session=False))
    session.execute(update(CaseConsent).where(CaseConsent.case_id == case_id).values(
        witness=None, withdraw_reason=None).execution_options(synchronize_session=False))
    session.execute(delete(ApiIdempotency).where(ApiIdempotency.case_id == case_id)
                    .execution_options(synchronize_session=False))
    for model in (CaseParty, CaseReferent):
        session.execute(update(model).where(model.case_id == case_id).values(
            reason="", end_reason=None).execution_options(synchronize_session=False))
    for message in session.scalars(select(OutboxMessage).where(
            OutboxMessage.case_id == case_id)):
        if any(key in message.payload for key in _OUTBOX_PRIVATE):
            message.payload = {k: v for k, v in message.payload.items()
                               if k not in _OUTBOX_PRIVATE}
            if message.status == OutboxStatus.PENDING:  # nobody to send it to any more
                message.status, message.last_error = OutboxStatus.FAILED, "Dossier anonymisé"


def _household(session: Session, case: Case) -> int | None:
    """Anonymise the household's record (and the records merged into it) once no other case
    still names it; return its id when done."""
    if case.household_id is None:
        return None
    others = session.scalar(select(func.count()).select_from(Case).where(
        Case.household_id == case.household_id, Case.id != case.id,
        Case.anonymised_at.is_(None)))
    if others:
        return None
    session.execute(update(Household).where(or_(
        Household.id == case.household_id, Household.merged_into_id == case.household_id))
        .values(name=ANONYMOUS_NAME, name_key="", birth_year=None, commune="", commune_key="")
        .execution_options(synchronize_session=False))
    return case.household_id


# --------------------------------------------------------------------------- legal hold


def hold(session: Session, clock: Clock, actor: Actor, reference: str,
         reason: str | None) -> str:
    """Put a legal hold on a case (``reason``), or lift it (None); operations tools only
    (the command line). Returns the case's reference.

    :raises NotFound: no such case. :raises InvalidInput: an empty or too long reason.
    """
    text = " ".join(reason.split()) if reason is not None else None
    if text is not None and not text:
        raise InvalidInput(code="svc.reason_required")
    if text is not None and len(text) > MAX_HOLD_REASON:
        raise InvalidInput(code="svc.reason_too_long", maximum=MAX_HOLD_REASON)
    with transaction(session):
        case = session.scalar(select(Case).where(Case.reference == reference))
        if case is None:
            raise NotFound(code="svc.case_not_found")
        case.retention_hold = text
        audit.record(session, clock, actor, "case.hold_set" if text else "case.hold_lifted",
                     territory_id=case.territory_id, case_id=case.id)
        return case.reference


def rules_of(session: Session, territory_id: int) -> Rules:
    """A territory's rules as last loaded."""
    territory = session.get(Territory, territory_id)
    return rules_from_json(territory.retention if territory else None)


def handled() -> Sequence[str]:
    """The tables anonymising handles (``HANDLED``)."""
    return tuple(HANDLED)
