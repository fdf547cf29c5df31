"""The twelve indicators of the statistics page, each one or two SQL reads over the record
tables (``case``, ``human_task``, ``orientation``, ``case_party``, ``case_fact``,
``membership``) covered by their indexes, for the territories and period of a ``Scope``.
Every count leaves through the small-count rule (``engine.core.statistics``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, func, or_, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from engine.core.directory import MEASURES
from engine.core.orientation import ACCEPTED, CANCELLED, EXPIRED, OPEN_STATES, REFUSED
from engine.core.statistics import (
    ENTRY_ROUTE,
    EVICTION_FURTHEST,
    NEED,
    NO_PLACE,
    NO_SERVICE,
    UNMET_NEED,
    hidden,
    suppress,
    total,
)
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
)
from engine.persistence.models.case import CaseStatus
from engine.persistence.models.human_task import TaskStatus
from engine.services.delays import Durations, counted_hours

NOT_GIVEN = "Non renseigné"
STATUS_LABELS = {CaseStatus.CLOSED: "Clôturé sans état de fin", CaseStatus.COMPLETED: "Terminé",
                 CaseStatus.CANCELLED: "Annulé", CaseStatus.ERROR: "En erreur",
                 CaseStatus.OPEN: "En cours"}
Cell = str | int | float | None  # None: a count too small to show (« < 5 »)



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
class Scope:
    """What every indicator counts: territories and the period's instants."""

    session: Session
    ids: list[int]
    first: datetime
    after: datetime
    now: datetime

    requests: int = 0
    memo: dict[str, Any] = field(default_factory=dict, compare=False)

    def facts(self, *kinds: str, until: bool = True) -> list[Any]:
        """The facts of these kinds recorded in the period (from its start only: ``until``
        false)."""
        return [CaseFact.territory_id.in_(self.ids), CaseFact.kind.in_(kinds),
                CaseFact.recorded_at >= self.first,
                *([CaseFact.recorded_at < self.after] if until else [])]

    def orientations(self) -> list[Any]:
        """The orientations sent in the period."""
        return [Orientation.territory_id.in_(self.ids), Orientation.created_at >= self.first,
                Orientation.created_at < self.after]

    def cases(self) -> list[Any]:
        """The requests of the period: cases opened in it."""
        return [Case.territory_id.in_(self.ids), Case.created_at >= self.first,
                Case.created_at < self.after]

    def rows(self, query: Any) -> list[Any]:
        """The query's rows, as plain rows (Core: no ORM loading for counts)."""
        return list(self.session.connection().execute(query).all())



def parts(scope: Scope) -> list[tuple[str, Callable[[], Indicator]]]:
    """Each indicator's computation, named (``bench/statistics_page.py`` times them apart)."""
    return [("demandes par canal", lambda: _by_route(scope)),
            ("demandes par orienteur", lambda: _by_referrer(scope)),
            ("orientations par mesure", lambda: _orientations(scope, "measure")),
            ("orientations par opérateur", lambda: _orientations(scope, "operator")),
            ("refus par motif", lambda: _refusals(scope)),
            ("délais", lambda: _delays(scope)),
            ("temps par étape", lambda: _steps_time(scope)),
            ("retard par étape", lambda: _overdue(scope, "step")),
            ("retard par organisation", lambda: _overdue(scope, "organisation")),
            ("états de fin", lambda: _ends(scope)),
            ("besoins non couverts", lambda: _needs(scope)),
            ("expulsions", lambda: _evictions(scope))]



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


def _by_route(scope: Scope) -> Indicator:
    """Requests by entry route: the facts recorded as they came (one per case), read on
    their index; the requests without one make « non renseigné »."""
    rows = scope.rows(select(CaseFact.label, func.count()).where(*scope.facts(ENTRY_ROUTE))
                      .group_by(CaseFact.label))
    counted = [(str(label), int(n)) for label, n in rows]
    rest = scope.requests - sum(n for _, n in counted)
    return _counts("demandes_canal", "Demandes par canal d'entrée", "Canal d'entrée",
                   counted + ([(NOT_GIVEN, rest)] if rest > 0 else []), "demandes")


