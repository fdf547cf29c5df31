"""The statistics page's computation at volume: p50/p95 of ``statistics.compute`` (every
indicator of /statistiques for a territory, last 12 months) with 100k cases, on SQLite and
PostgreSQL; figures to read, never asserted anywhere (target: under 1 s).

Run: ``.venv/bin/python bench/statistics_page.py`` (``--no-postgres`` for SQLite alone,
``--no-sqlite`` for PostgreSQL alone, ``--cases N`` to change the size, ``--rounds N`` for
more samples, ``--keep FILE`` to fill a SQLite file once and measure it again,
``--pg-database NAME`` for a database of one's own, ``--pg-keep`` to fill it once and
measure it again; a kept file or database is brought to the current schema first).
Each indicator's line gives its wall time and the CPU time of this process (on SQLite the
whole query runs in it: the CPU figure stays readable on a loaded machine; on PostgreSQL it
is only the Python side).

What changed for issue #16: a completed step carries its whole hours
(``human_task.hours_taken``, written by the completion's upsert) instead of date arithmetic
per row; the statistics' indexes put the grouped columns before the period's range, so that
SQLite (which groups by sorting) reads the groups in order; a covering ``case_party`` index
serves the requests by referrer. Then (migration 0020): an orientation carries its delays in
whole hours (``request_hours`` on the case's first one, ``answer_hours``), written when they
happen; each case's furthest eviction stage is one ``case_fact`` kept up to date; refusals
are grouped by their set of reasons in SQL; the indicators read Core rows (no ORM loading);
``ix_case_stat_territory`` answers the referrers' territory from an index.

Figures at 100k cases (shared 2-core machine; wall times vary two- to threefold with the
other runs' load, the CPU figure much less). Before 0020, on a quiet run: SQLite p50 1.19 s,
p95 1.40 s wall, 0.82 s CPU (delays 163 ms, refusals 170 ms, evictions 137 ms, by referrer
114 ms of CPU); PostgreSQL p50 1.45 s on a loaded run. After, with ``--keep --pg-keep
--rounds 7`` on a quiet run: SQLite p50 554 ms, p95 645 ms wall, 547 ms CPU (delays 19 ms,
refusals 17 ms, evictions 36 ms, by referrer 36 ms; what is left: time per step 90 ms and
overdue 102 ms, which read the territory's whole history on their index); PostgreSQL p50
436 ms, p95 554 ms wall (time per step 106 ms, overdue 92 ms, needs 54 ms). The plain
command (``--pg-database NAME``, both filled afresh) then gave SQLite p50 397 ms, p95 454 ms
(390 ms CPU) and PostgreSQL p50 543 ms, p95 608 ms. Under a heavy load (load average 7 on 2
cores) SQLite measured p50 1.30 s wall for 0.61 s of CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

from engine.clock import FixedClock  # noqa: E402
from engine.core.directory import DOMAINS  # noqa: E402
from engine.errors import Unavailable  # noqa: E402
from engine.persistence.db import make_engine, session_factory  # noqa: E402
from engine.persistence.migrate import upgrade  # noqa: E402
from engine.persistence.models import (  # noqa: E402
    Case,
    CaseFact,
    CaseParty,
    Circuit,
    DirectoryService,
    HumanTask,
    Organisation,
    Orientation,
    User,
)
from engine.persistence.models.human_task import whole_hours  # noqa: E402
from engine.services import demo, statistics  # noqa: E402
from engine.services.access import load_actor  # noqa: E402
from tests.integration.conftest import PG_SERVER, create_pg_database  # noqa: E402

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PASSWORD = "mot-de-passe-de-bench"
ROUTES = (("partenaire", "Saisine par un partenaire"), ("personne", "Demande de la personne"),
          ("siao", "Demande transmise par le SIAO"))
STAGES = (("01", "Phase amiable"), ("02", "Commandement de payer"), ("04", "Assignation"),
          ("05", "Audience"), ("07", "Jugement de résiliation"), ("09", "Demande de concours"))
ENDS = ("Accompagnement terminé", "Relais droit commun", "Refus de la personne",
        "Maintien dans le logement (dette résorbée / plan respecté)", "Expulsion effective")
STEPS = ("Vérifier la recevabilité", "Analyser la demande", "Évaluer la situation",
         "Décider de l'orientation", "Suivre l'accompagnement")
STATES = ("acceptee",) * 5 + ("refusee",) * 3 + ("expiree", "envoyee", "liste_attente")
REASONS = ("pas_de_place", "hors_secteur", "public", "besoins", "injoignable")


def percentiles(samples: list[float]) -> tuple[float, float]:
    """Nearest-rank p50 and p95."""
    ordered = sorted(samples)

    def rank(share: float) -> float:
        rank = -(-int(share * 100) * len(ordered) // 100)
        return ordered[max(0, min(len(ordered), rank) - 1)]
    return rank(0.5), rank(0.95)


def fill(url: str, size: int) -> int:
    """The demo territory grown to ``size`` synthetic cases (rows only); its id."""
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    clock = FixedClock(T0)
    begin = time.perf_counter()
    with sessions() as session:
        territory_id = demo.load(session, clock, ROOT, PASSWORD, cases_per_circuit=0)
        world = _world(session, territory_id)
        rng = random.Random(16)
        for start in range(0, size, 5000):
            _chunk(session, rng, world, start, min(5000, size - start))
        session.commit()
    if url.startswith("postgresql"):  # what autovacuum does soon after a bulk load, at once
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    print(f"  filled in {time.perf_counter() - begin:.0f} s: {size} cases")
    return territory_id


def _world(session: Any, territory_id: int) -> dict[str, Any]:
    circuits = list(session.execute(select(Circuit.id, Circuit.active_version_id, Circuit.key)
                                    .where(Circuit.territory_id == territory_id)))
    services = list(session.execute(select(DirectoryService.id, DirectoryService.organisation_id,
                                           DirectoryService.measure)
                                    .where(DirectoryService.territory_id == territory_id)))
    orgs = list(session.scalars(select(Organisation.id).where(
        Organisation.territory_id == territory_id)))
    first = (session.scalar(select(Case.id).order_by(Case.id.desc()).limit(1)) or 0) + 1
    return {"territory": territory_id, "circuits": circuits, "services": services,
            "orgs": orgs, "first": first}


def _chunk(session: Any, rng: random.Random, world: dict[str, Any], start: int,  # noqa: C901
           size: int) -> None:
    territory = world["territory"]
    rows: dict[Any, list[dict[str, Any]]] = {m: [] for m in (Case, CaseParty, CaseFact,
                                                             HumanTask, Orientation)}
    for n in range(start, start + size):
        case_id = world["first"] + n
        circuit_id, version_id, key = world["circuits"][n % len(world["circuits"])]
        created = T0 - timedelta(days=rng.uniform(0, 730))
        closed = created + timedelta(days=rng.uniform(20, 300)) if rng.random() < 0.5 else None
        closed = closed if closed and closed < T0 else None
        rows[Case].append({
            "id": case_id, "reference": f"BENCH-{case_id:07d}", "territory_id": territory,
            "circuit_id": circuit_id, "circuit_version_id": version_id,
            "household_name": f"Ménage {case_id} (fictif)",
            "status": "completed" if closed else "open", "version": 1, "created_at": created,
            "closed_at": closed, "end_label": rng.choice(ENDS) if closed else None})
        rows[CaseParty].append({"case_id": case_id, "part": "referrer",
                                "organisation_id": rng.choice(world["orgs"]), "since": created,
                                "until": None, "reason": "Ouverture du dossier"})

        def fact(kind: str, value: str, label: str, detail: str = "",
                 case_id: int = case_id, at: datetime = created) -> None:
            rows[CaseFact].append({"territory_id": territory, "case_id": case_id,
                                   "kind": kind, "value": value, "label": label,
                                   "detail": detail, "recorded_at": at})
        fact("entry_route", *rng.choice(ROUTES))
        for domain in rng.sample(sorted(DOMAINS), rng.randint(1, 3)):
            fact("need", domain, DOMAINS[domain],
                 rng.choice(("servi", "servi", "servi", "sans_place", "sans_service")))
        if key == "expulsions":
            for detail, label in STAGES[:rng.randint(1, len(STAGES))]:
                fact("eviction_stage", detail, label, detail)
            fact("eviction_furthest", detail, label, detail)  # the furthest, kept by the model
        ready = created
        for step in range(4):
            done = ready + timedelta(days=rng.expovariate(1 / 6))
            is_open = step == 3 or done > T0
            due = ready + timedelta(days=10) if step != 1 else None
            rows[HumanTask].append({
                "case_id": case_id, "territory_id": territory, "circuit_id": circuit_id,
                "spiff_task_id": f"b{case_id}-{step}", "bpmn_id": f"T{step}",
                "name": STEPS[(step + n) % len(STEPS)], "role": "coordination",
                "status": "open" if is_open else "completed", "ready_at": ready,
                "due_at": due, "due_sort": due or datetime(9999, 12, 31, tzinfo=UTC),
                "completed_at": None if is_open else done,
                "hours_taken": None if is_open else whole_hours(ready, done)})
            if is_open:
                break
            ready = done
        if rng.random() < 0.6:
            service_id, org_id, measure = rng.choice(world["services"])
            state = rng.choice(STATES)
            sent = created + timedelta(days=rng.expovariate(1 / 12))
            answered = sent + timedelta(days=rng.expovariate(1 / 8)) \
                if state in ("acceptee", "refusee") else None
            rows[Orientation].append({
                "territory_id": territory, "case_id": case_id, "service_id": service_id,
                "organisation_id": org_id, "measure": measure, "part": "operator",
                "state": state, "step": "Analyser la demande", "comment": "",
                "created_at": sent, "updated_at": answered or sent, "answered_at": answered,
                "reasons": rng.sample(REASONS, rng.randint(1, 2)) if state == "refusee"
                else [], "reason_detail": "", "message_referrer": "", "answer_household": "",
                "place_taken": False, "request_hours": whole_hours(created, sent),
                "answer_hours": whole_hours(sent, answered)})  # one per case: its first
    for model, chunk in rows.items():
        if chunk:
            session.execute(insert(model), chunk)
    session.flush()


def measure(url: str, territory_id: int, rounds: int) -> None:
    engine = make_engine(url)
    sessions = session_factory(engine)
    clock = FixedClock(T0)
    with sessions() as session:
        coordinator = load_actor(session, session.scalar(select(User.id).where(
            User.email == "coord@demo.test")) or 0)
    period = statistics.period_of(clock)
    with sessions() as session:  # where the time goes: each indicator once, warm
        statistics.compute(session, clock, coordinator, period, territory_id)
        first, after = period.bounds()
        scope = statistics.Scope(session, [territory_id], first, after, clock.now())
        for name, call in statistics.parts(scope):
            begin, cpu = time.perf_counter(), time.process_time()
            call()
            print(f"    {name:<40} {1000 * (time.perf_counter() - begin):7.1f} ms"
                  f"  (cpu here {1000 * (time.process_time() - cpu):6.1f} ms)")
    samples, cpus = [], []
    for _ in range(rounds):
        with sessions() as session:
            begin, cpu = time.perf_counter(), time.process_time()
            result = statistics.compute(session, clock, coordinator, period, territory_id)
            samples.append(1000 * (time.perf_counter() - begin))
            cpus.append(1000 * (time.process_time() - cpu))
    p50, p95 = percentiles(samples)
    print(f"    statistics.compute (12 indicators, {result.requests} requests in the period)"
          f"  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  (cpu here p50 {percentiles(cpus)[0]:7.1f} ms)")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--keep", help="a SQLite file to fill once and measure again")
    parser.add_argument("--pg-database", default="aiguillage_bench_statistics",
                        help="the PostgreSQL database to re-create (one per person running)")
    parser.add_argument("--pg-keep", action="store_true",
                        help="measure --pg-database again if already filled (else fill it)")
    args = parser.parse_args()
    print(f"bench/statistics_page.py --cases {args.cases} --rounds {args.rounds}"
          f"  ({platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores)")
    if args.no_sqlite:
        pass
    elif args.keep:
        print("SQLite")
        url = f"sqlite:///{Path(args.keep).resolve()}"
        territory_id = _filled(url) if Path(args.keep).exists() else None
        territory_id = territory_id or fill(url, args.cases)
        measure(url, territory_id, args.rounds)
    else:
        print("SQLite")
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.sqlite"
            measure(url, fill(url, args.cases), args.rounds)
    if not args.no_postgres:
        print("PostgreSQL")
        if args.pg_keep:
            url = f"{PG_SERVER}/{args.pg_database}"
            measure(url, _filled(url) or fill(create_pg_database(args.pg_database), args.cases),
                    args.rounds)
        else:
            url = create_pg_database(args.pg_database)
            measure(url, fill(url, args.cases), args.rounds)


def _filled(url: str) -> int | None:
    """The bench territory of a database filled before (None: none, or not filled)."""
    try:
        engine = make_engine(url)
        with session_factory(engine)() as session:
            upgrade(engine)  # a file of an earlier schema measured again
            found = session.scalar(select(Case.territory_id).where(
                Case.reference.like("BENCH-%")).limit(1))
        engine.dispose()
    except (OperationalError, Unavailable):  # no such database yet
        return None
    return found


if __name__ == "__main__":
    main()
