"""What is held about one household, for a request of access (RGPD art. 15), and the
correction of its identity (art. 16).

``export`` gathers, for the territory's coordination, every place the household's data
lives: its record and its likely duplicates, and for each of its cases the answers, the
steps and who held them, deadlines and timers, consents, parties and referents,
orientations with their history and answer links, notices sent, and the journal of who
read or changed the file. ``SOURCES`` names each table in words; a test fails when a table
holding a case's or a household's rows is missing from it. ``correct_identity`` replaces
the identity answers of one case where the workflow holds them and the household's record,
and journals the correction with its reason (the fields, never the values).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core import household as household_core
from engine.core.consent import BASES, CATEGORIES, IDENTITY, PURPOSES
from engine.core.forms import FieldSpec, FormSpec, form_from_schema, validate
from engine.core.orientation import STATES
from engine.core.spiff.correction import correct
from engine.core.spiff.runner import start_form
from engine.core.statistics import NAMES as STATISTIC_KINDS
from engine.errors import FormInvalid, InvalidInput, InvalidTransition, NotFound
from engine.persistence.db import transaction
from engine.persistence.models import (
    AnswerLink,
    ApiIdempotency,
    AuditEvent,
    Case,
    CaseConsent,
    CaseFact,
    CaseParty,
    CaseReferent,
    Circuit,
    CommissionSession,
    Household,
    HouseholdMatch,
    HumanTask,
    Organisation,
    Orientation,
    OrientationEvent,
    OutboxMessage,
    SessionCase,
    Territory,
    Timer,
    User,
)
from engine.persistence.models.case import CaseStatus
from engine.services import audit, runtime
from engine.services.access import Actor, require_case_coordinator, require_household_coordinator
from engine.services.cases import facts, fields_of

MAX_ROW_ID = 2**31 - 1
MAX_REASON = 500

# every table that holds rows of a household or of its cases, in words (the document's
# « Où vos données sont conservées »)
SOURCES: dict[str, str] = {
    "household": "Fiche du ménage : nom, année de naissance de la personne de référence, commune",
    "household_match": "Doublons probables repérés à l'ouverture d'un dossier",
    "case": "Dossiers : référence, circuit, état, dates d'ouverture et de clôture",
    "case_state": "Réponses données aux étapes du circuit (données du dossier)",
    "human_task": "Étapes : qui les a tenues, quand, avec quelle échéance",
    "timer": "Minuteurs : relances et échéances du circuit",
    "case_consent": "Accords de partage donnés ou retirés par la personne",
    "case_party": "Organisations qui tiennent une part du dossier",
    "case_referent": "Référent·es de parcours désigné·es",
    "orientation": "Orientations vers les services de l'annuaire et leurs réponses",
    "orientation_event": "Historique de chaque orientation",
    "answer_link": "Liens de réponse sans compte envoyés aux services",
    "outbox": "Avis envoyés aux professionnel·les (sans donnée personnelle)",
    "audit_event": "Journal : qui a lu, modifié ou exporté le dossier, et quand",
    "session_case": "Passages en commission : séance, inscription et décision",
    "case_fact": "Réponses comptées pour les statistiques (canal, besoins, stade de procédure)",
    "api_idempotency": "Demandes d'ouverture reçues du logiciel d'un partenaire (gardées 24 h "
                       "pour ne pas ouvrir deux dossiers)",
}

CASE_STATUSES = {CaseStatus.OPEN: "En cours", CaseStatus.COMPLETED: "Terminé",
                 CaseStatus.CANCELLED: "Annulé", CaseStatus.CLOSED: "Clos",
                 CaseStatus.ERROR: "En erreur"}
STEP_STATUSES = {"open": "À faire", "completed": "Faite", "cancelled": "Annulée"}
TIMER_STATUSES = {"waiting": "En attente", "claimed": "En cours de déclenchement",
                  "done": "Déclenché", "cancelled": "Annulé", "failed": "En échec"}
MATCH_STATUSES = {"open": "À vérifier", "merged": "Fusionné", "dismissed": "Écarté"}
VIA = {"compte": "compte", "lien": "lien de réponse", "minuteur": "minuteur",
       "systeme": "la plateforme"}


@dataclass(frozen=True)
class Table:
    """One source's rows: ``columns`` in words, values as text, numbers, dates or None."""

    source: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class CaseRecord:
    """One case of the household: its summary, its answers and its tables."""

    id: int
    reference: str
    circuit: str
    status: str
    opened_at: datetime
    closed_at: datetime | None
    end: str
    facts: tuple[tuple[str, str], ...]
    data: dict[str, Any]
    tables: tuple[Table, ...]