def _by_referrer(scope: Scope) -> Indicator:
    """Requests by the organisation that referred them (the current « structure qui
    oriente », counted from the day it became one), read on the parties' index."""
    rows = scope.rows(
        select(CaseParty.organisation_id, func.count()).select_from(CaseParty)
        .join(Case, Case.id == CaseParty.case_id)
        .where(CaseParty.part == "referrer", CaseParty.until.is_(None),
               CaseParty.since >= scope.first, CaseParty.since < scope.after,
               Case.territory_id.in_(scope.ids))
        .group_by(CaseParty.organisation_id))
    names = dict(scope.rows(select(Organisation.id, Organisation.name).where(
        Organisation.id.in_([o for o, _ in rows])))) if rows else {}
    counted = [(str(names.get(o, "Structure inconnue")), int(n)) for o, n in rows]
    rest = scope.requests - sum(n for _, n in counted)
    return _counts("demandes_orienteur", "Demandes par structure qui oriente",
                   "Structure qui oriente",
                   counted + ([("Structure non renseignée", rest)] if rest > 0 else []),
                   "demandes")


OUTCOMES = (("Acceptées", (ACCEPTED,)), ("Refusées", (REFUSED,)), ("Expirées", (EXPIRED,)),
            ("Annulées", (CANCELLED,)), ("Sans réponse encore", tuple(sorted(OPEN_STATES))))


def _orientations(scope: Scope, by: str) -> Indicator:
    """Orientations sent in the period by measure (or operator), with their outcome now."""
    group = Orientation.measure if by == "measure" else Orientation.organisation_id
    rows = scope.rows(select(group, Orientation.state, func.count()).where(
        *scope.orientations()).group_by(group, Orientation.state))
    names = {} if by == "measure" else dict(scope.rows(select(
        Organisation.id, Organisation.name).where(Organisation.id.in_({r[0] for r in rows}))))
    table: dict[str, list[int]] = {}
    for key, state, n in rows:
        label = MEASURES.get(str(key), str(key)) if by == "measure" else \
            str(names.get(key, "Opérateur inconnu"))
        line = table.setdefault(label, [0] * (len(OUTCOMES) + 1))
        line[0] += int(n)
        for i, (_, states) in enumerate(OUTCOMES, start=1):
            line[i] += int(n) if state in states else 0
    title, header = (("Orientations par mesure et leur issue", "Mesure") if by == "measure"
                     else ("Orientations par opérateur et leur issue", "Opérateur"))
    return _table(f"orientations_{'mesure' if by == 'measure' else 'operateur'}", title,
                  (header, "Orientations", *[name for name, _ in OUTCOMES]),
                  [(label, *counts) for label, counts in table.items()])


def _table(key: str, title: str, headers: tuple[str, ...], rows: list[tuple[Any, ...]],
           note: str = "", chart: int = 1, unit: str = "") -> Indicator:
    """A table of counts (label, counts…), largest first, each column suppressed on its own,
    with a total line."""
    rows = sorted(rows, key=lambda r: (-r[1], r[0]))
    columns = [suppress([r[i] for r in rows]) for i in range(1, len(headers))]
    shown = tuple((r[0], *[c[n] for c in columns]) for n, r in enumerate(rows))
    totals = ("Total", *[total([r[i] for r in rows]) for i in range(1, len(headers))])
    return Indicator(key, title, headers, shown, chart=chart, unit=unit, totals=totals,
                     note=note)


