"""Sessions of the commission (séances): planned by hand or by a timer start event, an agenda
the cases join until its cut-off, files sent to the members M days before, a decision per
case that resumes each case's own circuit, and the session closed.

A case joins a session when « Inscrire à l'ordre du jour » is completed with a field marked
``"x-aiguillage-session"`` (its answer: the session's id, offered only while the agenda is
open). Steps marked with the property ``session`` are then held by the session:
``session=send`` (« Diffuser l'ordre du jour et les dossiers ») is completed when the files
go out, ``session=examine`` (« Examiner la situation en commission ») by the decision the
secretariat records on the session page. Nobody completes them from the step's own page
while the case waits on an agenda.

States: ``planned`` (agenda open) → ``agenda_closed`` (N days before) → ``files_sent``
(M days before: members read the files) → ``held`` (a first decision recorded) → ``ended``
(« Clore la séance »: the members' reading ends).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core import session_plans
from engine.core.calendar import PARIS
from engine.core.forms import Choice, FormSpec
from engine.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from engine.persistence.db import transaction
from engine.persistence.models import (
    Case,
    Circuit,
    CircuitVersion,
    CommissionSession,
    HumanTask,
    Membership,
    OutboxMessage,
    SessionCase,
    Territory,
    User,
)
from engine.persistence.models.human_task import TaskStatus
from engine.persistence.models.outbox import OutboxStatus
from engine.services import audit, runtime
from engine.services.access import (
    MEMBER_ROLE,
    SYSTEM,
    Actor,
    View,
    agenda_readable,
    data_categories,
    require_session_runner,
    runs_sessions,
    sees_sessions,
    session_file_view,
    session_territories,
)

SESSION_KEYWORD = "x-aiguillage-session"  # a form field whose answer is a session's id
SESSION_PROPERTY = "session"  # a step held by a session: ``send`` or ``examine``
DATE_FIELD = "date_seance"  # filled from the session chosen, when the form has it
PLACE_MAX = 200
PLAN_AHEAD = timedelta(days=45)  # a planned occurrence is created this long before it
STATES = ("planned", "agenda_closed", "files_sent", "held", "ended")
STATE_LABELS = {"planned": "Ordre du jour ouvert", "agenda_closed": "Ordre du jour clos",
                "files_sent": "Dossiers diffusés", "held": "Séance en cours",
                "ended": "Séance close"}
SUMMARY_FIELDS = ("question_commission", "synthese", "motif_saisine")
NOTICE_KIND = "seance"


@dataclass(frozen=True)
class SessionItem:
    """A session as lists show it."""

    id: int
    territory_id: int
    starts_at: datetime
    place: str
    agenda_closes_at: datetime
    files_sent_at: datetime
    state: str
    cases: int
    decided: int
    planned: bool  # planned by a timer start event

    @property
    def state_label(self) -> str:
        """The state in words."""
        return STATE_LABELS.get(self.state, self.state)


@dataclass(frozen=True)
class AgendaItem:
    """A case on a session's agenda, as its reader may see it."""

    case_id: int
    reference: str
    circuit_title: str
    household_name: str | None  # None: the consent does not cover it
    summary: dict[str, str]  # label → text, what the consent covers
    decision: str | None
    decision_label: str | None
    decided_at: datetime | None
    step_id: int | None  # the open « Examiner la situation en commission » step
    waiting_for_files: bool  # still at « Diffuser l'ordre du jour et les dossiers »
    status: str


@dataclass(frozen=True)
class SessionDetail:
    """A session page: the session, its agenda, and what the reader may do."""

    session: SessionItem
    agenda: list[AgendaItem]
    runs: bool  # may record decisions, send the files, close
    reads_files: bool  # may open the cases' files
    decision_form: FormSpec | None


@dataclass(frozen=True)
class CaseFile:
    """A case's file as a member of the commission reads it (what the consent covers)."""

    session: SessionItem
    case_id: int
    reference: str
    household_name: str | None
    fields: list[tuple[str, str]]  # label, value (in words)
    minimal: bool


# --------------------------------------------------------------------------- reading


def _item(row: CommissionSession, cases: int = 0, decided: int = 0) -> SessionItem:
    return SessionItem(row.id, row.territory_id, row.starts_at, row.place, row.agenda_closes_at,
                       row.files_sent_at, row.state, cases, decided, row.plan_key is not None)


