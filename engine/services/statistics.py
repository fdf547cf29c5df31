"""The statistics a platform owes the State (issue #16), per territory or across those one
oversees, for a period: requests, orientations and their outcomes, delays, overdue steps,
end states, unmet needs and eviction procedures.

Computed in SQL over the record tables (``case``, ``human_task``, ``orientation``,
``case_party``, ``case_fact``, ``membership``); no workflow is loaded. Every count goes out
through the small-count rule of ``engine.core.statistics`` (« < 5 »), already applied here:
the page, its charts and the CSV show the same cells.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.calendar import PARIS
from engine.core.directory import MEASURES
from engine.core.orientation import ACCEPTED, CANCELLED, EXPIRED, OPEN_STATES, REFUSED
from engine.core.statistics import (
    ENTRY_ROUTE,
    EVICTION_STAGE,
    NEED,
    NO_PLACE,
    NO_SERVICE,
    UNMET_NEED,
    hidden,
    suppress,
    total,
)
from engine.core.statistics import HIDDEN as HIDDEN_TEXT
from engine.errors import InvalidInput
from engine.persistence.models import (
    Case,
    CaseFact,
    CaseParty,
    Circuit,
    HumanTask,
    Membership,
    Organisation,
    Orientation,
    RefusalReason,
    Territory,
)
from engine.persistence.models.case import CaseStatus
from engine.persistence.models.human_task import TaskStatus
from engine.services.access import Actor, require_statistics, statistics_territories
from engine.services.delays import Durations, durations

MAX_YEARS = 10
DAY = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})|([0-9]{4})-([0-9]{2})-([0-9]{2})")
NOT_GIVEN = "Non renseigné"
STATUS_LABELS = {CaseStatus.CLOSED: "Clôturé sans état de fin", CaseStatus.COMPLETED: "Terminé",
                 CaseStatus.CANCELLED: "Annulé", CaseStatus.ERROR: "En erreur",
                 CaseStatus.OPEN: "En cours"}
Cell = str | int | float | None  # None: a count too small to show (« < 5 »)


@dataclass(frozen=True)
class Period:
    """From ``start`` to ``end``, both days included (Paris days)."""

    start: date
    end: date

    def bounds(self) -> tuple[datetime, datetime]:
        """The UTC instants of the first day's start and of the day after the last."""
        first = datetime.combine(self.start, time(), PARIS)
        after = datetime.combine(self.end + timedelta(days=1), time(), PARIS)
        return first, after


@dataclass(frozen=True)
class Indicator:
    """One table of figures: a label column then value columns; ``chart`` is the column
    its chart draws; ``totals`` the total line (None: no total makes sense)."""

    key: str
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    chart: int = 1
    unit: str = ""
    totals: tuple[Cell, ...] | None = None
    note: str = ""


@dataclass(frozen=True)
class Statistics:
    """Every indicator of a period, for one territory or several."""

    period: Period
    territories: tuple[str, ...]
    requests: Cell
    indicators: tuple[Indicator, ...] = field(default_factory=tuple)


def parse_day(text: str | None, name: str) -> date | None:
    """A day written ``JJ/MM/AAAA`` (or ``AAAA-MM-JJ``); None when empty.

    :raises InvalidInput: anything else, or a day that does not exist.
    """
    raw = (text or "").strip()
    if not raw:
        return None
    found = DAY.fullmatch(raw)
    try:
        if found is None:
            raise ValueError(raw)
        d, m, y = found.group(1, 2, 3) if found.group(1) else found.group(6, 5, 4)
        return date(int(y), int(m), int(d))
    except ValueError:
        raise InvalidInput(code="stats.bad_day", name=name) from None


def period_of(clock: Clock, start: str | None = None, end: str | None = None) -> Period:
    """The period asked for: by default the last 12 months up to today.

    :raises InvalidInput: a day not understood, an end before the start, more than
        ``MAX_YEARS`` years.
    """
    today = clock.now().astimezone(PARIS).date()
    last = parse_day(end, "fin") or today
    first = parse_day(start, "début") or _year_before(last)
    if last < first:
        raise InvalidInput(code="stats.period_reversed", start=first.strftime("%d/%m/%Y"),
                           end=last.strftime("%d/%m/%Y"))
    if (last - first).days > MAX_YEARS * 366:
        raise InvalidInput(code="stats.period_too_long", maximum=MAX_YEARS)
    return Period(first, last)


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1) + timedelta(days=1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28) + timedelta(days=1)