def _refusals(scope: Scope) -> Indicator:
    """Refusals of the period's orientations by reason (one refusal may give several): SQL
    counts each set of reasons (a few dozen), the reasons are read from those."""
    reasons = cast(Orientation.reasons, String)
    rows = scope.rows(select(Orientation.territory_id, reasons, func.count()).where(
        *scope.orientations(), Orientation.state == REFUSED)
        .group_by(Orientation.territory_id, reasons))
    labels = {(t, c): label for t, c, label in scope.rows(select(
        RefusalReason.territory_id, RefusalReason.code, RefusalReason.label)
        .where(RefusalReason.territory_id.in_(scope.ids)))}
    counted: Counter[str] = Counter()
    for territory, text, n in rows:
        codes = _codes(text)
        for code in codes or [None]:
            counted[labels.get((territory, code), "Motif non précisé") if code else
                    "Motif non précisé"] += int(n)
    return _counts("refus_motif", "Refus par motif", "Motif de refus", list(counted.items()),
                   "refus", note="Un refus peut donner plusieurs motifs.")


def _codes(text: str | None) -> list[Any]:
    """The reason codes of a refusal, as stored (a JSON list; anything else: none)."""
    try:
        found = json.loads(text) if text else None
    except ValueError:
        return []
    return list(found) if isinstance(found, list) else []


def _delay_rows(groups: list[tuple[str, Durations | None]]) -> list[tuple[Cell, ...]]:
    out: list[tuple[Cell, ...]] = []
    for label, g in groups:
        small = g is None or hidden(g.count)
        out.append((label, None if small or g is None else g.count,
                    None if small or g is None else g.median,
                    None if small or g is None else g.p90))
    return out


DELAY_HEADERS = ("Nombre", "Médiane (jours)", "90e centile (jours)")


def _delays(scope: Scope) -> Indicator:
    """First orientation of a case sent in the period ← its request; orientation sent in
    the period → the operator's answer (days): the whole hours each took, written on the
    orientation when it was sent and when it was answered, counted on their index."""
    sent = [*scope.orientations()]
    request = counted_hours(scope.session, (), Orientation.request_hours,
                            select_from=Orientation,
                            where=[*sent, Orientation.request_hours.is_not(None)])
    answer = counted_hours(scope.session, (), Orientation.answer_hours,
                           select_from=Orientation,
                           where=[*sent, Orientation.answer_hours.is_not(None)])
    return Indicator("delais", "Délais de l'orientation", ("Délai", *DELAY_HEADERS),
                     tuple(_delay_rows([
                         ("Demande → première orientation", request[0] if request else None),
                         ("Orientation → réponse de l'opérateur",
                          answer[0] if answer else None)])),
                     chart=2, unit="jours", note="Orientations envoyées dans la période.")


def _steps_time(scope: Scope) -> Indicator:
    """Time spent on each step completed in the period (ready → completed, days): the whole
    hours each took, written when it was completed, counted on their index."""
    groups = counted_hours(scope.session, (HumanTask.circuit_id, HumanTask.name),
                           HumanTask.hours_taken, select_from=HumanTask,
                           where=[HumanTask.territory_id.in_(scope.ids),
                                  HumanTask.status == TaskStatus.COMPLETED,
                                  HumanTask.completed_at >= scope.first,
                                  HumanTask.completed_at < scope.after,
                                  HumanTask.hours_taken.is_not(None)])
    titles = dict(scope.rows(select(Circuit.id, Circuit.title).where(
        Circuit.id.in_({g.group[0] for g in groups})))) if groups else {}
    named = sorted(((f"{titles.get(g.group[0], '')} — {g.group[1]}", g) for g in groups),
                   key=lambda pair: (-pair[1].count, pair[0]))
    return Indicator("temps_etape", "Temps passé par étape", ("Circuit — étape", *DELAY_HEADERS),
                     tuple(_delay_rows([(label, g) for label, g in named])), chart=2,
                     unit="jours",
                     note="Étapes terminées dans la période, de leur ouverture à leur fin.")


