"""End-to-end: the real app on a local port, driven by Debian's Chromium through Playwright.

``make e2e`` sets ``AIGUILLAGE_CHROMIUM``; Playwright's own browser download is never used.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from engine.clock import Clock, SystemClock
from engine.persistence.db import make_engine
from engine.persistence.migrate import upgrade
from engine.persistence.models import Circuit
from engine.services import cases, demo, tasks
from engine.services.access import SYSTEM
from webapp import create_app

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "tests" / "scenarios" / "reference" / "coordination" / "e4-relais-droit-commun.json"
PASSWORD = "mot-de-passe-e2e-demo"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    return os.environ.get("AIGUILLAGE_CHROMIUM") or shutil.which("chromium")


@dataclass
class LiveApp:
    url: str
    app: object


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[LiveApp]:
    db = tmp_path / "e2e.sqlite"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    engine.dispose()
    app = create_app({"DATABASE_URL": f"sqlite:///{db}", "SECRET_KEY": "e2e",
                      "SESSION_COOKIE_SECURE": False, "CLOCK": SystemClock()})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveApp(f"http://127.0.0.1:{server.server_port}", app)
    finally:
        server.shutdown()
        app.extensions["aiguillage"].database.dispose()


def coordination_case(live: LiveApp, steps: int, clock: Clock | None = None) -> tuple[int, str]:
    """Load the demo territory and walk a coordination case through the first ``steps`` steps
    of the e4 scenario (at ``clock``, the app's by default): (circuit id, case reference)."""
    built = live.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    clock = clock or built.clock
    scenario = json.loads(SCENARIO.read_text())
    with built.sessions() as session:
        territory_id = demo.load(session, built.clock, ROOT, PASSWORD, cases_per_circuit=0)
        circuit = session.scalar(select(Circuit).where(Circuit.territory_id == territory_id,
                                                       Circuit.key == "coordination"))
        summary = cases.start(session, clock, SYSTEM, circuit.id, scenario["data"])
        for step in scenario["steps"][:steps]:
            [task] = [t for t in tasks.my_tasks(session, clock, SYSTEM).items
                      if t.case_id == summary.id]
            assert task.bpmn_id == step["task"]
            tasks.complete(session, clock, SYSTEM, task.id,
                           demo.with_demo_services(session, territory_id, step["data"]))
        return circuit.id, summary.reference


def sign_in(page: Any, url: str, email: str) -> None:
    """Sign in through the real form (every journey starts here)."""
    page.goto(f"{url}/connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()


@pytest.fixture
def browser() -> Iterator[object]:
    path = chromium_path()
    if not path:
        pytest.fail("no Chromium: install Debian's chromium package (make e2e says so)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=path, args=FLAGS)
        yield instance
        instance.close()
