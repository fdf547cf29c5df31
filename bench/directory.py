"""Directory search: p50/p95 of ``directory.search`` and of the /annuaire page, figures to read,
never asserted anywhere (target: p95 < 50 ms at 2,000 services).

Run: ``.venv/bin/python bench/directory.py`` (``--no-postgres`` for SQLite alone,
``--services N`` to change the size, ``--rounds N`` for more samples).

One territory holds N services (``directory_seed.generate``: 14 measures, 1–3 need domains and
1–6 of 122 communes each, 5 % deactivated) and four other territories N each, so that the
territory's index, not the table's size, bounds the work. Each query of a realistic mix
(no filter; a word; a measure with places only; a domain and a commune prefix; all at once;
a deep page) is run with a fresh session, like a request, round-robin, then the whole page
through the Flask test client (template included). SQLite, then PostgreSQL (database
``aiguillage_bench_directory`` re-created on ``AIGUILLAGE_TEST_POSTGRES``).
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.clock import FixedClock  # noqa: E402
from engine.core.bundles import Role  # noqa: E402
from engine.core.bundles import Territory as TerritoryFile  # noqa: E402
from engine.persistence.db import make_engine, session_factory  # noqa: E402
from engine.persistence.migrate import upgrade  # noqa: E402
from engine.services import directory, directory_seed, territories, users  # noqa: E402
from engine.services.access import SYSTEM, load_actor  # noqa: E402
from engine.services.directory import Filters  # noqa: E402
from tests.integration.conftest import create_pg_database  # noqa: E402

T0 = datetime(2026, 1, 9, 14, 0, tzinfo=UTC)
PASSWORD = "mot-de-passe-de-bench"
ROLES = (Role("coordination", "Coordination"), Role("operateur", "Opérateur"))
MIX: dict[str, Filters] = {
    "sans filtre": Filters(),
    "mot « horizon »": Filters(text="horizon"),
    "AVDL, places disponibles": Filters(measure="avdl", available_only=True),
    "domaine + commune « commune 01 »": Filters(domain="mental", commune="commune 01"),
    "tout à la fois": Filters(text="asll", domain="housing", commune="commune",
                              available_only=True),
}
PAGES = {name: "/annuaire/?" + query for name, query in (
    ("sans filtre", ""), ("mot « horizon »", "q=horizon"),
    ("AVDL, places disponibles", "mesure=avdl&places=1"),
    ("domaine + commune", "domaine=mental&commune=commune+01"),
    ("page 20", "page=20"))}


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)]
    return statistics.median(ordered), p95


def fill(url: str, size: int) -> tuple[int, str]:
    """Five territories of ``size`` services each; (the first's id, its worker's e-mail)."""
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    clock = FixedClock(T0)
    first = 0
    with sessions() as session:
        for n in range(5):
            territory = territories.ensure_territory(
                session, clock, SYSTEM, TerritoryFile(f"t{n}", f"Territoire {n}", ROLES))
            for k in range(40):
                territories.create_organisation(session, clock, SYSTEM, territory.id,
                                                f"Organisation {k} du territoire {n}",
                                                "association")
            directory_seed.generate(session, clock, territory.id, size, seed=n)
            if n == 0:
                first = territory.id
        user = users.create_user(session, clock, SYSTEM, "ts@bench.test", "Travail social",
                                 PASSWORD)
        users.add_membership(session, clock, SYSTEM, user.id, first, "operateur", None)
    engine.dispose()
    return first, "ts@bench.test"


def measure(url: str, territory_id: int, email: str, rounds: int) -> None:
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as session:
        from sqlalchemy import select

        from engine.persistence.models import User
        user_id = session.scalar(select(User.id).where(User.email == email))
        assert user_id is not None
        actor = load_actor(session, user_id)
    timings: dict[str, list[float]] = {name: [] for name in MIX}
    timings["page 20 (OFFSET 380)"] = []
    calls: dict[str, Callable[[], object]] = {}
    for name, filters in MIX.items():
        calls[name] = (lambda f: lambda: _search(sessions, actor, territory_id, f))(filters)
    calls["page 20 (OFFSET 380)"] = lambda: _search(sessions, actor, territory_id, Filters(),
                                                    page=20)
    for call in calls.values():  # warm up
        call()
    found = {name: _search(sessions, actor, territory_id, f) for name, f in MIX.items()}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            timings[name].append((time.perf_counter() - start) * 1000)
    print("  directory.search (fresh session per call):")
    for name, samples in timings.items():
        p50, p95 = percentiles(samples)
        total = f"  ({found[name]} trouvés, compte plafonné à 1 001)" if name in found else ""
        print(f"    {name:<36} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms{total}")
    _pages(url, email, rounds)
    engine.dispose()


def _search(sessions: object, actor: object, territory_id: int, filters: Filters,
            page: int = 1) -> int:
    with sessions() as session:  # type: ignore[operator]
        return directory.search(session, actor, territory_id, filters, page=page).total  # type: ignore[no-any-return]


def _pages(url: str, email: str, rounds: int) -> None:
    from webapp import create_app
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "bench",
                      "DATABASE_URL": url, "SESSION_COOKIE_SECURE": False,
                      "CLOCK": FixedClock(T0)})
    client = app.test_client()
    assert client.post("/connexion", data={"email": email, "password": PASSWORD}
                       ).status_code == 302
    timings: dict[str, list[float]] = {name: [] for name in PAGES}
    for page in PAGES.values():
        assert client.get(page).status_code == 200
    for _ in range(rounds):
        for name, page in PAGES.items():
            start = time.perf_counter()
            answer = client.get(page)
            answer.close()
            timings[name].append((time.perf_counter() - start) * 1000)
    print("  GET /annuaire/ (whole page: session, search, template):")
    for name, samples in timings.items():
        p50, p95 = percentiles(samples)
        print(f"    {name:<36} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms")
    app.extensions["aiguillage"].database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(f"bench/directory.py — {args.services} services per territory × 5 territories, "
          f"{args.rounds} rounds; Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cores")
    print("command: .venv/bin/python bench/directory.py " + " ".join(sys.argv[1:]))
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'directory.sqlite'}"
        print("SQLite:")
        territory_id, email = fill(url, args.services)
        measure(url, territory_id, email, args.rounds)
    if not args.no_postgres:
        url = create_pg_database("aiguillage_bench_directory")
        print("PostgreSQL:")
        territory_id, email = fill(url, args.services)
        measure(url, territory_id, email, args.rounds)


if __name__ == "__main__":
    main()
