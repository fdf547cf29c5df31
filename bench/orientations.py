"""Orienting at volume: p50/p95 of the directory search and of the orientation field's matching
with 100k cases and 2,000 services in the territory; figures to read, never asserted anywhere
(target: p95 < 50 ms).

Run: ``.venv/bin/python bench/orientations.py`` (``--no-postgres`` for SQLite alone,
``--cases N`` and ``--services N`` to change the sizes, ``--rounds N`` for more samples).

The demo territory (``demo.load``: the reference circuits, its organisations, people and
directory) gets N synthetic services (``directory_seed.generate``) and is grown to the given
number of cases (``demo generate``: copied rows). Measured round-robin, each call with a fresh
session like a request:

- ``directory.search`` (the /annuaire list) for a coordinator: no filter, a word, a measure
  with free places only, a need domain and a commune;
- ``orientation_choices.with_services``: the C1 orientation field (``c1-orientation.json``)
  turned into the choice of matching services for a household (its needs and commune), as
  the task page offers it, and ``as_submitted`` (every active service: how a POST is read);
  the operator's answer form (``c1-decision-operateur.json``): the territory's reasons;
- the whole task page of « Analyser la demande et proposer une orientation » (GET
  /taches/<id> through the Flask test client: session, case load, matching, template).

SQLite, then PostgreSQL (database ``aiguillage_bench_orientations`` re-created on
``AIGUILLAGE_TEST_POSTGRES``, analysed after the bulk load).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from engine.clock import FixedClock  # noqa: E402
from engine.persistence.db import make_engine, session_factory  # noqa: E402
from engine.persistence.migrate import upgrade  # noqa: E402
from engine.persistence.models import Case, Circuit, HumanTask, User  # noqa: E402
from engine.services import (  # noqa: E402
    cases,
    demo,
    directory,
    directory_seed,
    orientation_choices,
    runtime,
    tasks,
)
from engine.services.access import SYSTEM, load_actor  # noqa: E402
from engine.services.directory import Filters  # noqa: E402
from tests.integration.conftest import create_pg_database  # noqa: E402

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PASSWORD = "mot-de-passe-de-bench"
SEARCHES: dict[str, Filters] = {
    "sans filtre": Filters(),
    "mot « relais »": Filters(text="relais"),
    "AVDL, places disponibles": Filters(measure="avdl", available_only=True),
    "domaine + commune": Filters(domain="mental", commune="démoville"),
}
HOUSEHOLDS: dict[str, dict[str, Any]] = {
    "besoins financiers, Démoville": {"besoins": ["FINANCE", "NONRECOURSE"],
                                      "commune": "Démoville"},
    "psychique + addiction, Commune 042": {"besoins": ["MENTAL", "ADDICT"],
                                           "besoins_importants": ["MENTAL"],
                                           "commune": "Commune 042"},
    "sans besoin ni commune": {"nom_menage": "Ménage (fictif)"},
}


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)]
    return statistics.median(ordered), p95


def fill(url: str, services: int, size: int) -> tuple[int, int]:
    """The demo territory with ``services`` more services and ``size`` cases; (its id, the
    open orientation step of a fresh case)."""
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    clock = FixedClock(T0)
    begin = time.perf_counter()
    with sessions() as session:
        territory_id = demo.load(session, clock, ROOT, PASSWORD, cases_per_circuit=12)
        directory_seed.generate(session, clock, territory_id, services)
        now = session.scalar(select(func.count()).select_from(Case).where(
            Case.territory_id == territory_id)) or 0
        demo.generate(session, clock, territory_id, max(0, size - now))
        step = _orientation_step(session, clock, territory_id)
        total = session.scalar(select(func.count()).select_from(Case)) or 0
    if url.startswith("postgresql"):  # what autovacuum does soon after a bulk load, at once
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    print(f"  filled in {time.perf_counter() - begin:.0f} s: {total} cases, "
          f"{services} + {len(directory_seed.DEMO)} services in the territory")
    return territory_id, step


def _orientation_step(session: Any, clock: FixedClock, territory_id: int) -> int:
    """A case of the coordination circuit walked to « Analyser la demande et proposer une
    orientation » (C1_T04), its need domains and commune answered; the step's id."""
    import json
    scenario = json.loads((ROOT / "tests" / "scenarios" / "reference" / "coordination" /
                           "e4-relais-droit-commun.json").read_text())
    circuit_id = session.scalar(select(Circuit.id).where(
        Circuit.territory_id == territory_id, Circuit.key == "coordination"))
    summary = cases.start(session, clock, SYSTEM, circuit_id,
                          {**scenario["data"], "commune": "Démoville"})
    for step in scenario["steps"][:2]:  # C1_T01 (needs), C1_T02
        task_id = session.scalar(select(HumanTask.id).where(
            HumanTask.case_id == summary.id, HumanTask.bpmn_id == step["task"],
            HumanTask.status == "open"))
        tasks.complete(session, clock, SYSTEM, task_id, step["data"])
    found = session.scalar(select(HumanTask.id).where(
        HumanTask.case_id == summary.id, HumanTask.bpmn_id == "C1_T04",
        HumanTask.status == "open"))
    assert found is not None
    return int(found)


