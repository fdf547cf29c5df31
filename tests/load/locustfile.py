"""The CI load run's users (tests/load/test_load_smoke.py starts locust on this file).

One user of each kind, each signed in once: the demo's coordinator, social worker, operator
A's worker and administrator read the main pages; a coordinator of the small test circuit
completes « analyse » steps, each a step of its own (ids from ``AIGUILLAGE_LOAD_STEPS``).
Every response's status and ``X-Aiguillage-Statements`` go, by request name, to the JSON
file ``AIGUILLAGE_LOAD_RESULTS`` when locust stops: {name: {"count", "5xx", "statuses",
"statements": {N: times}, "no_header"}}. Signing in, browsing and completing are
bench/locust_common.py's, shared with bench/locustfile.py. Not meant to run alone.
"""

from __future__ import annotations

import json
import os
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from locust import between, events, task

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from locust_common import CASES, Browsing  # noqa: E402

PASSWORD = os.environ.get("AIGUILLAGE_LOAD_PASSWORD", "")
STEPS: list[int] = json.loads(os.environ.get("AIGUILLAGE_LOAD_STEPS", "[]"))
HEADER = "X-Aiguillage-Statements"
SEEN: dict[str, dict[str, Any]] = defaultdict(lambda: {
    "count": 0, "5xx": 0, "no_header": 0, "statuses": Counter(), "statements": Counter()})


@events.request.add_listener
def _note(name: str, response: Any, **_: Any) -> None:
    entry = SEEN[name]
    entry["count"] += 1
    code = getattr(response, "status_code", 0) or 0
    entry["statuses"][str(code)] += 1
    entry["5xx"] += code >= 500
    value = response.headers.get(HEADER) if response is not None and code else None
    if value is None:
        entry["no_header"] += 1
    else:
        entry["statements"][value] += 1


@events.quitting.add_listener
def _write(**_: Any) -> None:
    path = os.environ.get("AIGUILLAGE_LOAD_RESULTS")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(SEEN, out)


class Person(Browsing):
    """Signs in once, then browses; the subclasses say who and what."""

    abstract = True
    fixed_count = 1
    wait_time = between(0.1, 0.5)
    email = ""

    def on_start(self) -> None:
        self.sign_in(self.email, PASSWORD)


class Coordinator(Person):
    email = "coord@demo.test"

    @task(3)
    def tasks_list(self) -> None:
        self.my_tasks(random.choice(("", "?echeance=overdue", "?page=2")))

    @task(2)
    def a_task(self) -> None:
        self.task_page()

    @task(3)
    def a_case(self) -> None:
        self.case_page()

    @task(2)
    def search(self) -> None:
        self.cases_search()

    @task(1)
    def cases_list(self) -> None:
        text = self.client.get("/dossiers/", name="cases list").text
        self.cases_seen = CASES.findall(text) or self.cases_seen


class SocialWorker(Person):
    email = "ts@demo.test"

    @task(3)
    def tasks_list(self) -> None:
        self.my_tasks()

    @task(2)
    def a_task(self) -> None:
        self.task_page()

    @task(2)
    def a_case(self) -> None:
        self.case_page()


class OperatorWorker(Person):
    """A partner's worker: the lists narrowed to the cases their organisation is party to."""

    email = "operateur-a@demo.test"

    @task(2)
    def tasks_list(self) -> None:
        self.my_tasks()

    @task(2)
    def a_case(self) -> None:
        self.case_page()

    @task(1)
    def search(self) -> None:
        self.cases_search()


class Administrator(Person):
    email = "admin@demo.test"

    @task(3)
    def dashboard(self) -> None:
        query = random.choice(("", "?page=2"))
        text = self.client.get(f"/supervision/{query}", name="overdue dashboard").text
        self.cases_seen = CASES.findall(text) or self.cases_seen

    @task(1)
    def export(self) -> None:
        self.client.get("/supervision/export.csv", name="CSV export")

    @task(1)
    def a_case(self) -> None:
        self.case_page()


class Completer(Person):
    """Completes « analyse » (small test circuit) on steps nobody else touches."""

    email = "charge@mini.test"

    @task
    def complete_one(self) -> None:
        if not STEPS:
            self.my_tasks()
            return
        self.complete(str(STEPS.pop()), lambda page: {"mesure": ["avdl"]}, "task page (form)")
