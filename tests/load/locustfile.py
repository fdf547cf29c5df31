"""The CI load run's users (tests/load/test_load_smoke.py starts locust on this file).

One user of each kind, each signed in once: the demo's coordinator, social worker, operator
A's worker and administrator read the main pages; a coordinator of the small test circuit
completes « analyse » steps, each a step of its own (ids from ``AIGUILLAGE_LOAD_STEPS``).
Every response's status and ``X-Aiguillage-Statements`` go, by request name, to the JSON
file ``AIGUILLAGE_LOAD_RESULTS`` when locust stops: {name: {"count", "5xx", "statuses",
"statements": {N: times}, "no_header"}}. Not meant to run alone.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections import Counter, defaultdict
from typing import Any

from locust import HttpUser, between, events, task

PASSWORD = os.environ.get("AIGUILLAGE_LOAD_PASSWORD", "")
STEPS: list[int] = json.loads(os.environ.get("AIGUILLAGE_LOAD_STEPS", "[]"))
HEADER = "X-Aiguillage-Statements"
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
TASKS = re.compile(r'href="/taches/(\d+)"')
CASES = re.compile(r'href="/dossiers/(\d+)"')
SURNAMES = ("martin", "bernard", "petit", "durand", "moreau")
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


class Person(HttpUser):
    """Signs in once, then browses; the subclasses say who and what."""

    abstract = True
    fixed_count = 1
    wait_time = between(0.1, 0.5)
    email = ""

    def on_start(self) -> None:
        page = self.client.get("/connexion", name="sign in (form)").text
        token = TOKEN.search(page)
        self.client.post("/connexion", name="sign in", allow_redirects=False,
                         data={"email": self.email, "password": PASSWORD,
                               "csrf_token": token.group(1) if token else ""})
        self.tasks_seen: list[str] = []
        self.cases_seen: list[str] = []

    def my_tasks(self, query: str = "") -> None:
        text = self.client.get(f"/taches/{query}", name="my tasks").text
        self.tasks_seen = TASKS.findall(text) or self.tasks_seen
        self.cases_seen = CASES.findall(text) or self.cases_seen

    def task_page(self) -> None:
        if not self.tasks_seen:
            return self.my_tasks()
        self.client.get(f"/taches/{random.choice(self.tasks_seen)}", name="task page")
        return None

    def case_page(self) -> None:
        if not self.cases_seen:
            return self.cases_search()
        self.client.get(f"/dossiers/{random.choice(self.cases_seen)}", name="case page")
        return None

    def cases_search(self) -> None:
        text = self.client.get(f"/dossiers/?q={random.choice(SURNAMES)}",
                               name="cases search").text
        self.cases_seen = CASES.findall(text) or self.cases_seen


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
    def complete(self) -> None:
        if not STEPS:
            self.my_tasks()
            return
        step = STEPS.pop()
        page = self.client.get(f"/taches/{step}", name="task page (form)").text
        token = TOKEN.findall(page)
        self.client.post(f"/taches/{step}", name="complete a step", allow_redirects=False,
                         data={"mesure": "avdl", "csrf_token": token[-1] if token else ""})
