"""Page response times at volume, on SQLite: every page of the social worker, the
coordinator and operator A's worker (a partner: the visibility rule narrows each list to the
cases their organisation is a party to) with N synthetic cases (default 100,000).

Run: ``.venv/bin/python bench/web.py [--cases 100000]``. It builds a fresh SQLite database
in a temporary folder (migrations, demo territory, then ``demo generate``), signs in through
the real app with Flask's test client, and prints p50/p95 per page over repeated requests.
Target (issue #4): every page under 100 ms.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import world  # noqa: E402

from engine.bootstrap import build  # noqa: E402
from webapp import create_app  # noqa: E402

PASSWORD = world.PASSWORD

REPEAT = 30


def _first(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    return found.group(1) if found else "0"  # none: the page answers 404, shown as such


def _time(client, url: str) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    samples, status = [], 0
    for _ in range(REPEAT):
        begin = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - begin) * 1000)
        status = response.status_code
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1], status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    count = parser.parse_args().cases
    folder = Path(tempfile.mkdtemp(prefix="aiguillage-bench-"))
    url = f"sqlite:///{folder / 'bench.sqlite'}"
    print("Aiguillage web benchmark (SQLite, Flask test client, whole request incl. templates)")
    print(f"command: .venv/bin/python bench/web.py --cases {count}")
    world.build(url, count, count // 10, 0)  # the demo's accounts: no bench accounts
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "SESSION_COOKIE_SECURE": False,
                      "WTF_CSRF_ENABLED": False})
    for email in ("ts@demo.test", "coord@demo.test", "operateur-a@demo.test"):
        client = app.test_client()
        client.post("/connexion", data={"email": email, "password": PASSWORD})
        tasks_page = client.get("/taches/").text
        task_id = _first(r'href="/taches/(\d+)"', tasks_page)
        # a case of their list (for a partner, one their organisation is a party to)
        case_id = _first(r'href="/dossiers/(\d+)"', client.get("/dossiers/").text)
        circuit = _first(r'name="circuit" value="(\d+)"', client.get("/dossiers/nouveau").text)
        pages = {
            "my tasks": "/taches/", "my tasks, overdue": "/taches/?echeance=overdue",
            "my tasks, page 50": "/taches/?page=50", "task page": f"/taches/{task_id}",
            "cases list": "/dossiers/", "cases search": "/dossiers/?q=martin",
            "cases, circuit filter": f"/dossiers/?circuit={circuit}&statut=open",
            "case page": f"/dossiers/{case_id}", "case diagram": f"/dossiers/{case_id}/diagramme",
            "new case form": f"/dossiers/nouveau?circuit={circuit}",
        }
        print(f"\n{email}")
        print(f"{'page':<24}{'p50 ms':>9}{'p95 ms':>9}{'status':>8}")
        for name, page in pages.items():
            p50, p95, status = _time(client, page)
            print(f"{name:<24}{p50:>9.1f}{p95:>9.1f}{status:>8}")
    _admin(app, url)


def _admin(app, url: str) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from engine.persistence.models import HumanTask
    from engine.persistence.models.human_task import TaskStatus
    engine = build(url)
    with engine.sessions() as session:
        overdue = session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.status == TaskStatus.OPEN, HumanTask.due_at < engine.clock.now()))
    client = app.test_client()
    client.post("/connexion", data={"email": "admin@demo.test", "password": PASSWORD})
    print(f"\nadmin@demo.test ({overdue:,} overdue steps)")
    print(f"{'page':<24}{'p50 ms':>9}{'p95 ms':>9}{'status':>8}")
    for name, page in {"dashboard (overdue)": "/supervision/",
                       "dashboard page 20": "/supervision/?page=20",
                       "coming deadlines": "/supervision/?vue=echeances",
                       "waiting, no deadline": "/supervision/?vue=sans-echeance",
                       "incidents": "/supervision/incidents",
                       "audit log": "/supervision/journal"}.items():
        p50, p95, status = _time(client, page)
        print(f"{name:<24}{p50:>9.1f}{p95:>9.1f}{status:>8}")


if __name__ == "__main__":
    main()