def _overdue(scope: Scope, by: str) -> Indicator:
    """Steps with a deadline opened in the period, and how many went (or are) past it."""
    rows = _deadlines(scope)
    counted: list[tuple[str, int, int]]
    if by == "step":
        steps: dict[str, list[int]] = {}
        for name, _, _, _, n, late in rows:
            line = steps.setdefault(str(name), [0, 0])
            line[0], line[1] = line[0] + n, line[1] + late
        counted = [(name, n, late) for name, (n, late) in steps.items()]
    else:
        counted = _by_organisation(scope, [r[1:] for r in rows])
    table = _table(f"retard_{'etape' if by == 'step' else 'organisation'}",
                   "Taux de retard par étape" if by == "step" else
                   "Taux de retard par organisation",
                   ("Étape" if by == "step" else "Organisation", "Étapes avec échéance",
                    "En retard"), counted,
                   note="Étapes ouvertes dans la période ; en retard : terminées après leur "
                        "échéance ou encore ouvertes après elle. L'organisation est celle "
                        "de la personne qui a fait l'étape (ou la tient).")
    rows_with_rate = tuple((*r, _rate(r[2], r[1])) for r in table.rows)
    totals = (*table.totals, _rate(table.totals[2], table.totals[1])) if table.totals else None
    return Indicator(table.key, table.title, (*table.headers, "Taux de retard (%)"),
                     rows_with_rate, chart=3, unit="%", totals=totals, note=table.note)


def _deadlines(scope: Scope) -> list[tuple[str, int | None, str | None, int, int, int]]:
    """(step, person, role, territory, steps, late) for the steps with a deadline opened in
    the period: one read of their index serves both overdue tables (kept on the scope)."""
    if "deadlines" not in scope.memo:
        now = min(scope.after, scope.now)
        late = or_(HumanTask.completed_at > HumanTask.due_at,
                   and_(HumanTask.completed_at.is_(None), HumanTask.status == TaskStatus.OPEN,
                        HumanTask.due_at < now))
        # grouped in the order of ix_human_task_stat_ready (no sort on SQLite); the person
        # is the one who did the step, else the one holding it
        groups = (HumanTask.territory_id, HumanTask.name, HumanTask.role,
                  HumanTask.completed_by_id, HumanTask.assignee_id)
        rows = scope.rows(
            select(*groups, func.count(), func.sum(sql_case((late, 1), else_=0)))
            .where(HumanTask.territory_id.in_(scope.ids), HumanTask.due_at.is_not(None),
                   HumanTask.status != TaskStatus.CANCELLED,
                   HumanTask.ready_at >= scope.first, HumanTask.ready_at < scope.after)
            .group_by(*groups))
        counted: dict[tuple[str, int | None, str | None, int], list[int]] = {}
        for territory, name, role, done_by, holder, n, k in rows:
            who = done_by if done_by is not None else holder
            line = counted.setdefault((str(name), who, role, int(territory)), [0, 0])
            line[0], line[1] = line[0] + int(n), line[1] + int(k or 0)
        scope.memo["deadlines"] = [(*key, n, k) for key, (n, k) in counted.items()]
    result: list[tuple[str, int | None, str | None, int, int, int]] = scope.memo["deadlines"]
    return result


def _by_organisation(scope: Scope, rows: list[Any]) -> list[tuple[str, int, int]]:
    """(person, role, territory, steps, late) → per organisation of the person's membership
    for that role (« non attribuée » without one): the few memberships are read apart."""
    members = {(u, r, t): o for u, r, t, o in scope.rows(select(
        Membership.user_id, Membership.role, Membership.territory_id,
        Membership.organisation_id).where(Membership.territory_id.in_(scope.ids)))}
    names = dict(scope.rows(select(Organisation.id, Organisation.name).where(
        Organisation.territory_id.in_(scope.ids))))
    out: dict[str, list[int]] = {}
    for user, role, territory, n, late in rows:
        org = members.get((user, role, territory))
        line = out.setdefault(str(names[org]) if org in names else "Non attribuée", [0, 0])
        line[0] += int(n)
        line[1] += int(late or 0)
    return [(name, n, late) for name, (n, late) in out.items()]


def _rate(part: Cell, whole: Cell) -> Cell:
    if not isinstance(part, int) or not isinstance(whole, int) or not whole:
        return None
    return round(100 * part / whole, 1)