def _counts(session: Session, ids: list[int]) -> dict[int, tuple[int, int]]:
    out: dict[int, list[int]] = {i: [0, 0] for i in ids}
    if ids:
        for sid, decided in session.execute(select(SessionCase.session_id,
                                                    SessionCase.decided_at)
                                            .where(SessionCase.session_id.in_(ids))):
            out[sid][0] += 1
            out[sid][1] += decided is not None
    return {k: (v[0], v[1]) for k, v in out.items()}


def list_sessions(session: Session, clock: Clock, actor: Actor, *, past: bool = False,
                  limit: int = 100) -> list[SessionItem]:
    """The sessions of the territories where the actor runs or sits on the commission:
    the coming ones (and those not yet closed), or the closed ones with ``past``."""
    territories = session_territories(actor)
    if not territories:
        return []
    query = select(CommissionSession).where(CommissionSession.territory_id.in_(territories))
    if past:
        query = query.where(CommissionSession.state == "ended").order_by(
            CommissionSession.starts_at.desc())
    else:
        query = query.where(CommissionSession.state != "ended").order_by(
            CommissionSession.starts_at)
    rows = list(session.scalars(query.limit(limit)))
    counts = _counts(session, [r.id for r in rows])
    return [_item(r, *counts[r.id]) for r in rows]


def territory_names(session: Session, ids: list[int]) -> dict[int, str]:
    """Territory id → name, for the planning form's choice."""
    rows = session.execute(select(Territory.id, Territory.name)
                           .where(Territory.id.in_(ids))).all() if ids else []
    return {territory_id: name for territory_id, name in rows}


