"""Response time of one dry-run step on the eviction circuit (« Prévention des expulsions »).

Run: ``.venv/bin/python bench/authoring.py [--repeat 30]``. It builds a fresh SQLite database
in a temporary folder (migrations, demo territory without cases), opens the coordinator's
draft of the eviction circuit, then answers one step of a walk carrying five steps already
played (the « expulsion effective » scenario): through ``drafts.dry_run_step`` as the page
calls it, then through the whole page with Flask's test client, then the page's first click
after a save (the new revision is built once: checked and compiled in one pass). Prints p50/p95.
Target (issue #11): p50 under 100 ms (about 700 ms when each click built the draft 5 times).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from engine.bootstrap import build  # noqa: E402
from engine.core import dryrun  # noqa: E402
from engine.persistence.migrate import upgrade  # noqa: E402
from engine.persistence.models import Circuit, User  # noqa: E402
from engine.services import demo, drafts  # noqa: E402
from engine.services.access import load_actor  # noqa: E402
from webapp import create_app  # noqa: E402

PASSWORD = "mot-de-passe-de-bench"
SCENARIO = ROOT / "tests" / "scenarios" / "reference" / "expulsions" / "expulsion-effective.json"
PLAYED = 5  # steps already played; the step answered is the sixth (C4_T06a)


def _time(action: Callable[[], None], repeat: int) -> tuple[float, float]:
    action()  # warm-up: the first request of a revision checks and compiles the draft
    samples = []
    for _ in range(repeat):
        begin = time.perf_counter()
        action()
        samples.append((time.perf_counter() - begin) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    repeat = parser.parse_args().repeat
    folder = Path(tempfile.mkdtemp(prefix="aiguillage-bench-"))
    url = f"sqlite:///{folder / 'bench.sqlite'}"
    engine = build(url)
    upgrade(engine.database)
    scenario = json.loads(SCENARIO.read_text(encoding="utf-8"))
    with engine.sessions() as session:
        territory_id = demo.load(session, engine.clock, ROOT, PASSWORD, cases_per_circuit=0)
        circuit_id = session.scalar(select(Circuit.id).where(
            Circuit.territory_id == territory_id, Circuit.key == "expulsions"))
        user_id = session.scalar(select(User.id).where(User.email == "coord@demo.test"))
        assert circuit_id is not None and user_id is not None
        draft_id = drafts.open_for_circuit(session, engine.clock, load_actor(session, user_id),
                                           circuit_id).id
    step = scenario["steps"][PLAYED]
    form = {"start": scenario["start"], "data": json.dumps(scenario["data"]),
            "steps": json.dumps(scenario["steps"][:PLAYED]), "action": "terminer",
            "task": step["task"], "montant_demande": "3000", "dossier_depose": "true"}
    posted = dryrun.Posted(action="terminer", start=form["start"], data=form["data"],
                           steps=form["steps"], task=form["task"],
                           answers={k: [v] for k, v in form.items()})

    def service() -> None:
        with engine.sessions() as session:
            page = drafts.dry_run_step(session, load_actor(session, user_id), draft_id, posted,
                                       engine.clock.now())
            assert not page.outcome.errors and page.outcome.run is not None, page.outcome.errors
            assert len(page.outcome.state.steps) == PLAYED + 1

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "SESSION_COOKIE_SECURE": False,
                      "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD})

    def page() -> None:
        response = client.post(f"/circuits/brouillons/{draft_id}/essai", data=form)
        assert response.status_code == 200, response.status_code
        assert f"Étape terminée : {step['task']}" in response.text

    print("Aiguillage authoring benchmark: one dry-run step on « Prévention des expulsions »")
    print(f"command: .venv/bin/python bench/authoring.py --repeat {repeat}")
    print(f"walk: {PLAYED} steps carried, answering {step['task']} (SQLite, {repeat} runs)")
    print(f"{'path':<34}{'p50 ms':>9}{'p95 ms':>9}")
    def cold() -> None:
        drafts._CACHE.clear()  # a revision not built yet: one build checks and compiles it
        page()

    for name, action in (("service (drafts.dry_run_step)", service),
                         ("page (Flask test client)", page),
                         ("page, first click of a revision", cold)):
        p50, p95 = _time(action, repeat)
        print(f"{name:<34}{p50:>9.1f}{p95:>9.1f}")


if __name__ == "__main__":
    main()