@dataclass(frozen=True)
class SubjectFile:
    """Everything held about one household, as of ``generated_at``."""

    household_id: int
    territory: str
    name: str
    birth_year: int | None
    commune: str
    created_at: datetime
    generated_at: datetime
    merged_records: tuple[int, ...]
    tables: tuple[Table, ...]
    cases: tuple[CaseRecord, ...]
    sources: tuple[tuple[str, str], ...] = field(default=tuple(SOURCES.items()))


@dataclass(frozen=True)
class IdentityForm:
    """The identity answers of a case a coordinator may correct, with their current values;
    ``spec`` is the form to show: those fields, then the reason (``REASON_FIELD``)."""

    case_id: int
    reference: str
    household_id: int | None
    spec: FormSpec
    values: dict[str, Any]


REASON_FIELD = "motif_correction"
_REASON = form_from_schema(
    {"type": "object", "required": [REASON_FIELD], "properties": {REASON_FIELD: {
        "type": "string", "title": "Motif de la correction", "minLength": 1,
        "maxLength": MAX_REASON, "description": "Par exemple : « Nom mal orthographié à la "
        "saisine, corrigé à la demande de la personne ». Il est gardé au journal."}}},
    {REASON_FIELD: {"ui:widget": "textarea"}})


# --------------------------------------------------------------------------- export


def export(session: Session, clock: Clock, actor: Actor, household_id: int,
           fmt: str = "document") -> SubjectFile:
    """Everything held about a household (a merged record gives the record it went into),
    for its territory's coordination; the export is journalled on each of its cases.

    :raises NotFound: unknown record, or out of the actor's reach.
    :raises PermissionDenied: a reader of the household who does not coordinate.
    """
    with transaction(session):
        record = session.get(Household, household_id) if 0 < household_id <= MAX_ROW_ID else None
        if record is not None and record.merged_into_id is not None:
            record = session.get(Household, record.merged_into_id)
        if record is None:
            raise NotFound(code="svc.household_not_found")
        now = clock.now()
        require_household_coordinator(session, actor, record.id, record.territory_id, now)
        territory = session.get(Territory, record.territory_id)
        assert territory is not None
        merged = tuple(session.scalars(select(Household.id).where(
            Household.merged_into_id == record.id).order_by(Household.id)))
        ids = (record.id, *merged)
        cases = list(session.scalars(select(Case).where(Case.household_id.in_(ids))
                                     .order_by(Case.created_at, Case.id)))
        people = _people(session, [c.id for c in cases], ids)
        parts = {p["key"]: p["label"] for p in territory.parts or []}
        records = tuple(_case_record(session, clock, case, people, parts) for case in cases)
        for case in cases:
            audit.record(session, clock, actor, "household.export", territory_id=case.territory_id,
                         case_id=case.id, household=record.id, format=fmt)
        return SubjectFile(record.id, territory.name, record.name, record.birth_year,
                           record.commune, record.created_at, now, merged,
                           (_matches(session, ids),), records)


def _people(session: Session, case_ids: list[int], household_ids: Iterable[int]) -> dict[int, str]:
    """Names of the people the file's rows point to (one query)."""
    if not case_ids:
        return {}
    wanted = select(User.id, User.display_name).where(or_(
        User.id.in_(select(AuditEvent.user_id).where(AuditEvent.case_id.in_(case_ids))),
        User.id.in_(select(HumanTask.completed_by_id).where(HumanTask.case_id.in_(case_ids))),
        User.id.in_(select(HumanTask.assignee_id).where(HumanTask.case_id.in_(case_ids))),
        User.id.in_(select(CaseReferent.user_id).where(CaseReferent.case_id.in_(case_ids))),
        User.id.in_(select(OrientationEvent.user_id).join(
            Orientation, Orientation.id == OrientationEvent.orientation_id)
            .where(Orientation.case_id.in_(case_ids))),
        User.id.in_(select(Household.merged_by_id).where(Household.id.in_(list(household_ids)))),
    ))
    return {uid: name for uid, name in session.execute(wanted)}