def compute(session: Session, clock: Clock, actor: Actor, period: Period,
            territory_id: int | None = None) -> Statistics:
    """Every indicator for ``territory_id`` (None: every territory the actor oversees).

    :raises PermissionDenied: a territory the actor does not oversee, or none at all.
    """
    ids = require_statistics(actor, territory_id)
    names = tuple(session.scalars(select(Territory.name).where(Territory.id.in_(ids))
                                  .order_by(Territory.name)))
    first, after = period.bounds()
    scope = _Scope(session, ids, first, after, clock.now())
    requests = session.scalar(select(func.count()).select_from(Case).where(*scope.cases())) or 0
    indicators = (
        _by_route(scope), _by_referrer(scope), _orientations(scope, "measure"),
        _orientations(scope, "operator"), _refusals(scope), _delays(scope),
        _steps_time(scope), _overdue(scope, "step"), _overdue(scope, "organisation"),
        _ends(scope), _needs(scope), _evictions(scope))
    return Statistics(period, names, None if hidden(requests) else requests, indicators)


@dataclass(frozen=True)
class _Scope:
    session: Session
    ids: list[int]
    first: datetime
    after: datetime
    now: datetime

    def cases(self) -> list[Any]:
        """The requests of the period: cases opened in it."""
        return [Case.territory_id.in_(self.ids), Case.created_at >= self.first,
                Case.created_at < self.after]

    def rows(self, query: Any) -> list[Any]:
        return list(self.session.execute(query).all())


def _counts(key: str, title: str, header: str, rows: list[Any], unit: str = "dossiers",
            note: str = "", ordered: bool = False) -> Indicator:
    """A one-count table (label, count), largest first (or as given), with its total."""
    pairs = [(str(label), int(n)) for label, n in rows]
    if not ordered:
        pairs.sort(key=lambda r: (-r[1], r[0]))
    shown = suppress([n for _, n in pairs])
    return Indicator(key, title, (header, unit.capitalize()),
                     tuple((label, n) for (label, _), n in zip(pairs, shown, strict=True)),
                     unit=unit, totals=("Total", total([n for _, n in pairs])), note=note)


def _by_route(scope: _Scope) -> Indicator:
    label = func.coalesce(CaseFact.label, literal(NOT_GIVEN))
    rows = scope.rows(
        select(label, func.count(func.distinct(Case.id))).select_from(Case)
        .outerjoin(CaseFact, and_(CaseFact.case_id == Case.id, CaseFact.kind == ENTRY_ROUTE))
        .where(*scope.cases()).group_by(label))
    return _counts("demandes_canal", "Demandes par canal d'entrée", "Canal d'entrée", rows,
                   "demandes")


def _by_referrer(scope: _Scope) -> Indicator:
    label = func.coalesce(Organisation.name, literal("Structure non renseignée"))
    rows = scope.rows(
        select(label, func.count(func.distinct(Case.id))).select_from(Case)
        .outerjoin(CaseParty, and_(CaseParty.case_id == Case.id, CaseParty.part == "referrer",
                                   CaseParty.until.is_(None)))
        .outerjoin(Organisation, Organisation.id == CaseParty.organisation_id)
        .where(*scope.cases()).group_by(label))
    return _counts("demandes_orienteur", "Demandes par structure qui oriente",
                   "Structure qui oriente", rows, "demandes")


OUTCOMES = (("Acceptées", (ACCEPTED,)), ("Refusées", (REFUSED,)), ("Expirées", (EXPIRED,)),
            ("Annulées", (CANCELLED,)), ("Sans réponse encore", tuple(sorted(OPEN_STATES))))