def _session(session: Session, actor: Actor, session_id: int, *, lock: bool = False
             ) -> CommissionSession:
    query = select(CommissionSession).where(CommissionSession.id == session_id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None or not (actor.is_system or sees_sessions(actor, row.territory_id)):
        raise NotFound("Séance introuvable.")
    return row


def detail(session: Session, clock: Clock, actor: Actor, session_id: int) -> SessionDetail:
    """A session page. The agenda's cases are listed for the secretariat and coordination,
    and for the members while the files are out (``access.agenda_readable``, in SQL); each
    case's name and summary only as far as the commission's consent goes."""
    row = _session(session, actor, session_id)
    now = clock.now()
    agenda_rows = session.execute(
        select(SessionCase, Case, Circuit.title)
        .join(Case, Case.id == SessionCase.case_id)
        .join(Circuit, Circuit.id == Case.circuit_id)
        .join(CommissionSession, CommissionSession.id == SessionCase.session_id)
        .where(SessionCase.session_id == row.id, agenda_readable(actor, row.territory_id))
        .order_by(SessionCase.joined_at, SessionCase.id)).all()
    steps = _held_steps(session, [c.id for _, c, _ in agenda_rows])
    labels = _decision_labels(session, agenda_rows)
    agenda = []
    for entry, case, title in agenda_rows:
        view = session_file_view(session, actor, row.territory_id, row.state, True, case.id, now)
        summary = _summary(session, case, view, clock) if not view.minimal else {}
        held = steps.get(case.id, {})
        agenda.append(AgendaItem(
            case.id, case.reference, title, case.household_name if view.shows_name else None,
            summary, entry.decision, labels.get(entry.decision or ""), entry.decided_at,
            held.get("examine"), "send" in held, case.status))
    counts = _counts(session, [row.id])[row.id]
    runs = runs_sessions(actor, row.territory_id)
    form = _decision_form(session, agenda_rows) if runs else None
    if agenda_rows:
        with transaction(session):
            audit.record(session, clock, actor, "session.read", territory_id=row.territory_id,
                         seance=row.id, cases=len(agenda_rows))
    return SessionDetail(_item(row, *counts), agenda, runs,
                         bool(agenda_rows) and (runs or row.state in ("files_sent", "held")),
                         form)


def case_file(session: Session, clock: Clock, actor: Actor, session_id: int,
              case_id: int) -> CaseFile:
    """The file of a case on a session's agenda, as the reader may read it: the members
    from files-sent until the session ends, the commission's part by consent; audited.

    :raises NotFound: unknown session or case, not on the agenda, or out of the window.
    """
    row = _session(session, actor, session_id)
    now = clock.now()
    on_agenda = session.scalar(select(SessionCase.id).where(
        SessionCase.session_id == row.id, SessionCase.case_id == case_id)) is not None
    view = session_file_view(session, actor, row.territory_id, row.state, on_agenda, case_id,
                             now)
    case = session.get(Case, case_id)
    assert case is not None
    fields: list[tuple[str, str]] = []
    if not view.minimal:
        instance = runtime.load(session, case, clock)
        categories = data_categories(instance.circuit)
        shown = view.shown(instance.data(), categories)
        labels = _labels(instance.circuit.forms)
        hidden = {session_field(f) for f in instance.circuit.forms.values()}  # an id
        for key, value in shown.items():
            if key in labels and key not in hidden and value not in (None, "", [], {}):
                fields.append((labels[key][0], _words(value, labels[key][1])))
    with transaction(session):
        audit.record(session, clock, actor, "case.read", territory_id=row.territory_id,
                     case_id=case_id, seance=row.id, minimal=view.minimal)
    counts = _counts(session, [row.id])[row.id]
    return CaseFile(_item(row, *counts), case_id, case.reference,
                    case.household_name if view.shows_name else None, fields, view.minimal)


def _labels(forms: Mapping[str, FormSpec]) -> dict[str, tuple[str, dict[Any, str]]]:
    out: dict[str, tuple[str, dict[Any, str]]] = {}
    for form in forms.values():
        for spec in form.fields:
            if spec.kind != "group":
                out.setdefault(spec.name, (spec.label, {c.value: c.label for c in spec.choices}))
    return out


def _words(value: Any, choices: Mapping[Any, str]) -> str:
    if isinstance(value, bool):
        return "Oui" if value else "Non"
    if isinstance(value, list):
        return ", ".join(choices.get(v, str(v)) for v in value)
    if isinstance(value, str) and len(value) == 10 and value[4:5] == "-" and value[7:8] == "-":
        try:
            return date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    return choices.get(value, str(value))


def _summary(session: Session, case: Case, view: View, clock: Clock) -> dict[str, str]:
    instance = runtime.load(session, case, clock)
    shown = view.shown(instance.data(), data_categories(instance.circuit))
    labels = _labels(instance.circuit.forms)
    return {labels[k][0]: str(shown[k]) for k in SUMMARY_FIELDS
            if k in shown and k in labels and shown[k]}


def _held_steps(session: Session, case_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per case, its open steps held by a session (``send`` / ``examine``) and their ids."""
    out: dict[int, dict[str, int]] = {}
    if not case_ids:
        return out
    rows = session.execute(select(HumanTask.id, HumanTask.case_id, HumanTask.bpmn_id,
                                  Case.circuit_version_id)
                           .join(Case, Case.id == HumanTask.case_id)
                           .where(HumanTask.case_id.in_(case_ids),
                                  HumanTask.status == TaskStatus.OPEN)).all()
    for task_id, case_id, bpmn_id, version_id in rows:
        held = step_property(session, version_id, bpmn_id)
        if held:
            out.setdefault(case_id, {})[held] = task_id
    return out


def step_property(session: Session, version_id: int, bpmn_id: str) -> str | None:
    """The ``session`` property of a step of a circuit version (``send``, ``examine`` or
    None), read on the compiled circuit (cached per version), main process or called."""
    return session_property(runtime.compiled(session, version_id), bpmn_id)


def session_property(circuit: Any, bpmn_id: str) -> str | None:
    """``step_property`` on a compiled circuit already at hand (no query)."""
    for process in [circuit.spec, *circuit.subprocess_specs.values()]:
        for task_spec in process.task_specs.values():
            if getattr(task_spec, "bpmn_id", None) == bpmn_id:
                extensions = getattr(task_spec, "extensions", None) or {}
                value = extensions.get("properties", {}).get(SESSION_PROPERTY)
                if value in ("send", "examine"):
                    return str(value)
    return None


def _decision_form(session: Session, agenda_rows: Sequence[Any]) -> FormSpec | None:
    """The decision form (``c3-decision``) as the agenda's first case's circuit names it."""
    for _, case, _ in agenda_rows:
        circuit = runtime.compiled(session, case.circuit_version_id)
        for name, form in circuit.forms.items():
            if name.startswith("c3-decision"):
                return form
    return None


def _decision_labels(session: Session, agenda_rows: Sequence[Any]) -> dict[str, str]:
    form = _decision_form(session, agenda_rows)
    if form is None:
        return {}
    for spec in form.fields:
        if spec.name == "decision_commission":
            return {str(c.value): c.label for c in spec.choices}
    return {}


# --------------------------------------------------------------------------- planning


def plan(session: Session, clock: Clock, actor: Actor, territory_id: int, starts_at: datetime,
         place: str, *, close_days: int = session_plans.AGENDA_CLOSES_DAYS,
         send_days: int = session_plans.FILES_SENT_DAYS) -> SessionItem:
    """Plan a session by hand (the secretariat or coordination).

    :raises PermissionDenied: neither.
    :raises InvalidInput: in the past, too close for its agenda, or a place too long.
    """
    require_session_runner(actor, territory_id)
    place = place.strip()
    if not place or len(place) > PLACE_MAX or "\x00" in place:
        raise InvalidInput(f"Indiquez le lieu de la séance ({PLACE_MAX} caractères au plus).")
    if starts_at.tzinfo is None:
        raise InvalidInput("La date de la séance doit porter son fuseau horaire.")
    if starts_at <= clock.now():
        raise InvalidInput("La date de la séance est passée : choisissez une date à venir.")
    if starts_at > clock.now() + timedelta(days=800):
        raise InvalidInput("La séance est trop lointaine (deux ans au plus).")
    with transaction(session):
        row = _insert(session, clock, actor, territory_id, starts_at, place, close_days,
                      send_days, None)
        assert row is not None
        audit.record(session, clock, actor, "session.plan", territory_id=territory_id,
                     seance=row.id, starts_at=starts_at.isoformat(), place=place)
        return _item(row)


def _insert(session: Session, clock: Clock, actor: Actor, territory_id: int,
            starts_at: datetime, place: str, close_days: int, send_days: int,
            plan_key: str | None) -> CommissionSession | None:
    closes, sent = session_plans.planned_days(starts_at, close_days, send_days)
    now = clock.now()
    # never created « sent »: the next sweep sends the files (and tells the members)
    state = "agenda_closed" if now >= closes else "planned"
    row = CommissionSession(territory_id=territory_id, starts_at=starts_at, place=place,
                            agenda_closes_at=closes, files_sent_at=sent, state=state,
                            plan_key=plan_key, created_at=now, created_by_id=actor.user_id)
    if plan_key is None:
        session.add(row)
        session.flush()
        return row
    try:
        with session.begin_nested():  # a second scheduler created it first: nothing to do
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def plan_from_circuits(session: Session, clock: Clock) -> int:
    """Create, once each, the sessions the active circuits' timer start events plan and
    whose date comes within ``PLAN_AHEAD`` (so that their agenda can fill). Unique per
    territory and occurrence (``plan_key``): two schedulers create each one once."""
    created = 0
    now = clock.now()
    versions = session.execute(select(Circuit.territory_id, CircuitVersion.bpmn_files)
                               .join(CircuitVersion,
                                     CircuitVersion.id == Circuit.active_version_id)).all()
    for territory_id, files in versions:
        if "timeCycle" not in "".join(files.values()):
            continue  # most circuits: no file parsed
        for found in session_plans.plans({k: v.encode() for k, v in files.items()}):
            for starts_at in found.occurrences():
                if starts_at <= now or starts_at > now + PLAN_AHEAD:
                    continue
                key = f"{found.key}@{starts_at.isoformat()}"
                exists_ = session.scalar(select(CommissionSession.id).where(
                    CommissionSession.territory_id == territory_id,
                    CommissionSession.plan_key == key))
                if exists_ is not None:
                    continue
                with transaction(session):
                    row = _insert(session, clock, SYSTEM, territory_id, starts_at,
                                  found.place or found.name, found.close_days,
                                  found.send_days, key)
                    if row is not None:
                        created += 1
                        audit.record(session, clock, SYSTEM, "session.plan",
                                     territory_id=territory_id, seance=row.id,
                                     starts_at=starts_at.isoformat(), plan=found.key)
    return created


def sweep(session: Session, clock: Clock) -> int:
    """The scheduler's pass: plan from timer start events, close agendas at their cut-off,
    send the files when due. Returns how many sessions changed."""
    changed = plan_from_circuits(session, clock)
    now = clock.now()
    with transaction(session):
        result = session.execute(update(CommissionSession).where(
            CommissionSession.state == "planned", CommissionSession.agenda_closes_at <= now)
            .values(state="agenda_closed"))
        changed += result.rowcount or 0  # type: ignore[attr-defined]
    due = list(session.scalars(select(CommissionSession.id).where(
        CommissionSession.state.in_(("planned", "agenda_closed")),
        CommissionSession.files_sent_at <= now)))
    for session_id in due:
        try:
            send_files(session, clock, SYSTEM, session_id)
            changed += 1
        except (Conflict, NotFound):
            continue  # another scheduler sent them first
    return changed


# --------------------------------------------------------------------------- joining


def session_field(form: FormSpec | None) -> str | None:
    """The field of a form whose answer is a session (``x-aiguillage-session``), if any."""
    if form is None:
        return None
    properties = form.schema.get("properties", {})
    for spec in form.fields:
        prop = properties.get(spec.name)
        if isinstance(prop, dict) and prop.get(SESSION_KEYWORD):
            return spec.name
    return None


def open_sessions(session: Session, clock: Clock, territory_id: int) -> list[SessionItem]:
    """The planned sessions whose agenda is still open, soonest first."""
    rows = session.scalars(select(CommissionSession).where(
        CommissionSession.territory_id == territory_id, CommissionSession.state == "planned",
        CommissionSession.agenda_closes_at > clock.now())
        .order_by(CommissionSession.starts_at).limit(24))
    return [_item(r) for r in rows]


def paris_time(day: date, at: time) -> datetime:
    """A day and an hour typed on a page, in Paris time (the session's start)."""
    return datetime.combine(day, at, tzinfo=PARIS)


def when(at: datetime) -> str:
    """« mardi 5 janvier 2027 à 14 h » (Paris time)."""
    local = at.astimezone(PARIS)
    months = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
              "septembre", "octobre", "novembre", "décembre")
    hour = f"{local.hour} h" + (f" {local.minute:02d}" if local.minute else "")
    return (f"{session_plans.WEEKDAY_WORDS[local.weekday()]} {local.day} "
            f"{months[local.month - 1]} {local.year} à {hour}")


def with_sessions(session: Session, clock: Clock, territory_id: int,
                  form: FormSpec | None) -> FormSpec | None:
    """The form as offered now: its session field becomes a required choice of the planned
    sessions whose agenda is open (and accepts only them). Without such a field: as it is."""
    name = session_field(form)
    if form is None or name is None:
        return form
    offered = open_sessions(session, clock, territory_id)
    choices = tuple(Choice(s.id, f"{when(s.starts_at)} — {s.place}") for s in offered)
    schema = copy.deepcopy(form.schema)
    prop = schema["properties"][name]
    prop["enum"] = [s.id for s in offered] or [0]  # none open: nothing can be chosen
    required = list(schema.get("required", []))
    if name not in required:
        schema["required"] = [*required, name]
    if DATE_FIELD in schema.get("required", []):
        schema["required"] = [r for r in schema["required"] if r != DATE_FIELD]
    # the session gives its day: ``date_seance`` is no longer asked for
    fields = tuple(replace(f, kind="choice", choices=choices, required=True) if f.name == name
                   else f for f in form.fields if f.name != DATE_FIELD)
    return replace(form, fields=fields, schema=schema)


def join(session: Session, clock: Clock, actor: Actor, case: Case, form: FormSpec | None,
         data: Mapping[str, Any]) -> dict[str, Any]:
    """Inside a step's completion: put the case on the agenda of the session its form names
    (if it has such a field and an answer), and return the data with the session's date.

    :raises Conflict: the session is not one of the territory's, or its agenda is closed.
    """
    name = session_field(form)
    if name is None or data.get(name) in (None, ""):
        return dict(data)
    try:
        session_id = int(data[name])
    except (TypeError, ValueError):
        raise Conflict("Cette séance n'existe pas : choisissez une séance de la liste.") from None
    row = session.scalar(select(CommissionSession).where(
        CommissionSession.id == session_id).with_for_update())
    if row is None or row.territory_id != case.territory_id:
        raise Conflict("Cette séance n'existe pas : choisissez une séance de la liste.")
    if row.state != "planned" or clock.now() >= row.agenda_closes_at:
        raise Conflict(f"L'ordre du jour de la séance du {when(row.starts_at)} est clos depuis "
                       f"le {when(row.agenda_closes_at)} : inscrivez la situation à une séance "
                       "suivante ou demandez une procédure d'urgence.")
    already = session.scalar(select(SessionCase.id).where(
        SessionCase.session_id == row.id, SessionCase.case_id == case.id))
    if already is None:
        session.add(SessionCase(session_id=row.id, case_id=case.id, joined_at=clock.now(),
                                joined_by_id=actor.user_id))
        session.flush()
    audit.record(session, clock, actor, "session.join", territory_id=case.territory_id,
                 case_id=case.id, seance=row.id)
    out = dict(data)
    if DATE_FIELD in (form.field_names() if form else set()):
        out[DATE_FIELD] = row.starts_at.astimezone(PARIS).date().isoformat()
    return out


def dated(session: Session, form: FormSpec | None, data: Mapping[str, Any]) -> dict[str, Any]:
    """The data with the chosen session's day in ``date_seance`` (nothing written: what a
    preview of the completion needs; ``join`` does it for real)."""
    name = session_field(form)
    out = dict(data)
    if form is None or name is None or DATE_FIELD not in form.field_names():
        return out
    try:
        starts_at = session.scalar(select(CommissionSession.starts_at).where(
            CommissionSession.id == int(data.get(name) or 0)))
    except (TypeError, ValueError):
        return out
    if starts_at is not None:
        out[DATE_FIELD] = starts_at.astimezone(PARIS).date().isoformat()
    return out


def waiting_on(session: Session, case_id: int) -> int | None:
    """The session (not ended) whose agenda holds the case without a decision yet, if any."""
    return session.scalar(select(SessionCase.session_id)
                          .join(CommissionSession,
                                CommissionSession.id == SessionCase.session_id)
                          .where(SessionCase.case_id == case_id,
                                 SessionCase.decided_at.is_(None),
                                 CommissionSession.state != "ended").limit(1))


def held(session: Session, case_id: int, circuit: Any, bpmn_id: str) -> int | None:
    """The session holding a step of a compiled circuit (a ``session`` step of a case on an
    agenda), if any: the step is then completed by the session, not from its own page. No
    query for a step without the property (every step but two of C3)."""
    if session_property(circuit, bpmn_id) is None:
        return None
    return waiting_on(session, case_id)


# --------------------------------------------------------------------------- the session


def send_files(session: Session, clock: Clock, actor: Actor, session_id: int) -> SessionItem:
    """Send the agenda and files (the scheduler M days before, or the secretariat earlier):
    the agenda closes, each case's « Diffuser » step is completed, each member is told (no
    personal data in the notice), the members may read the files until the session ends.

    :raises Conflict: already sent, or the session is closed.
    """
    with transaction(session):
        row = _session(session, actor, session_id, lock=True)
        require_session_runner(actor, row.territory_id)
        if row.state not in ("planned", "agenda_closed"):
            raise Conflict("Les dossiers de cette séance ont déjà été diffusés.")
        now = clock.now()
        row.state = "files_sent"
        case_ids = list(session.scalars(select(SessionCase.case_id).where(
            SessionCase.session_id == row.id, SessionCase.decided_at.is_(None))))
        for steps in _held_steps(session, case_ids).values():
            if "send" in steps:
                _complete(session, clock, actor, steps["send"], {
                    "dossiers_diffuses": True,
                    "date_diffusion": now.astimezone(PARIS).date().isoformat()})
        members = session.scalars(select(Membership.user_id).distinct()
                                  .join(User, User.id == Membership.user_id)
                                  .where(Membership.territory_id == row.territory_id,
                                         Membership.role == MEMBER_ROLE,
                                         User.active.is_(True)))
        for user_id in members:
            key = f"seance-dossiers:{row.id}:{user_id}"
            if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)):
                continue
            session.add(OutboxMessage(
                dedupe_key=key, kind=NOTICE_KIND, status=OutboxStatus.PENDING,
                territory_id=row.territory_id, recipient_user_id=user_id, created_at=now,
                payload={"session_id": row.id, "when": when(row.starts_at),
                         "place": row.place, "cases": len(case_ids)}))
        audit.record(session, clock, actor, "session.files_sent", territory_id=row.territory_id,
                     seance=row.id, cases=len(case_ids))
        return _item(row, *_counts(session, [row.id])[row.id])