def _ends(scope: Scope) -> Indicator:
    """Cases ended in the period, by circuit and end state (the end event's French name)."""
    rows = scope.rows(
        select(Case.circuit_id, Case.end_label, Case.status, func.count())
        .where(Case.territory_id.in_(scope.ids), Case.closed_at >= scope.first,
               Case.closed_at < scope.after)
        .group_by(Case.circuit_id, Case.end_label, Case.status))
    titles = dict(scope.rows(select(Circuit.id, Circuit.title).where(
        Circuit.id.in_({r[0] for r in rows})))) if rows else {}
    named: Counter[str] = Counter()
    for circuit, label, state, n in rows:
        named[f"{titles.get(circuit, '')} — {label or STATUS_LABELS.get(state, state)}"] += n
    return _counts("etats_fin", "États de fin par circuit", "Circuit — état de fin",
                   list(named.items()), "dossiers",
                   note="Dossiers terminés ou clôturés dans la période.")


def _needs(scope: Scope) -> Indicator:
    """Needs recorded in the period by domain (each household once per domain: a new answer
    replaces the case's earlier one), those the directory did not answer when recorded (no
    service of the domain, or only full ones), and those a commission reported unmet."""
    rows = scope.rows(select(CaseFact.label, CaseFact.kind, CaseFact.detail, func.count())
                      .where(*scope.facts(NEED, UNMET_NEED))  # in ix_case_fact_count's order
                      .group_by(CaseFact.kind, CaseFact.label, CaseFact.detail))
    table: dict[str, list[int]] = {}
    for label, kind, detail, n in rows:
        line = table.setdefault(str(label), [0, 0, 0, 0, 0])
        if kind == UNMET_NEED:
            line[4] += int(n)
            continue
        line[0] += int(n)
        line[1] += int(n) if detail in (NO_SERVICE, NO_PLACE) else 0
        line[2] += int(n) if detail == NO_SERVICE else 0
        line[3] += int(n) if detail == NO_PLACE else 0
    return _table("besoins_non_couverts", "Besoins non couverts par domaine",
                  ("Domaine", "Ménages ayant ce besoin", "Besoin non couvert",
                   "dont : aucun service", "dont : aucune place libre",
                   "Signalés non couverts en commission"),
                  [(label, *counts) for label, counts in table.items()], chart=2,
                  unit="ménages",
                  note="Un besoin est non couvert quand l'annuaire n'avait, lorsqu'il a été "
                       "noté, aucun service de ce domaine ou seulement des services "
                       "complets. Un ménage compte une fois par domaine, et peut avoir "
                       "plusieurs besoins.")


def _evictions(scope: Scope) -> Indicator:
    """Eviction procedures (cases opened in the period with a stage recorded) by the
    furthest stage reached (the case's one ``EVICTION_FURTHEST`` fact, kept up to date as
    stages are recorded) and their outcome (end state, or « en cours »)."""
    rows = scope.rows(select(CaseFact.detail, CaseFact.label, Case.end_label, Case.status,
                             func.count())
                      .select_from(CaseFact).join(Case, Case.id == CaseFact.case_id)
                      .where(*scope.facts(EVICTION_FURTHEST, until=False), *scope.cases())
                      .group_by(CaseFact.detail, CaseFact.label, Case.end_label, Case.status))
    stages: dict[str, str] = {}
    for stage, name, _, _, _ in rows:  # a stage renamed since: its first name in order
        stages[stage] = min(stages.get(stage, name), name)
    named: Counter[tuple[str, str]] = Counter()
    for stage, _, label, state, n in rows:
        named[(stage, f"{stages[stage]} — "
                      f"{label or STATUS_LABELS.get(state, state)}")] += n
    return _counts("expulsions", "Procédures d'expulsion par stade atteint et issue",
                   "Stade atteint — issue", [(k[1], n) for k, n in sorted(named.items())],
                   "ménages", ordered=True,
                   note="Le stade le plus avancé noté au dossier ; l'issue est l'état de fin "
                        "du dossier, ou « En cours ».")