def _orientations(scope: _Scope, by: str) -> Indicator:
    """Orientations sent in the period by measure (or operator), with their outcome now."""
    group = Orientation.measure if by == "measure" else Organisation.name
    query = select(group, func.count(), *[
        func.sum(sql_case((Orientation.state.in_(states), 1), else_=0)) for _, states in OUTCOMES
    ]).select_from(Orientation)
    if by != "measure":
        query = query.join(Organisation, Organisation.id == Orientation.organisation_id)
    rows = scope.rows(query.where(
        Orientation.territory_id.in_(scope.ids), Orientation.created_at >= scope.first,
        Orientation.created_at < scope.after).group_by(group))
    labelled = [(MEASURES.get(str(r[0]), str(r[0])) if by == "measure" else str(r[0]),
                 *[int(n or 0) for n in r[1:]]) for r in rows]
    title, header = (("Orientations par mesure et leur issue", "Mesure") if by == "measure"
                     else ("Orientations par opérateur et leur issue", "Opérateur"))
    return _table(f"orientations_{'mesure' if by == 'measure' else 'operateur'}", title,
                  (header, "Orientations", *[name for name, _ in OUTCOMES]), labelled)


def _table(key: str, title: str, headers: tuple[str, ...], rows: list[tuple[Any, ...]],
           note: str = "") -> Indicator:
    """A table of counts (label, counts…), largest first, each column suppressed on its own,
    with a total line."""
    rows = sorted(rows, key=lambda r: (-r[1], r[0]))
    columns = [suppress([r[i] for r in rows]) for i in range(1, len(headers))]
    shown = tuple((r[0], *[c[n] for c in columns]) for n, r in enumerate(rows))
    totals = ("Total", *[total([r[i] for r in rows]) for i in range(1, len(headers))])
    return Indicator(key, title, headers, shown, totals=totals, note=note)


def _refusals(scope: _Scope) -> Indicator:
    """Refusals of the period's orientations by reason (one refusal may give several)."""
    rows = scope.rows(select(Orientation.territory_id, Orientation.reasons).where(
        Orientation.territory_id.in_(scope.ids), Orientation.state == REFUSED,
        Orientation.created_at >= scope.first, Orientation.created_at < scope.after))
    labels = {(t, c): label for t, c, label in scope.rows(select(
        RefusalReason.territory_id, RefusalReason.code, RefusalReason.label)
        .where(RefusalReason.territory_id.in_(scope.ids)))}
    counted: Counter[str] = Counter()
    for territory, reasons in rows:
        for code in reasons if isinstance(reasons, list) and reasons else [None]:
            counted[labels.get((territory, code), "Motif non précisé") if code else
                    "Motif non précisé"] += 1
    return _counts("refus_motif", "Refus par motif", "Motif de refus", list(counted.items()),
                   "refus", note="Un refus peut donner plusieurs motifs.")


def _delay_rows(groups: list[Durations]) -> list[tuple[Cell, ...]]:
    out: list[tuple[Cell, ...]] = []
    for g in groups:
        small = hidden(g.count)
        out.append((g.label, None if small else g.count, None if small else g.median,
                    None if small else g.p90))
    return out


DELAY_HEADERS = ("Nombre", "Médiane (jours)", "90e centile (jours)")


def _delays(scope: _Scope) -> Indicator:
    """Request → first orientation; orientation → the operator's answer (days)."""
    first_orientation = (select(Orientation.case_id, func.min(Orientation.created_at)
                                .label("at")).group_by(Orientation.case_id).subquery())
    request = durations(scope.session, "Demande → première orientation", Case.created_at,
                        first_orientation.c.at, select_from=Case, join=(
                            first_orientation, first_orientation.c.case_id == Case.id),
                        where=scope.cases())
    answer = durations(scope.session, "Orientation → réponse de l'opérateur",
                       Orientation.created_at, Orientation.answered_at, select_from=Orientation,
                       where=[Orientation.territory_id.in_(scope.ids),
                              Orientation.created_at >= scope.first,
                              Orientation.created_at < scope.after,
                              Orientation.answered_at.is_not(None)])
    return Indicator("delais", "Délais de l'orientation", ("Délai", *DELAY_HEADERS),
                     tuple(_delay_rows(request + answer)), chart=2, unit="jours",
                     note="Demandes et orientations de la période.")