def measure(url: str, territory_id: int, step: int, rounds: int) -> None:
    engine = make_engine(url)
    sessions = session_factory(engine)
    clock = FixedClock(T0)
    with sessions() as session:
        coordinator = load_actor(session, session.scalar(select(User.id).where(
            User.email == "coord@demo.test")) or 0)
        version_id = session.scalar(select(Circuit.active_version_id).where(
            Circuit.territory_id == territory_id, Circuit.key == "coordination"))
        forms = runtime.compiled(session, version_id).forms  # type: ignore[arg-type]
    orienting, answering = forms["c1-orientation.json"], forms["c1-decision-operateur.json"]
    calls: dict[str, Callable[[], int]] = {}
    for name, filters in SEARCHES.items():
        calls[f"directory.search — {name}"] = (lambda f: lambda: _search(
            sessions, coordinator, territory_id, f))(filters)
    for name, data in HOUSEHOLDS.items():
        calls[f"with_services — {name}"] = (lambda d: lambda: _offered(
            sessions, clock, territory_id, orienting, d))(data)
    calls["as_submitted (every service)"] = lambda: _submitted(sessions, territory_id,
                                                               orienting)
    calls["with_services — answer form (reasons)"] = lambda: _offered(
        sessions, clock, territory_id, answering, {"nom_menage": "x"})
    found = {name: call() for name, call in calls.items()}  # warm up, and what they find
    timings: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            timings[name].append((time.perf_counter() - start) * 1000)
    for name, samples in timings.items():
        p50, p95 = percentiles(samples)
        print(f"    {name:<52} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  ({found[name]} found)")
    _page(url, step, rounds)
    engine.dispose()


def _search(sessions: Any, actor: Any, territory_id: int, filters: Filters) -> int:
    with sessions() as session:
        return int(directory.search(session, actor, territory_id, filters).total)


def _offered(sessions: Any, clock: FixedClock, territory_id: int, form: Any,
             data: dict[str, Any]) -> int:
    with sessions() as session:
        offered = orientation_choices.with_services(session, clock, territory_id, form, data)
        return sum(len(f.choices) for f in offered.fields  # the services or reasons offered
                   if f.orientation is not None or f.name == "motifs_refus")


def _submitted(sessions: Any, territory_id: int, form: Any) -> int:
    with sessions() as session:
        offered = orientation_choices.as_submitted(session, territory_id, form)
        return sum(len(f.choices) for f in offered.fields if f.orientation is not None)


def _page(url: str, step: int, rounds: int) -> None:
    from webapp import create_app
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "bench",
                      "DATABASE_URL": url, "SESSION_COOKIE_SECURE": False,
                      "CLOCK": FixedClock(T0)})
    client = app.test_client()
    assert client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD}
                       ).status_code == 302
    page = f"/taches/{step}"
    answer = client.get(page)
    assert answer.status_code == 200 and "Service proposé" in answer.text, answer.status_code
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        client.get(page).close()
        samples.append((time.perf_counter() - start) * 1000)
    p50, p95 = percentiles(samples)
    print(f"    {'GET /taches/<C1_T04> (whole page)':<52} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms")
    app.extensions["aiguillage"].database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--services", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(f"bench/orientations.py — {args.cases} cases, {args.services} services, "
          f"{args.rounds} rounds; Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cores")
    print("command: .venv/bin/python bench/orientations.py " + " ".join(sys.argv[1:]))
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'orientations.sqlite'}"
        print("SQLite:")
        territory_id, step = fill(url, args.services, args.cases)
        measure(url, territory_id, step, args.rounds)
    if not args.no_postgres:
        url = create_pg_database("aiguillage_bench_orientations")
        print("PostgreSQL:")
        territory_id, step = fill(url, args.services, args.cases)
        measure(url, territory_id, step, args.rounds)


if __name__ == "__main__":
    main()