def _complete(session: Session, clock: Clock, actor: Actor, task_id: int,
              data: Mapping[str, Any]) -> None:
    """Complete a step held by the session in the name of whoever runs the session (the
    caller checked ``require_session_runner``): the coordination acts as the step's role."""
    # tasks imports this module (a step's completion joins or is held by a session)
    from engine.services import tasks
    step = session.get(HumanTask, task_id)
    assert step is not None
    if not actor.is_system and step.role and step.role not in actor.roles_in(step.territory_id):
        roles = dict(actor.roles)
        roles[step.territory_id] = roles.get(step.territory_id, frozenset()) | {step.role}
        actor = replace(actor, roles=roles)
    tasks.complete(session, clock, actor, task_id, data, by_session=True)


def record_decision(session: Session, clock: Clock, actor: Actor, session_id: int,
                    case_id: int, data: Mapping[str, Any]) -> SessionItem:
    """Record the commission's decision on one case of the agenda: completes the case's
    « Examiner la situation en commission » step with the decision form, and its own circuit
    resumes (C3 alone, or inside the circuit that called it).

    :raises PermissionDenied: neither the secretariat nor coordination.
    :raises NotFound: the case is not on this session's agenda.
    :raises Conflict: the files are not sent yet, the session is closed, or already decided.
    :raises FormInvalid: the decision fails its form.
    """
    with transaction(session):
        row = _session(session, actor, session_id, lock=True)
        require_session_runner(actor, row.territory_id)
        if row.state == "ended":
            raise Conflict("Cette séance est close : la décision ne peut plus être enregistrée.")
        if row.state not in ("files_sent", "held"):
            raise Conflict("Diffusez d'abord l'ordre du jour et les dossiers aux membres.")
        entry = session.scalar(select(SessionCase).where(
            SessionCase.session_id == row.id, SessionCase.case_id == case_id))
        if entry is None:
            raise NotFound("Cette situation n'est pas à l'ordre du jour de la séance.")
        if entry.decided_at is not None:
            raise InvalidTransition("La décision de cette situation est déjà enregistrée.")
        step = _held_steps(session, [case_id]).get(case_id, {}).get("examine")
        if step is None:
            raise Conflict("Cette situation n'attend pas de décision de la commission "
                           "(son circuit n'est pas à l'étape d'examen).")
        _complete(session, clock, actor, step, data)
        entry.decision = str(data.get("decision_commission") or "") or None
        entry.decided_at, entry.decided_by_id = clock.now(), actor.user_id
        row.state = "held"
        audit.record(session, clock, actor, "session.decision", territory_id=row.territory_id,
                     case_id=case_id, seance=row.id, decision=entry.decision)
        return _item(row, *_counts(session, [row.id])[row.id])


def close(session: Session, clock: Clock, actor: Actor, session_id: int) -> SessionItem:
    """« Clore la séance »: the members' reading of the files ends now.

    :raises Conflict: already closed, or a case on the agenda has no decision yet.
    """
    with transaction(session):
        row = _session(session, actor, session_id, lock=True)
        require_session_runner(actor, row.territory_id)
        if row.state == "ended":
            raise Conflict("Cette séance est déjà close.")
        undecided = list(session.scalars(select(SessionCase.case_id).where(
            SessionCase.session_id == row.id, SessionCase.decided_at.is_(None))))
        # a case still at its « examine » step; one whose circuit holds no step for the
        # session (a territory's own variant) or that left it otherwise does not block
        if any("examine" in held for held in _held_steps(session, undecided).values()):
            raise Conflict("Enregistrez la décision de chaque situation (ou son ajournement) "
                           "avant de clore la séance.")
        row.state, row.ended_at, row.ended_by_id = "ended", clock.now(), actor.user_id
        audit.record(session, clock, actor, "session.close", territory_id=row.territory_id,
                     seance=row.id)
        return _item(row, *_counts(session, [row.id])[row.id])