def _steps_time(scope: _Scope) -> Indicator:
    """Time spent on each step completed in the period (ready → completed, days)."""
    label = Circuit.title + literal(" — ") + HumanTask.name
    groups = durations(scope.session, label, HumanTask.ready_at, HumanTask.completed_at,
                       select_from=HumanTask, join=(Circuit, Circuit.id == HumanTask.circuit_id),
                       where=[HumanTask.territory_id.in_(scope.ids),
                              HumanTask.status == TaskStatus.COMPLETED,
                              HumanTask.completed_at >= scope.first,
                              HumanTask.completed_at < scope.after], grouped=True)
    groups.sort(key=lambda g: (-g.count, g.label))
    return Indicator("temps_etape", "Temps passé par étape", ("Circuit — étape", *DELAY_HEADERS),
                     tuple(_delay_rows(groups)), chart=2, unit="jours",
                     note="Étapes terminées dans la période, de leur ouverture à leur fin.")


def _overdue(scope: _Scope, by: str) -> Indicator:
    """Steps with a deadline opened in the period, and how many went (or are) past it."""
    now = min(scope.after, scope.now)
    late = or_(HumanTask.completed_at > HumanTask.due_at,
               and_(HumanTask.completed_at.is_(None), HumanTask.status == TaskStatus.OPEN,
                    HumanTask.due_at < now))
    group: Any = HumanTask.name if by == "step" else func.coalesce(
        Organisation.name, literal("Non attribuée"))
    query = select(group, func.count(), func.sum(sql_case((late, 1), else_=0))) \
        .select_from(HumanTask)
    if by != "step":
        query = query.outerjoin(Membership, and_(
            Membership.user_id == func.coalesce(HumanTask.completed_by_id, HumanTask.assignee_id),
            Membership.territory_id == HumanTask.territory_id,
            Membership.role == HumanTask.role)).outerjoin(
            Organisation, Organisation.id == Membership.organisation_id)
    rows = scope.rows(query.where(
        HumanTask.territory_id.in_(scope.ids), HumanTask.due_at.is_not(None),
        HumanTask.status != TaskStatus.CANCELLED,
        HumanTask.ready_at >= scope.first, HumanTask.ready_at < scope.after).group_by(group))
    table = _table(f"retard_{'etape' if by == 'step' else 'organisation'}",
                   "Taux de retard par étape" if by == "step" else
                   "Taux de retard par organisation",
                   ("Étape" if by == "step" else "Organisation", "Étapes avec échéance",
                    "En retard"), [(str(g), int(n), int(k or 0)) for g, n, k in rows],
                   note="Étapes ouvertes dans la période ; en retard : terminées après leur "
                        "échéance ou encore ouvertes après elle.")
    rows_with_rate = tuple((*r, _rate(r[2], r[1])) for r in table.rows)
    totals = (*table.totals, _rate(table.totals[2], table.totals[1])) if table.totals else None
    return Indicator(table.key, table.title, (*table.headers, "Taux de retard (%)"),
                     rows_with_rate, chart=3, unit="%", totals=totals, note=table.note)


def _rate(part: Cell, whole: Cell) -> Cell:
    if not isinstance(part, int) or not isinstance(whole, int) or not whole:
        return None
    return round(100 * part / whole, 1)


def _ends(scope: _Scope) -> Indicator:
    """Cases ended in the period, by circuit and end state (the end event's French name)."""
    end = func.coalesce(Case.end_label, Case.status)
    rows = scope.rows(
        select(Circuit.title, end, func.count()).select_from(Case)
        .join(Circuit, Circuit.id == Case.circuit_id)
        .where(Case.territory_id.in_(scope.ids), Case.closed_at >= scope.first,
               Case.closed_at < scope.after).group_by(Circuit.title, end))
    named = [(f"{circuit} — {STATUS_LABELS.get(state, state)}", int(n))
             for circuit, state, n in rows]
    return _counts("etats_fin", "États de fin par circuit", "Circuit — état de fin", named,
                   "dossiers", note="Dossiers terminés ou clôturés dans la période.")