def _case_record(session: Session, clock: Clock, case: Case, people: Mapping[int, str],
                 parts: Mapping[str, str]) -> CaseRecord:
    circuit = session.get(Circuit, case.circuit_id)
    assert circuit is not None
    instance = runtime.load(session, case, clock)
    data = {k: v for k, v in instance.data().items() if not k.startswith("aiguillage_")}
    shown = tuple(facts(instance.circuit, data))
    orgs = _organisations(session, case)
    who = people.get
    tables = (
        _steps(session, case.id, who),
        _timers(session, case.id),
        _consents(session, case.id, parts),
        _parties(session, case.id, parts, orgs),
        _referents(session, case.id, who),
        *_orientations(session, case.id, orgs, who),
        _notices(session, case.id),
        _software_requests(session, case.id, who),
        _sessions(session, case.id, who, _choices(instance.circuit, "decision_commission")),
        _facts(session, case.id),
        _journal(session, case.id, who),
    )
    return CaseRecord(case.id, case.reference, circuit.title,
                      CASE_STATUSES.get(CaseStatus(case.status), case.status), case.created_at,
                      case.closed_at, case.end_label or case.close_reason or "", shown, data,
                      tables)


def _organisations(session: Session, case: Case) -> dict[int, str]:
    return {oid: name for oid, name in session.execute(
        select(Organisation.id, Organisation.name)
        .where(Organisation.territory_id == case.territory_id))}


def _matches(session: Session, ids: tuple[int, ...]) -> Table:
    rows = session.execute(select(HouseholdMatch).where(or_(
        HouseholdMatch.household_id.in_(ids), HouseholdMatch.other_id.in_(ids)))
        .order_by(HouseholdMatch.found_at)).scalars()
    return Table("household_match", "Doublons probables",
                 ("Repéré le", "Autre fiche", "Ressemblance", "Suite"),
                 tuple((m.found_at, f"n° {m.other_id if m.household_id in ids else m.household_id}",
                        f"{m.score} %", MATCH_STATUSES.get(m.status, m.status)) for m in rows))


def _steps(session: Session, case_id: int, who: Any) -> Table:
    rows = session.scalars(select(HumanTask).where(HumanTask.case_id == case_id)
                           .order_by(HumanTask.ready_at, HumanTask.id))
    return Table("human_task", "Étapes", ("Étape", "État", "Ouverte le", "Échéance",
                                          "Faite le", "Par"),
                 tuple((t.name, STEP_STATUSES.get(t.status, t.status), t.ready_at, t.due_at,
                        t.completed_at, who(t.completed_by_id) if t.completed_by_id else None)
                       for t in rows))


def _timers(session: Session, case_id: int) -> Table:
    rows = session.scalars(select(Timer).where(Timer.case_id == case_id).order_by(Timer.due_at))
    return Table("timer", "Minuteurs", ("Minuteur", "Prévu le", "État", "Déclenché le"),
                 tuple((t.name, t.due_at, TIMER_STATUSES.get(t.status, t.status), t.fired_at)
                       for t in rows))


def _consents(session: Session, case_id: int, parts: Mapping[str, str]) -> Table:
    rows = session.scalars(select(CaseConsent).where(CaseConsent.case_id == case_id)
                           .order_by(CaseConsent.given_at, CaseConsent.id))
    return Table("case_consent", "Accords de partage",
                 ("Part", "Finalité", "Informations", "Forme", "Donné le", "Jusqu'au",
                  "Retiré le", "Motif du retrait"),
                 tuple((parts.get(c.part, c.part), PURPOSES.get(c.purpose, c.purpose),
                        CATEGORIES.get(c.category, c.category), BASES.get(c.basis, c.basis),
                        c.given_at, c.valid_until, c.withdrawn_at, c.withdraw_reason)
                       for c in rows))


