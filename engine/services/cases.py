"""Cases (dossiers): start, read, list and search, close or cancel."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, null, or_, select, true
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.consent import CATEGORIES
from engine.core.forms import FieldSpec, FormSpec
from engine.core.spiff.compiler import CompiledCircuit
from engine.core.spiff.runner import START_FORM, Instance, start_form
from engine.errors import InvalidInput, InvalidTransition, NotFound
from engine.persistence.db import table, transaction, upsert
from engine.persistence.models import (
    Case,
    Circuit,
    CircuitVersion,
    HumanTask,
    ReferenceCounter,
    Territory,
    Timer,
)
from engine.persistence.models.case import CaseStatus
from engine.persistence.models.human_task import TaskStatus
from engine.persistence.models.timer import ARMED_STATUSES, TimerStatus
from engine.services import (
    audit,
    consent,
    households,
    orientations,
    parties,
    runtime,
    webhooks,
)
from engine.services.access import (
    Actor,
    View,
    acts_on,
    case_scope,
    case_view,
    data_categories,
    name_shown,
    party_cases,
    require_case_coordinator,
    require_member,
)
from engine.services.case_facts import record as record_facts
from engine.services.listing import bounded, history, summary_of, task_items
from engine.services.results import COUNT_CAP, CaseDetail, CaseSummary, Page, TimerItem

MAX_PER_PAGE = 100
HOUSEHOLD_FIELD = "nom_menage"
HIDDEN_FIELDS = {"passages"}
MAX_SEARCH = 200  # household_name holds 200 characters, reference 40
MAX_STATUS, MAX_STEP = 20, 200  # case.status and human_task.bpmn_id
MAX_REASON = 500  # case.close_reason


def facts(circuit: CompiledCircuit, data: Mapping[str, Any],
          named: Mapping[str, Mapping[str, str]] | None = None) -> list[tuple[str, str]]:
    """The case data as (label, value) lines, labelled by the circuit's forms; ``named``
    gives, per field, what a stored id or code reads as (``orientations.labels_for``: a
    service's name, an organisation's, a refusal reason's label)."""
    labels = fields_of(circuit)
    named = named or {}
    # only what a form asked: the engine's own variables (``aiguillage_seq``, the step
    # counters) and keys no form declares are never shown
    return [(labels[k].label, _show(labels[k], v, named.get(k))) for k, v in data.items()
            if k in labels and k not in HIDDEN_FIELDS and v not in (None, "", [], {})]


def fields_of(circuit: CompiledCircuit) -> dict[str, FieldSpec]:
    """Field name → its spec over the circuit's forms (choices merged), labelled by the form
    that asks it first: the start form, then the main process's steps, then the called
    circuits' (a saisine's « Structure qui oriente » is not the commission's wording)."""
    labels: dict[str, FieldSpec] = {}
    for form in _forms_in_order(circuit):
        for spec in form.fields:
            first = labels.setdefault(spec.name, spec)
            if first is not spec and spec.choices:
                # two forms may offer the same field different choices (a called circuit's
                # saisine and the circuit's own): every choice keeps its label
                known = {str(c.value) for c in first.choices}
                labels[spec.name] = replace(first, choices=first.choices + tuple(
                    c for c in spec.choices if str(c.value) not in known))
            elif first is not spec and (spec.orientation or spec.part) and not (
                    first.orientation or first.part):
                labels[spec.name] = replace(first, orientation=spec.orientation,
                                            part=spec.part)
    return labels


def _forms_in_order(circuit: CompiledCircuit) -> list[FormSpec]:
    """The circuit's forms, the start form first, then those of the main process's steps in
    the diagram's order, then the others (called circuits, in file order)."""
    first = start_form(circuit)
    main = [circuit.forms.get(name) for name in _form_names(circuit.spec)]
    ordered = [first, *main, *circuit.forms.values()]
    out: list[FormSpec] = []
    for form in ordered:
        if form is not None and all(form is not seen for seen in out):
            out.append(form)
    return out


def _form_names(spec: Any) -> list[str]:
    """The form files the steps of a process spec name (``formJsonSchemaFilename``)."""
    names = []
    for task_spec in getattr(spec, "task_specs", {}).values():
        props = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
        if props.get(START_FORM):
            names.append(props[START_FORM])
    return names


def _show(spec: FieldSpec | None, value: Any,
          named: Mapping[str, str] | None = None) -> str:
    choices = {str(c.value): c.label for c in spec.choices} if spec else {}
    choices.update(named or {})
    if isinstance(value, bool):
        return "Oui" if value else "Non"
    if isinstance(value, list):
        return ", ".join(choices.get(str(v), str(v)) for v in value)
    if isinstance(value, dict):
        children = {c.name: c for c in spec.children} if spec else {}
        parts = [(children[k].label if k in children else k, _show(children.get(k), v))
                 for k, v in value.items() if v not in (None, "")]
        return " ; ".join(f"{label} : {shown}" for label, shown in parts)
    if spec is not None and spec.kind == "date" and isinstance(value, str):
        try:  # the form stores ISO dates; a person reads 02/01/2026
            return date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    if str(value) in choices:
        return choices[str(value)]
    if isinstance(value, int | float) and not (spec is not None and spec.kind == "text"):
        return _number(value)
    return str(value)


def _number(value: float) -> str:
    """A number as a French reader writes it: 12 345,5 (four digits stay whole, as French
    typography allows: a year reads 1985, not 1 985)."""
    text = f"{value:,.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"
    if abs(value) < 10000:
        text = text.replace(",", "")
    return text.replace(",", "\u202f").replace(".", ",")


def start(session: Session, clock: Clock, actor: Actor, circuit_id: int,
          data: Mapping[str, Any]) -> CaseSummary:
    """Open a case on the circuit's active version with its start-form data (saisine).

    :raises NotFound: unknown circuit, or one outside the actor's territories.
    :raises FormInvalid: the start form rejects ``data``; nothing is stored.
    """
    with transaction(session):
        circuit = session.get(Circuit, circuit_id)
        if circuit is None or circuit.active_version_id is None:
            raise NotFound(code="svc.circuit_unknown")
        require_member(actor, circuit.territory_id)
        compiled = runtime.compiled(session, circuit.active_version_id)
        instance = Instance.start(compiled, data, clock)
        case = Case(reference=_next_reference(session, clock, circuit.territory_id),
                    territory_id=circuit.territory_id, circuit_id=circuit.id,
                    circuit_version_id=circuit.active_version_id,
                    household_name=str(data.get(HOUSEHOLD_FIELD) or "—")[:200],
                    status=CaseStatus.OPEN, created_at=clock.now(), created_by_id=actor.user_id)
        session.add(case)
        session.flush()
        runtime.save(session, case, instance, clock, new=True)
        parties.at_start(session, clock, actor, case)
        consent.from_start(session, clock, actor, case, compiled, data)
        households.attach(session, clock, actor, case, data)
        record_facts(session, clock, case, start_form(compiled), data)
        audit.record(session, clock, actor, "case.start", territory_id=case.territory_id,
                     case_id=case.id, reference=case.reference, fields=sorted(data))
        return summary_of(case, circuit.title)


MAX_REFERENCE = 40  # case.reference


def id_of_reference(session: Session, actor: Actor, reference: str) -> int:
    """The id of the case ``reference`` names, in one of the actor's territories (the
    reading services then apply the visibility rule): how the API and outside answers name
    a case.

    :raises NotFound: no such reference (or an empty, too long or NUL-bearing one), or a
        case outside the actor's territories.
    """
    if not isinstance(reference, str) or not 0 < len(reference) <= MAX_REFERENCE \
            or "\0" in reference:
        raise NotFound(code="svc.case_not_found")
    found = session.execute(select(Case.id, Case.territory_id)
                            .where(Case.reference == reference)).one_or_none()
    if found is None or not actor.is_member(found.territory_id):
        raise NotFound(code="svc.case_not_found")
    return int(found.id)


def _next_reference(session: Session, clock: Clock, territory_id: int) -> str:
    year = clock.now().year
    # Two first cases of the year at once must not both create the counter: insert it if
    # missing (ignored when another transaction did), then lock it.
    session.execute(upsert(session, table(ReferenceCounter))
                    .values(territory_id=territory_id, year=year, last=0).on_conflict_do_nothing())
    counter = session.scalar(select(ReferenceCounter).where(
        ReferenceCounter.territory_id == territory_id, ReferenceCounter.year == year)
        .with_for_update().execution_options(populate_existing=True))
    assert counter is not None
    counter.last += 1
    territory = session.get(Territory, territory_id)
    assert territory is not None
    return f"{territory.prefix}-{year}-{counter.last:05d}"


def get(session: Session, clock: Clock, actor: Actor, case_id: int,
        view: View | None = None) -> CaseDetail:
    """A case file, as much of it as the actor reads (``access.case_view``, or ``view`` when
    the caller has decided it for this actor and case already): the whole file for
    coordination; the data categories the household's consent covers for a party; the
    reference, the status and the steps to act on for a minimal reader. The read is audited.
    ``can_close``: the reader may close or cancel it (``close`` asks the same).

    :raises NotFound: unknown case, or out of the actor's reach.
    """
    with transaction(session):
        case = _case(session, actor, case_id)
        now = clock.now()
        if view is None:
            view = case_view(session, actor, case.id, case.territory_id, now)
        # what require_case_coordinator lets through in ``close``, for a reader of the case
        can_close = actor.is_coordinator(case.territory_id)
        circuit = session.get(Circuit, case.circuit_id)
        # the number only: the version row holds every file and the spec (hundreds of KB)
        number = session.scalar(select(CircuitVersion.number).where(
            CircuitVersion.id == case.circuit_version_id))
        assert circuit is not None and number is not None
        open_steps = select(HumanTask).where(HumanTask.case_id == case.id,
                                             HumanTask.status == TaskStatus.OPEN)
        mine = open_steps.where(acts_on(actor, case.territory_id))
        if view.minimal:
            tasks = list(session.scalars(mine.order_by(HumanTask.ready_at, HumanTask.id)))
            audit.record(session, clock, actor, "case.read", territory_id=case.territory_id,
                         case_id=case.id, minimal=True)
            summary = replace(summary_of(case, circuit.title, named=False),
                              next_due_at=None, end_label=None)
            return CaseDetail(summary=summary, version=case.version, version_number=number,
                              data={}, open_tasks=task_items(session, tasks, named=False),
                              timers=[], minimal=True,
                              actionable=frozenset(t.id for t in tasks), can_close=can_close)
        instance = runtime.load(session, case, clock)
        data = view.shown(instance.data(), data_categories(instance.circuit))
        tasks = list(session.scalars(open_steps.order_by(HumanTask.ready_at, HumanTask.id)))
        actionable = ({t.id for t in tasks} if view.whole
                      else set(session.scalars(mine.with_only_columns(HumanTask.id))))
        done = session.scalars(select(HumanTask.name).where(
            HumanTask.case_id == case.id, HumanTask.status == TaskStatus.COMPLETED)
            .order_by(HumanTask.completed_at))
        timers = session.scalars(select(Timer).where(Timer.case_id == case.id)
                                 .order_by(Timer.due_at))
        audit.record(session, clock, actor, "case.read", territory_id=case.territory_id,
                     case_id=case.id, minimal=False)
        return CaseDetail(
            summary=summary_of(case, circuit.title, named=view.shows_name),
            version=case.version, version_number=number, data=data,
            open_tasks=task_items(session, tasks, named=view.shows_name),
            timers=[TimerItem(t.id, t.name, t.kind, t.due_at, t.status, t.attempts,
                              t.last_error) for t in timers],
            timeline=history(session, case.id),
            completed_steps=list(done), facts=facts(
                instance.circuit, data, orientations.labels_for(
                    session, case.territory_id, fields_of(instance.circuit), data)),
            partial=not view.whole,
            shared=[label for key, label in CATEGORIES.items() if view.sees(key)],
            actionable=frozenset(actionable),
            waiting=parties.awaited(session, case.territory_id, tasks), can_close=can_close)


def reachable(session: Session, clock: Clock, actor: Actor, case_id: int) -> bool:
    """Does the actor read anything of the case (``access.case_view``: at least the minimal
    view)? Where to send someone who has just opened a case (their organisation may play no
    part in it: then it is the platform's to read, not theirs)."""
    case = session.scalar(select(Case).where(Case.id == case_id))
    if case is None or not actor.is_member(case.territory_id):
        return False
    try:
        case_view(session, actor, case.id, case.territory_id, clock.now())
    except NotFound:
        return False
    return True


def diagram(session: Session, clock: Clock, actor: Actor,
            case_id: int) -> tuple[str, list[str], list[str]]:
    """The BPMN XML of the case's version with its current and completed elements (the
    case's progress: refused to a minimal reader, as the case page's completed steps are).

    :raises NotFound: unknown case, out of the actor's reach, or read minimally.
    """
    case = _case(session, actor, case_id)
    if case_view(session, actor, case.id, case.territory_id, clock.now()).minimal:
        raise NotFound(code="svc.case_not_found")
    instance = runtime.load(session, case, clock)
    files, main = session.execute(select(CircuitVersion.bpmn_files, CircuitVersion.main_file)
                                  .where(CircuitVersion.id == case.circuit_version_id)).one()
    current, done = instance.progress()
    return files[main], sorted(current), sorted(done)


def search(session: Session, clock: Clock, actor: Actor, territory_id: int, *, text: str = "",
           circuit_id: int | None = None, status: str | None = None, step: str | None = None,
           referent_id: int | None = None, page: int = 1, per_page: int = 25,
           ) -> Page[CaseSummary]:
    """Cases of a territory the actor may find (``access.case_scope``: all of them for
    coordination, those an organisation of theirs is a party to otherwise), by reference or
    household name, with filters, newest first. The household's name is given, and matched
    by the text, only where the actor may know it (``access.name_shown``).

    :raises InvalidInput: a text or a filter longer than what it searches.
    """
    require_member(actor, territory_id)
    if len(text) > MAX_SEARCH:
        raise InvalidInput(code="svc.search_too_long", maximum=MAX_SEARCH)
    bounded("statut", status, MAX_STATUS)
    bounded("étape", step, MAX_STEP)
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    everything = actor.is_system or actor.is_coordinator(territory_id)
    now = clock.now()
    named = None if everything else name_shown(actor, territory_id, Case.id, now)
    where: list[Any] = [Case.territory_id == territory_id]
    postgresql = session.get_bind().dialect.name == "postgresql"
    by_text = _matching(text.strip(), postgresql) if text.strip() else None
    if by_text is not None:
        by_ref, by_name = by_text
        # a name the actor may not read must not find the case either
        # (the cheap LIKE first: the consent's EXISTS runs only on the names that match)
        where.append(or_(by_ref, by_name if named is None else and_(by_name, named)))
    filters: list[Any] = []
    if circuit_id is not None:
        filters.append(Case.circuit_id == circuit_id)
    if status:
        filters.append(Case.status == status)
    if referent_id is not None:
        filters.append(Case.referent_id == referent_id)
    if step:
        filters.append(Case.id.in_(select(HumanTask.case_id).where(
            HumanTask.bpmn_id == step, HumanTask.status == TaskStatus.OPEN)))
    where += filters
    # counted up to COUNT_CAP + 1 in the list's order: the cost follows the cap, not the
    # territory's size (the page then says « plus de 1 000 résultats »)
    filtered = bool(text.strip() or circuit_id is not None or status or referent_id is not None
                    or step)
    offset = (max(page, 1) - 1) * per_page
    if (everything or filtered) and offset + per_page <= COUNT_CAP + 1:
        # one read of the matching cases gives the count and the page's ids (the search's
        # filters ran twice, for the count and for the page: 2 × 60-340 ms at 100k); a text
        # with a trigram to look up, on PostgreSQL, first on the trigram indexes
        ids = (_by_trigrams(session, actor, territory_id, by_text, filters, now)
               if postgresql and by_text is not None and TRIGRAM.search(text) else None)
        if ids is None:
            ids = list(session.scalars(
                select(Case.id).where(*where, *_scope(session, actor, territory_id))
                .order_by(*LIST_ORDER).limit(COUNT_CAP + 1)))
        total, where, offset = len(ids), [Case.id.in_(ids[offset:offset + per_page])], 0
    else:
        where += _scope(session, actor, territory_id)
        total = _capped_count(actor, territory_id, where, everything or filtered, session)
    name = (Case.household_name if named is None
            else sql_case((named, Case.household_name), else_=null()))
    rows = session.execute(
        select(Case, Circuit.title, name.label("shown_name"))
        .join(Circuit, Circuit.id == Case.circuit_id).where(*where)
        .order_by(*LIST_ORDER).limit(per_page).offset(offset)).all()
    return Page([replace(summary_of(c, title), household_name=shown)
                 for c, title, shown in rows], total, page, per_page)


def _matching(text: str, postgresql: bool) -> tuple[Any, Any]:
    """SQL: the case's reference holds ``text``; its household name does."""
    like = f"%{text}%"
    # SQLite's LIKE ignores ASCII case already (lower() would cost a call per row);
    # PostgreSQL needs ILIKE
    if postgresql:
        return Case.reference.ilike(like), Case.household_name.ilike(like)
    return Case.reference.like(like), Case.household_name.like(like)


def _scope(session: Session, actor: Actor, territory_id: int) -> list[Any]:
    """The list's rule (``access.case_scope``) as a filter, none for coordination; last of
    the filters: the engines test the cheap ones before its subquery."""
    if actor.is_system or actor.is_coordinator(territory_id):
        return []
    return [case_scope(actor, territory_id, Case.id, session)]


LIST_ORDER = (Case.created_at.desc(), Case.id.desc())  # the cases list's order, newest first
TRIGRAM = re.compile(r"\w{3}")  # pg_trgm finds a LIKE pattern by its words' trigrams
# how many cases the trigram indexes may find before the search gives way to the list's walk
TRIGRAM_PROBE = 5_000


def _by_trigrams(session: Session, actor: Actor, territory_id: int, by_text: tuple[Any, Any],
                 filters: list[Any], now: datetime) -> list[int] | None:
    """The ids of the first ``COUNT_CAP + 1`` cases the search finds, in the list's order,
    read on the trigram indexes (migration 0021): None when they find ``TRIGRAM_PROBE``
    cases or more (the caller then walks the list).

    Walking the territory's list newest first and matching each case stops at the count
    cap, which costs 1,001 / (the share of cases that match) rows: 24,000 at 100k cases for
    « martin » (4 % of them), 35 ms for a coordinator. The trigram indexes find those 4,250
    cases at once: 8 ms. The planner weighs the two on the same estimate and took the walk;
    ``territory_id + 0`` leaves it no index for the walk. A text most cases hold (« 2026 »,
    in every reference) is the walk's: the read stops at ``TRIGRAM_PROBE`` cases found
    (before the partner's rule, whose per-case probes cost more than the find itself), and
    the caller walks. The partner's rule is then applied to the cases found, per case on
    its parties' index (a hash of all its parties, 50,000 to 100,000 at 100k, was most of
    its search): the reference's branch within ``case_scope``, the name's within
    ``name_shown`` (which already asks for a current party of theirs; also within
    ``case_scope`` where an API key limits the circuits)."""
    by_ref, by_name = by_text
    found = (select(Case.id, Case.created_at, by_ref.label("by_ref"),
                    by_name.label("by_name"))
             .where(Case.territory_id + 0 == territory_id, or_(by_ref, by_name), *filters)
             .limit(TRIGRAM_PROBE).subquery())
    # the window counts what the LIMIT let through before any row is left out
    counted = select(found, func.count().over().label("found")).subquery()
    rule: Any = true()
    if not (actor.is_system or actor.is_coordinator(territory_id)):
        scope = case_scope(actor, territory_id, counted.c.id, session)
        named = name_shown(actor, territory_id, counted.c.id, now)
        rule = or_(and_(counted.c.by_ref, scope),
                   and_(counted.c.by_name, named, *([scope] if actor.circuits else [])))
    rows = session.execute(
        select(counted.c.id, counted.c.found)
        .where(or_(counted.c.found >= TRIGRAM_PROBE, rule))
        .order_by(counted.c.created_at.desc(), counted.c.id.desc())
        .limit(COUNT_CAP + 1)).all()
    if rows and rows[0].found >= TRIGRAM_PROBE:
        return None
    return [row.id for row in rows]


def _capped_count(actor: Actor, territory_id: int, where: list[Any], by_cases: bool,
                  session: Session) -> int:
    """The list's count up to ``COUNT_CAP + 1`` (a page past the cap, or a partner's whole
    list: its parties' index alone, no case row)."""
    if by_cases:
        capped = (select(Case.id).where(*where).order_by(*LIST_ORDER)
                  .limit(COUNT_CAP + 1).subquery())
    else:
        capped = party_cases(actor, territory_id).limit(COUNT_CAP + 1).subquery()
    return session.scalar(select(func.count()).select_from(capped)) or 0


def close(session: Session, clock: Clock, actor: Actor, case_id: int, reason: str,
          cancel: bool = False) -> CaseSummary:
    """Close (or cancel) an open case: its steps and timers stop; the reason is kept.

    :raises PermissionDenied: only the territory's coordination may do it.
    :raises InvalidTransition: the case is not open.
    :raises InvalidInput: the reason is longer than ``MAX_REASON``.
    """
    if not reason.strip():
        raise InvalidTransition(code="svc.reason_required")
    if len(reason) > MAX_REASON:
        raise InvalidInput(code="svc.reason_too_long", maximum=MAX_REASON)
    with transaction(session):
        case = _case(session, actor, case_id, lock=True)
        require_case_coordinator(session, actor, case.id, case.territory_id, clock.now())
        if case.status != CaseStatus.OPEN:
            raise InvalidTransition(code="svc.case_not_open")
        case.status = CaseStatus.CANCELLED if cancel else CaseStatus.CLOSED
        case.closed_at, case.close_reason, case.next_due_at = clock.now(), reason, None
        for task in session.scalars(select(HumanTask).where(HumanTask.case_id == case.id,
                                                            HumanTask.status == TaskStatus.OPEN)):
            task.status = TaskStatus.CANCELLED
        for timer in session.scalars(select(Timer).where(
                Timer.case_id == case.id, Timer.status.in_(ARMED_STATUSES))):
            timer.status = TimerStatus.CANCELLED
        orientations.end_of_case(session, clock, actor, case.id, cancelled=True)
        audit.record(session, clock, actor, "case.cancel" if cancel else "case.close",
                     territory_id=case.territory_id, case_id=case.id, reason=reason)
        webhooks.emit_to_parties(session, clock.now(), "case.closed", f"case.closed:{case.id}",
                                 case.territory_id, case.id,
                                 {"case": case.reference, "status": case.status},
                                 circuit_id=case.circuit_id)
        circuit = session.get(Circuit, case.circuit_id)
        return summary_of(case, circuit.title if circuit else "")


def _case(session: Session, actor: Actor, case_id: int, lock: bool = False) -> Case:
    # unlocked, the row a caller read in this session already (no statement: the case page)
    case = runtime.lock(session, case_id) if lock else session.get(Case, case_id)
    if case is None or not actor.is_member(case.territory_id):
        raise NotFound(code="svc.case_not_found")
    return case


def repair_page(session: Session, clock: Clock, actor: Actor,
                case_id: int) -> tuple[CaseDetail, list[tuple[str, str]]]:
    """The repair page: the case file and the steps it may go back to (administrators of its
    territory only, as the repair itself).

    :raises NotFound: unknown case or outside the actor's territories.
    :raises PermissionDenied: the actor does not administer the case's territory.
    """
    steps = steps_done(session, clock, actor, case_id)
    return get(session, clock, actor, case_id), steps


def steps_done(session: Session, clock: Clock, actor: Actor,
               case_id: int) -> list[tuple[str, str]]:
    """(BPMN id, name) of the steps a case completed, for the reset choice (administrators).

    :raises NotFound: unknown case, or out of the actor's reach.
    :raises PermissionDenied: the actor does not administer the case's territory.
    """
    case = _case(session, actor, case_id)
    require_case_coordinator(session, actor, case.id, case.territory_id, clock.now(),
                             admin=True)
    rows = session.execute(select(HumanTask.bpmn_id, HumanTask.name).where(
        HumanTask.case_id == case.id, HumanTask.status == TaskStatus.COMPLETED)
        .order_by(HumanTask.completed_at)).all()
    return list(dict.fromkeys((b, n) for b, n in rows))


def reset(session: Session, clock: Clock, actor: Actor, case_id: int, step: str) -> CaseSummary:
    """Administrator repair: make an earlier step ready again (its data must be re-entered);
    the steps and timers after it are withdrawn.

    :raises PermissionDenied: only the territory's administrators may repair.
    :raises NotFound: the case never went through that step.
    """
    with transaction(session):
        case = _case(session, actor, case_id, lock=True)
        require_case_coordinator(session, actor, case.id, case.territory_id, clock.now(),
                                 admin=True)
        instance = runtime.load(session, case, clock)
        instance.reset_to(step)
        if case.status != CaseStatus.OPEN:
            case.status, case.closed_at, case.end_state, case.end_label = (
                CaseStatus.OPEN, None, None, None)
        runtime.save(session, case, instance, clock)
        audit.record(session, clock, actor, "case.reset", territory_id=case.territory_id,
                     case_id=case.id, step=step)
        circuit = session.get(Circuit, case.circuit_id)
        return summary_of(case, circuit.title if circuit else "")
