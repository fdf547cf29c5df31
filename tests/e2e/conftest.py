"""End-to-end: the real app on a local port, driven by Debian's Chromium through Playwright.

``make e2e`` sets ``AIGUILLAGE_CHROMIUM``; Playwright's own browser download is never used.
"""

from __future__ import annotations

import json
import os
import re
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
    yield from serving(db)


def serving(db: Path, **settings: Any) -> Iterator[LiveApp]:
    """The real app on database ``db`` (with ``settings`` over the journeys' own) served on
    a free local port until the fixture that yields from it ends."""
    app = create_app({"DATABASE_URL": f"sqlite:///{db}", "SECRET_KEY": "e2e",
                      "SESSION_COOKIE_SECURE": False, "CLOCK": SystemClock(), **settings})
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


# --------------------------------------------------------------------------- page checks (#14)
#
# Every journey calls ``check_page`` after each page it reaches: a full-page screenshot under
# SHOTS (printed in the test header, git-ignored), a failure on raw codes in the visible text,
# and axe-core's accessibility rules (no serious or critical violation).

SHOTS = ROOT / ".e2e-shots"
AXE = ROOT / "webapp" / "node_modules" / "axe-core" / "axe.min.js"
SNAKE = re.compile(r"(?<![\w@./:#-])[a-z]+(?:_[a-z0-9]+)+(?![\w@/-]|\.\w)")
ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}")
ENGINE_WORDS = re.compile(r"\b(aiguillage_seq|passages|SequenceFlow|UserTask|ExclusiveGateway)\b")
# snake_case words a page may legitimately show (file names are matched with their extension)
ALLOWED: set[str] = set()
# the visible start of an API key (« commence par agl_3f9a… »): how an administrator tells keys
# apart, never a code
KEY_PREFIX = re.compile(r"agl_[0-9a-f]+")


def _role_keys() -> dict[str, str]:
    """Role keys of the reference territory whose French label differs (« secretariat »
    for « Secrétariat »): shown as such, they are raw codes."""
    roles = json.loads((ROOT / "processes" / "reference" / "territory.json").read_text())["roles"]
    labels = " ".join(r["label"].lower() for r in roles)
    return {r["key"]: r["label"] for r in roles
            if not re.search(rf"\b{re.escape(r['key'].lower())}\b", labels)}


ROLE_KEYS = _role_keys()


def raw_codes(text: str) -> list[str]:
    """What a user should never read: snake_case keys, engine names, ISO timestamps, role
    keys (an empty list when the text is clean)."""
    found = [w for w in SNAKE.findall(text) if w not in ALLOWED and not KEY_PREFIX.fullmatch(w)]
    found += ENGINE_WORDS.findall(text) + ISO_INSTANT.findall(text)
    found += [k for k in ROLE_KEYS if re.search(rf"(?<![\w-]){re.escape(k)}(?![\w-])", text)]
    return found


def pytest_report_header() -> str:
    return f"e2e screenshots: {SHOTS}/<test>/"


@pytest.fixture
def check_page(request: pytest.FixtureRequest) -> Any:
    """``check_page(page, name, axe=True)``: screenshot, raw-code check, axe-core check."""
    folder = SHOTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    taken: list[str] = []

    def check(page: Any, name: str, axe: bool = True) -> None:
        page.wait_for_load_state("load")
        taken.append(name)
        page.screenshot(path=str(folder / f"{len(taken):02d}-{name}.png"), full_page=True)
        text = page.inner_text("main") if page.locator("main").count() else page.inner_text("body")
        codes = raw_codes(text)
        assert not codes, f"{name} ({page.url}) shows raw codes: {codes}"
        if axe:
            problems = axe_violations(page)
            assert not problems, f"{name} ({page.url}): axe-core finds\n" + "\n".join(problems)

    return check


def axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each (rule, impact,
    first elements)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} missing: run `make setup` (axe-core is a devDependency)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # evaluated through the DevTools protocol: the app's CSP (script-src 'self') refuses
        # the inline <script> that page.add_script_tag would insert, and rightly so
        page.evaluate(AXE.read_text())
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [f"- {v['id']} ({v['impact']}): {v['help']} — {', '.join(v['nodes'])}"
            for v in result if v["impact"] in ("serious", "critical")]


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