def _parties(session: Session, case_id: int, parts: Mapping[str, str],
             orgs: Mapping[int, str]) -> Table:
    rows = session.scalars(select(CaseParty).where(CaseParty.case_id == case_id)
                           .order_by(CaseParty.since, CaseParty.id))
    return Table("case_party", "Organisations du dossier",
                 ("Part", "Organisation", "Depuis le", "Jusqu'au", "Motif"),
                 tuple((parts.get(p.part, p.part), orgs.get(p.organisation_id, ""), p.since,
                        p.until, p.reason) for p in rows))


def _referents(session: Session, case_id: int, who: Any) -> Table:
    rows = session.scalars(select(CaseReferent).where(CaseReferent.case_id == case_id)
                           .order_by(CaseReferent.since, CaseReferent.id))
    return Table("case_referent", "Référent·es de parcours",
                 ("Référent·e", "Depuis le", "Jusqu'au", "Motif"),
                 tuple((who(r.user_id), r.since, r.until, r.reason) for r in rows))


def _orientations(session: Session, case_id: int, orgs: Mapping[int, str],
                  who: Any) -> tuple[Table, Table, Table]:
    found = list(session.scalars(select(Orientation).where(Orientation.case_id == case_id)
                                 .order_by(Orientation.created_at, Orientation.id)))
    ids = [o.id for o in found]
    main = Table("orientation", "Orientations",
                 ("Proposée le", "Organisation", "État", "Argument de la plateforme",
                  "Répondu le", "Message à l'orienteur", "Ce qui sera dit à la personne"),
                 tuple((o.created_at, orgs.get(o.organisation_id, ""), STATES.get(o.state, o.state),
                        o.comment, o.answered_at, o.message_referrer, o.answer_household)
                       for o in found))
    events: Iterable[OrientationEvent] = session.scalars(select(OrientationEvent).where(
        OrientationEvent.orientation_id.in_(ids)).order_by(OrientationEvent.at)) if ids else []
    history = Table("orientation_event", "Historique des orientations",
                    ("Le", "Par", "De", "À", "Commentaire"),
                    tuple((e.at, who(e.user_id) if e.user_id else VIA.get(e.via, e.via),
                           STATES.get(e.before, e.before) if e.before else "",
                           STATES.get(e.after, e.after), e.comment) for e in events))
    links: Iterable[AnswerLink] = session.scalars(
        select(AnswerLink).where(AnswerLink.orientation_id.in_(ids))
        .order_by(AnswerLink.created_at)) if ids else []
    sent = Table("answer_link", "Liens de réponse envoyés",
                 ("Envoyé le", "À", "Valable jusqu'au", "Utilisé le", "Révoqué le"),
                 tuple((a.created_at, a.email, a.expires_at, a.used_at, a.revoked_at)
                       for a in links))
    return main, history, sent


def _notices(session: Session, case_id: int) -> Table:
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case_id)
                           .order_by(OutboxMessage.created_at, OutboxMessage.id))
    return Table("outbox", "Avis envoyés", ("Préparé le", "Sorte d'avis", "Remis le"),
                 tuple((m.created_at, m.kind, m.delivered_at) for m in rows))


def _software_requests(session: Session, case_id: int, who: Any) -> Table:
    rows = session.execute(select(ApiIdempotency.created_at, ApiIdempotency.user_id,
                                  ApiIdempotency.key)
                           .where(ApiIdempotency.case_id == case_id)
                           .order_by(ApiIdempotency.created_at, ApiIdempotency.id))
    return Table("api_idempotency", "Demandes d'ouverture reçues d'un logiciel",
                 ("Reçue le", "Logiciel", "Identifiant de la demande"),
                 tuple((at, who(user_id), key) for at, user_id, key in rows))


def _choices(circuit: Any, name: str) -> dict[str, str]:
    """A choice field's codes → labels over the circuit's forms (none: empty)."""
    spec = fields_of(circuit).get(name)
    return {str(c.value): c.label for c in spec.choices} if spec is not None else {}


