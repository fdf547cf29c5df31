"""Statistics (issue #16 item 1) against a hand-built territory with known numbers, on SQLite
and PostgreSQL: each indicator, the small-count rule, refusals and period errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.core.forms import form_from_schema
from engine.errors import InvalidInput, PermissionDenied
from engine.persistence.models import (
    Case,
    CaseFact,
    CaseParty,
    DirectoryService,
    HumanTask,
    Orientation,
)
from engine.services import case_facts, statistics
from engine.services.access import SYSTEM, Actor
from engine.services.statistics import Indicator, Period, Statistics
from tests.integration.factories import World, make_org, make_user, make_world

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
PERIOD = Period(date(2026, 1, 1), date(2026, 6, 30))
DAY = timedelta(days=1)


@dataclass
class Built:
    world: World
    admin: Actor
    org_a: int
    org_b: int


@pytest.fixture
def built(session: Session, clock: FixedClock) -> Built:
    clock.set(NOW)
    world = make_world(session, clock)
    admin = make_user(session, clock, "admin@demo.test", world.territory.id, "admin")
    org_a = make_org(session, clock, world.territory.id, "Association Alpha")
    org_b = make_org(session, clock, world.territory.id, "Association Bêta")
    return Built(world, admin, org_a, org_b)


def _case(session: Session, world: World, n: int, created: datetime, **kw: object) -> Case:
    row = Case(reference=f"T-{n:05d}", territory_id=world.territory.id,
               circuit_id=world.circuit.id, circuit_version_id=world.circuit.active_version_id,
               household_name=f"Ménage {n}", status=kw.pop("status", "open"), created_at=created,
               **kw)
    session.add(row)
    session.flush()
    return row


def _fact(session: Session, case: Case, kind: str, value: str, label: str, detail: str = "",
          at: datetime | None = None) -> None:
    session.add(CaseFact(territory_id=case.territory_id, case_id=case.id, kind=kind,
                         value=value, label=label, detail=detail,
                         recorded_at=at or case.created_at))


def _orientation(session: Session, case: Case, org: int, measure: str, state: str,
                 answered: timedelta | None = None, reasons: list[str] | None = None) -> None:
    service = session.query(DirectoryService).filter_by(organisation_id=org).first()
    if service is None:
        service = DirectoryService(territory_id=case.territory_id, organisation_id=org,
                                   measure=measure, name=f"Service {org}", created_at=NOW,
                                   updated_at=NOW, domains=[], communes=[])
        session.add(service)
        session.flush()
    at = case.created_at + 2 * DAY
    session.add(Orientation(territory_id=case.territory_id, case_id=case.id,
                            service_id=service.id, organisation_id=org, measure=measure,
                            state=state, created_at=at, updated_at=at,
                            answered_at=at + answered if answered else None,
                            reasons=reasons or []))


def _step(session: Session, case: Case, name: str, ready: datetime, days: float | None,
          due_days: int | None) -> None:
    done = ready + timedelta(days=days) if days is not None else None
    session.add(HumanTask(case_id=case.id, territory_id=case.territory_id,
                          circuit_id=case.circuit_id, spiff_task_id=f"{case.id}-{name}-{days}",
                          bpmn_id=name, name=name, role="coordination",
                          status="completed" if done else "open", ready_at=ready,
                          due_at=ready + timedelta(days=due_days) if due_days else None,
                          due_sort=ready + timedelta(days=due_days or 3000),
                          completed_at=done))


def _find(stats: Statistics, key: str) -> Indicator:
    return next(i for i in stats.indicators if i.key == key)


def _rows(indicator: Indicator) -> dict[str, tuple[object, ...]]:
    return {str(r[0]): r[1:] for r in indicator.rows}


def _territory(session: Session, built: Built) -> list[Case]:
    """12 requests in the period (7 from a partner, 3 from the person, 2 without route),
    2 before it."""
    world = built.world
    start = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
    rows = [_case(session, world, n, start + n * DAY) for n in range(12)]
    for n in (100, 101):
        _case(session, world, n, datetime(2024, 5, 1, tzinfo=UTC))
    for n, row in enumerate(rows):
        if n < 7:
            _fact(session, row, "entry_route", "partenaire", "Saisine par un partenaire")
            session.add(CaseParty(case_id=row.id, part="referrer", organisation_id=built.org_a,
                                  since=row.created_at, reason="Ouverture"))
        elif n < 10:
            _fact(session, row, "entry_route", "personne", "Demande de la personne")
    session.flush()
    return rows


def test_requests_by_route_and_referrer(session: Session, built: Built) -> None:
    _territory(session, built)
    stats = statistics.compute(session, FixedClock(NOW), built.admin, PERIOD)
    assert stats.requests == 12
    route = _find(stats, "demandes_canal")
    # 3 and 2 are hidden; two hidden cells: no second one needed
    assert _rows(route) == {"Saisine par un partenaire": (7,), "Demande de la personne": (None,),
                            "Non renseigné": (None,)}
    assert route.totals == ("Total", 12)
    referrer = _rows(_find(stats, "demandes_orienteur"))
    # 5 without referrer: shown; 7 from Alpha
    assert referrer == {"Association Alpha": (7,), "Structure non renseignée": (5,)}


def test_orientations_outcomes_refusals_and_delays(session: Session, built: Built) -> None:
    rows = _territory(session, built)
    for n, row in enumerate(rows[:10]):
        state = "acceptee" if n < 6 else "refusee" if n < 9 else "expiree"
        _orientation(session, row, built.org_a, "avdl", state,
                     answered=timedelta(days=n + 1) if state != "expiree" else None,
                     reasons=["pas_de_place"] if state == "refusee" else None)
    session.flush()
    stats = statistics.compute(session, FixedClock(NOW), built.admin, PERIOD)
    measure = _rows(_find(stats, "orientations_mesure"))
    label = "AVDL — Accompagnement vers et dans le logement"
    # 10 sent, 6 accepted, 3 refused (hidden), 1 expired (hidden), 0 cancelled, 0 open
    assert measure == {label: (10, 6, None, None, 0, 0)}
    operator = _rows(_find(stats, "orientations_operateur"))
    assert operator["Association Alpha"][0] == 10
    refusals = _find(stats, "refus_motif")
    assert _rows(refusals) == {"Pas de place disponible": (None,)}
    assert refusals.totals == ("Total", None)
    delays = _rows(_find(stats, "delais"))
    # request → orientation: 10 cases, 2 days each
    assert delays["Demande → première orientation"] == (10, 2.0, 2.0)
    # orientation → answer: 9 answered after 1..9 days: median rank 5 → 5, p90 rank 9 → 9
    assert delays["Orientation → réponse de l'opérateur"] == (9, 5.0, 9.0)


def test_time_per_step_and_overdue_rate(session: Session, built: Built) -> None:
    rows = _territory(session, built)
    ready = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    for n, days in enumerate((1, 2, 3, 4, 5, 6, 7, 8, 9, 10)):
        _step(session, rows[n], "Analyser", ready, days, due_days=4)
    _step(session, rows[10], "Analyser", ready, None, due_days=4)  # open, past due
    _step(session, rows[11], "Décider", ready, 2, due_days=None)
    session.flush()
    stats = statistics.compute(session, FixedClock(NOW), built.admin, PERIOD)
    steps = _rows(_find(stats, "temps_etape"))
    title = built.world.circuit.title
    # 10 completed: median rank 5 → 5 days, p90 rank 9 → 9 days; « Décider »: 1, hidden
    assert steps[f"{title} — Analyser"] == (10, 5.0, 9.0)
    assert steps[f"{title} — Décider"] == (None, None, None)
    overdue = _rows(_find(stats, "retard_etape"))
    # 11 with a deadline, 6 done late + 1 open past due = 7 → 63.6 %
    assert overdue["Analyser"] == (11, 7, 63.6)
    by_org = _rows(_find(stats, "retard_organisation"))
    assert by_org["Non attribuée"] == (11, 7, 63.6)


def test_end_states_needs_and_evictions(session: Session, built: Built) -> None:
    world = built.world
    closed = datetime(2026, 4, 1, tzinfo=UTC)
    for n in range(8):
        _case(session, world, 200 + n, closed - 30 * DAY, status="completed", closed_at=closed,
              end_label="Accompagnement terminé" if n < 6 else "Refus de la personne")
    rows = _territory(session, built)
    for n, row in enumerate(rows[:9]):
        _fact(session, row, "need", "mental", "Problématiques psychiques",
              detail="sans_service" if n < 6 else "servi")
        if n < 5:
            _fact(session, row, "unmet_need", "mental", "Problématiques psychiques",
                  detail="signale")
    stages = [("02", "Commandement de payer"), ("05", "Audience")]
    for n, row in enumerate(rows[:11]):
        _fact(session, row, "eviction_stage", "commandement_payer", stages[0][1], "02")
        if n < 6:
            _fact(session, row, "eviction_stage", "audience", stages[1][1], "05")
    session.flush()
    stats = statistics.compute(session, FixedClock(NOW), built.admin, PERIOD)
    ends = _rows(_find(stats, "etats_fin"))
    title = world.circuit.title
    # 6 and 2: the 2 hidden, and nothing else to hide it behind (the total is 8)
    assert ends == {f"{title} — Accompagnement terminé": (None,),
                    f"{title} — Refus de la personne": (None,)}
    needs = _rows(_find(stats, "besoins_non_couverts"))
    # 9 households with the need; unmet for 6 (no service; the 5 reported are among them),
    # 0 with no place
    assert needs == {"Problématiques psychiques": (9, 6, 6, 0, 5)}
    evictions = _find(stats, "expulsions")
    # furthest stage: 6 at the hearing, 5 at the payment order, all still open
    assert _rows(evictions) == {"Commandement de payer — En cours": (5,),
                                "Audience — En cours": (6,)}


def test_three_households_are_never_counted_out_loud(session: Session, built: Built) -> None:
    """The small-count rule: a territory with 3 households shows « < 5 » everywhere, and
    neither the totals nor the CSV give the 3 back."""
    world = built.world
    for n in range(3):
        row = _case(session, world, n, datetime(2026, 3, 1 + n, tzinfo=UTC))
        _fact(session, row, "entry_route", "personne", "Demande de la personne")
        _fact(session, row, "need", "mental", "Problématiques psychiques", "sans_service")
        _orientation(session, row, built.org_a, "avdl", "acceptee", answered=DAY)
    session.flush()
    stats = statistics.compute(session, FixedClock(NOW), built.admin, PERIOD)
    assert stats.requests is None
    for indicator in stats.indicators:
        cells = [c for r in (*indicator.rows, *([indicator.totals] or [])) if r
                 for c in r[1:]]
        assert all(c in (None, 0) for c in cells), (indicator.key, cells)
    lines = statistics.csv_rows(stats)
    cells = [str(c) for line in lines for c in line]
    assert "< 5" in cells
    assert not {"1", "2", "3", "4"} & set(cells)


def test_only_those_who_oversee_read_statistics(session: Session, built: Built,
                                                clock: FixedClock) -> None:
    world = built.world
    with pytest.raises(PermissionDenied):
        statistics.compute(session, clock, world.operator, PERIOD)
    with pytest.raises(PermissionDenied):
        statistics.compute(session, clock, world.outsider, PERIOD, world.territory.id)
    with pytest.raises(PermissionDenied):
        statistics.compute(session, clock, SYSTEM, PERIOD)
    with pytest.raises(PermissionDenied):  # the right first, whatever the dates say
        statistics.asked(session, clock, world.operator, "31/12/2026", "01/01/2026")
    with pytest.raises(InvalidInput):
        statistics.asked(session, clock, world.coordinator, "31/12/2026", "01/01/2026")
    mine = statistics.compute(session, clock, world.coordinator, PERIOD, world.territory.id)
    assert mine.territories == (world.territory.name,)
    every = statistics.compute(session, clock, world.outsider, PERIOD)
    assert world.territory.name not in every.territories


def test_periods(clock: FixedClock) -> None:
    today = FixedClock(NOW)
    default = statistics.period_of(today)
    assert default == Period(date(2025, 6, 16), date(2026, 6, 15))
    assert statistics.period_of(today, "01/02/2026", "2026-03-31") == Period(
        date(2026, 2, 1), date(2026, 3, 31))
    with pytest.raises(InvalidInput, match="se termine le 01/01/2026 avant de commencer"):
        statistics.period_of(today, "02/01/2026", "01/01/2026")
    for bad in ("31/02/2026", "2026/01/01", "hier", "1/1/26", "\x00"):
        with pytest.raises(InvalidInput, match="JJ/MM/AAAA"):
            statistics.period_of(today, bad)
    with pytest.raises(InvalidInput, match="trop longue"):
        statistics.period_of(today, "01/01/1990", "01/01/2026")


def test_a_marked_form_records_its_facts(session: Session, built: Built,
                                         clock: FixedClock) -> None:
    """Entry route replaced by a new answer, needs matched against the directory."""
    world = built.world
    session.add(DirectoryService(territory_id=world.territory.id, organisation_id=built.org_a,
                                 measure="asll", name="Soin", created_at=NOW, updated_at=NOW,
                                 domains=["mental"], communes=[], domain_tags="|mental|",
                                 places_available=0))
    row = _case(session, world, 1, NOW)
    form = form_from_schema({"type": "object", "properties": {
        "canal": {"type": "string", "x-aiguillage-statistic": "entry_route",
                  "oneOf": [{"const": "siao", "title": "Demande transmise par le SIAO"}]},
        "besoins": {"type": "array", "x-aiguillage-statistic": "need",
                    "items": {"type": "string", "enum": ["MENTAL", "LEGAL", "NOPE"]}},
        "autre": {"type": "string", "x-aiguillage-statistic": "inconnu"}}})
    assert case_facts.record(session, clock, row, form, {"canal": "siao",
                                                          "besoins": ["MENTAL", "LEGAL"]}) == 3
    assert case_facts.record(session, clock, row, form, {"canal": "siao"}) == 1
    facts = {(f.kind, f.value): (f.label, f.detail) for f in
             session.query(CaseFact).filter_by(case_id=row.id)}
    assert facts == {("entry_route", "siao"): ("Demande transmise par le SIAO", ""),
                     ("need", "mental"): ("Problématiques psychiques", "sans_place"),
                     ("need", "legal"): ("Problématiques juridiques", "sans_service")}