def _needs(scope: _Scope) -> Indicator:
    """Needs recorded in the period by domain, and those nothing in the directory answered
    (no service of the domain, or only full ones) or a commission reported unmet."""
    unmet = or_(CaseFact.detail.in_([NO_SERVICE, NO_PLACE]), CaseFact.kind == UNMET_NEED)
    counts = [func.count(func.distinct(sql_case((unmet, CaseFact.case_id))))] + [
        func.count(func.distinct(sql_case((CaseFact.detail == d, CaseFact.case_id))))
        for d in (NO_SERVICE, NO_PLACE)]
    rows = scope.rows(
        select(CaseFact.label, func.count(func.distinct(
            sql_case((CaseFact.kind == NEED, CaseFact.case_id)))), *counts,
               func.count(func.distinct(sql_case((CaseFact.kind == UNMET_NEED,
                                                   CaseFact.case_id)))))
        .where(CaseFact.territory_id.in_(scope.ids), CaseFact.kind.in_([NEED, UNMET_NEED]),
               CaseFact.recorded_at >= scope.first, CaseFact.recorded_at < scope.after)
        .group_by(CaseFact.label))
    table = _table("besoins_non_couverts", "Besoins non couverts par domaine",
                   ("Domaine", "Ménages ayant ce besoin", "Besoin non couvert",
                    "dont : aucun service", "dont : aucune place libre",
                    "dont : signalé en commission"),
                   [(str(r[0]), *[int(n) for n in r[1:]]) for r in rows],
                   note="Un besoin est non couvert quand l'annuaire n'avait, lorsqu'il a été "
                        "noté, aucun service de ce domaine ou seulement des services "
                        "complets, ou quand une commission l'a signalé non couvert. Un "
                        "ménage compte une fois par domaine, et peut avoir plusieurs besoins.")
    return Indicator(table.key, table.title, table.headers, table.rows, chart=2,
                     unit="ménages", totals=table.totals, note=table.note)


def _evictions(scope: _Scope) -> Indicator:
    """Eviction procedures (cases opened in the period with a stage recorded) by the
    furthest stage reached and their outcome (end state, or « en cours »)."""
    reached = (select(CaseFact.case_id, func.max(CaseFact.detail).label("stage"))
               .where(CaseFact.territory_id.in_(scope.ids), CaseFact.kind == EVICTION_STAGE)
               .group_by(CaseFact.case_id).subquery())
    outcome = func.coalesce(Case.end_label, Case.status)
    rows = scope.rows(select(reached.c.stage, outcome, func.count())
                      .select_from(reached).join(Case, Case.id == reached.c.case_id)
                      .where(*scope.cases()).group_by(reached.c.stage, outcome))
    stages = dict(scope.rows(select(CaseFact.detail, func.min(CaseFact.label)).where(
        CaseFact.territory_id.in_(scope.ids), CaseFact.kind == EVICTION_STAGE)
        .group_by(CaseFact.detail)))
    named = [(f"{stages.get(stage, stage)} — {STATUS_LABELS.get(state, state)}", int(n))
             for stage, state, n in sorted(rows)]
    indicator = _counts("expulsions", "Procédures d'expulsion par stade atteint et issue",
                        "Stade atteint — issue", named, "ménages",
                        note="Le stade le plus avancé noté au dossier ; l'issue est l'état "
                             "de fin du dossier, ou « En cours ».", ordered=True)
    return indicator


def csv_rows(stats: Statistics) -> list[list[Cell]]:
    """The aggregates as CSV lines (French headers; hidden counts as « < 5 »): per
    indicator its title, its header line, its lines and its total, then an empty line."""
    out: list[list[Cell]] = [["Période", stats.period.start.strftime("%d/%m/%Y"),
                              stats.period.end.strftime("%d/%m/%Y")],
                             ["Territoires", " ; ".join(stats.territories)],
                             ["Demandes", _text(stats.requests)], []]
    for indicator in stats.indicators:
        out.append([indicator.title])
        out.append(list(indicator.headers))
        rows = [*indicator.rows, *([indicator.totals] if indicator.totals else [])]
        out += [[_text(c) for c in row] for row in rows]
        out.append([])
    return out


def _text(cell: Cell) -> Cell:
    if cell is None:
        return HIDDEN_TEXT
    return str(cell).replace(".", ",") if isinstance(cell, float) else cell


def places(session: Session, actor: Actor) -> list[tuple[int, str]]:
    """The territories whose statistics the actor reads, by name (none: an empty list)."""
    ids = statistics_territories(actor)
    return [(i, n) for i, n in session.execute(
        select(Territory.id, Territory.name).where(Territory.id.in_(ids))
        .order_by(Territory.name))] if ids else []