def _sessions(session: Session, case_id: int, who: Any, decisions: Mapping[str, str]) -> Table:
    rows = session.execute(
        select(CommissionSession.starts_at, CommissionSession.place, SessionCase.joined_at,
               SessionCase.decision, SessionCase.decided_at, SessionCase.decided_by_id)
        .join(CommissionSession, CommissionSession.id == SessionCase.session_id)
        .where(SessionCase.case_id == case_id).order_by(CommissionSession.starts_at))
    return Table("session_case", "Passages en commission",
                 ("Séance du", "Lieu", "Inscrit le", "Décision", "Décidée le", "Par"),
                 tuple((r.starts_at, r.place, r.joined_at,
                        decisions.get(r.decision, r.decision) if r.decision else None, r.decided_at,
                        who(r.decided_by_id) if r.decided_by_id else None) for r in rows))


def _facts(session: Session, case_id: int) -> Table:
    rows = session.scalars(select(CaseFact).where(CaseFact.case_id == case_id)
                           .order_by(CaseFact.recorded_at, CaseFact.id))
    return Table("case_fact", "Réponses comptées pour les statistiques",
                 ("Le", "Sorte", "Réponse"),
                 tuple((f.recorded_at, STATISTIC_KINDS.get(f.kind, f.kind), f.label)
                       for f in rows))


def _journal(session: Session, case_id: int, who: Any) -> Table:
    rows = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id)
                           .order_by(AuditEvent.at, AuditEvent.id))
    return Table("audit_event", "Qui a lu ou modifié le dossier", ("Le", "Qui", "Action"),
                 tuple((e.at, who(e.user_id) if e.user_id else "la plateforme",
                        audit.label(e.action)) for e in rows))


def as_json(file: SubjectFile) -> dict[str, Any]:
    """The file as JSON-ready data (dates in ISO 8601, UTC)."""

    def value(v: Any) -> Any:
        return v.isoformat() if isinstance(v, datetime) else v

    def table(t: Table) -> dict[str, Any]:
        return {"source": t.source, "titre": t.title,
                "lignes": [dict(zip(t.columns, map(value, row), strict=True)) for row in t.rows]}

    return {
        "menage": {"numero": file.household_id, "territoire": file.territory, "nom": file.name,
                   "annee_naissance": file.birth_year, "commune": file.commune,
                   "cree_le": value(file.created_at),
                   "fiches_fusionnees": list(file.merged_records)},
        "genere_le": value(file.generated_at),
        "ou_sont_les_donnees": [{"source": s, "contenu": w} for s, w in file.sources],
        "tables": [table(t) for t in file.tables],
        "dossiers": [{"reference": c.reference, "circuit": c.circuit, "etat": c.status,
                      "ouvert_le": value(c.opened_at), "clos_le": value(c.closed_at),
                      "issue": c.end, "reponses": dict(c.facts),
                      "donnees": {k: value(v) for k, v in c.data.items()},
                      "tables": [table(t) for t in c.tables]} for c in file.cases],
    }


# --------------------------------------------------------------------------- rectification


def identity_form(session: Session, clock: Clock, actor: Actor, case_id: int) -> IdentityForm:
    """The identity answers of a case (its start form's fields of the « Identité et
    coordonnées » category) with their values, for its territory's coordination.

    :raises NotFound: unknown case, or out of reach. :raises PermissionDenied: not coordination.
    """
    with transaction(session):
        case, form, data = _identity(session, clock, actor, case_id)
        fields = _identity_fields(form)
        schema = form.schema
        names = {f.name for f in fields}
        spec = FormSpec(
            title=form.title, fields=(*fields, *_REASON.fields),
            schema={"type": "object",
                    "required": [n for n in schema.get("required", []) if n in names]
                    + [REASON_FIELD],
                    "properties": {**{n: schema["properties"][n] for n in names},
                                   **_REASON.schema["properties"]}})
        return IdentityForm(case.id, case.reference, case.household_id, spec,
                            {f.name: data.get(f.name) for f in fields})


def correct_identity(session: Session, clock: Clock, actor: Actor, case_id: int,
                     values: Mapping[str, Any], reason: str) -> list[str]:
    """Correct a case's identity answers everywhere the case holds them, and its household's
    record; journal the fields corrected (their labels) and the reason. Returns the labels of
    the fields that changed (none: nothing written, nothing journalled).

    :raises FormInvalid: a value its field refuses, or no reason.
    :raises InvalidInput: a field that is not an identity answer of the case.
    """
    reason = " ".join((reason or "").split())
    with transaction(session):
        case, form, data = _identity(session, clock, actor, case_id, lock=True)
        fields = {f.name: f for f in _identity_fields(form)}
        unknown = set(values) - set(fields)
        if unknown:
            raise InvalidInput(code="svc.identity_field_unknown", detail=", ".join(sorted(unknown)))
        errors: dict[str, list[str]] = {}
        if not reason:
            errors[REASON_FIELD] = ["Indiquez le motif de la correction."]
        elif len(reason) > MAX_REASON:
            errors[REASON_FIELD] = [f"Le motif tient en {MAX_REASON} caractères au plus."]
        candidate = {**data, **values}
        problems = validate(form, candidate, today=clock.now().date())
        for name, messages in problems.items():
            if name in values:
                errors[name] = list(messages)
        year = household_core.birth_year(candidate, clock.now().year)
        if (household_core.BIRTH_YEAR_FIELD in values and year is None
                and values[household_core.BIRTH_YEAR_FIELD] not in (None, "")):
            errors.setdefault(household_core.BIRTH_YEAR_FIELD, [
                f"Année de naissance entre {household_core.MIN_YEAR} et {clock.now().year} "
                "attendue."])
        if errors:
            raise FormInvalid(errors)
        instance = runtime.load(session, case, clock)
        changed = correct(instance.workflow, values)
        if not changed:
            return []
        runtime.save(session, case, instance, clock)
        if household_core.NAME_FIELD in changed:  # the lists' column (not a save column)
            name = " ".join(str(values[household_core.NAME_FIELD]).split())[:200]
            session.execute(update(Case).where(Case.id == case.id).values(household_name=name)
                            .execution_options(synchronize_session=False))
            session.expire(case, ["household_name"])
        _correct_household(session, case, candidate, changed, clock)
        labels = [fields[name].label for name in changed]
        audit.record(session, clock, actor, "case.identity_corrected",
                     territory_id=case.territory_id, case_id=case.id, fields=labels,
                     reason=reason)
        return labels


def _identity(session: Session, clock: Clock, actor: Actor, case_id: int,
              lock: bool = False) -> tuple[Case, FormSpec, dict[str, Any]]:
    case = (runtime.lock(session, case_id) if lock else session.get(Case, case_id)) \
        if 0 < case_id <= MAX_ROW_ID else None
    if case is None or not actor.is_member(case.territory_id):
        raise NotFound(code="svc.case_not_found")
    require_case_coordinator(session, actor, case.id, case.territory_id, clock.now())
    if case.anonymised_at is not None:  # no identity left to correct, none to write back
        raise InvalidTransition(code="svc.case_anonymised")
    instance = runtime.load(session, case, clock)
    form = start_form(instance.circuit)
    if form is None:
        raise NotFound(code="svc.case_not_found")
    return case, form, instance.data()


def _identity_fields(form: FormSpec) -> tuple[FieldSpec, ...]:
    """The start form's identity answers: its fields of that category, and the household's
    name (``nom_menage``, every circuit's) whatever category it says."""
    categories = form.categories()
    return tuple(f for f in form.fields if categories.get(f.name) == IDENTITY
                 or f.name == household_core.NAME_FIELD)


def _correct_household(session: Session, case: Case, data: Mapping[str, Any],
                       changed: list[str], clock: Clock) -> None:
    """The household's record follows its identity (name, birth year, commune)."""
    record = session.get(Household, case.household_id) if case.household_id else None
    if record is None:
        return
    if household_core.NAME_FIELD in changed:
        name = " ".join(str(data.get(household_core.NAME_FIELD) or "").split()
                        )[:household_core.MAX_NAME]
        record.name, record.name_key = name, household_core.name_key(name)
    if household_core.BIRTH_YEAR_FIELD in changed:
        record.birth_year = household_core.birth_year(data, clock.now().year)
    if household_core.COMMUNE_FIELD in changed:
        commune = household_core.commune_of(data)
        record.commune, record.commune_key = commune, household_core.commune_key(commune)
