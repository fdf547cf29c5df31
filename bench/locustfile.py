"""Concurrent users of the three roles against a running server, for bench/load.py.

Each simulated user signs in once with the next account of the JSON file named by
``AIGUILLAGE_BENCH_ACCOUNTS`` ([[e-mail, kind], …], all with ``AIGUILLAGE_BENCH_PASSWORD``)
and then mixes, by kind: my tasks, a task page, completing a step (GET its form, fill every
field with a plausible answer, POST it with the CSRF token; the POST alone is named
« complete a step »), a case page, a cases search, the overdue dashboard and its CSV export.
Figures start once every user has signed in (scrypt, slow on purpose) and last
``AIGUILLAGE_BENCH_MEASURE`` seconds. The status codes of every request, 5xx included, and
the SQL statements each ran go to the JSON file named by ``AIGUILLAGE_BENCH_STATUS`` when
locust stops. Not meant to run alone: bench/load.py starts it.
"""

from __future__ import annotations

import html
import json
import os
import random
import re
import sys
import time
from collections import Counter
from datetime import date, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust import between, events, task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from locust_common import CASES, TASKS, Browsing  # noqa: E402

ACCOUNTS: list[list[str]] = json.loads(open(os.environ["AIGUILLAGE_BENCH_ACCOUNTS"]).read())
PASSWORD = os.environ.get("AIGUILLAGE_BENCH_PASSWORD", "mot-de-passe-de-bench")
NEXT = count()
STATUS: Counter[str] = Counter()
USERS = int(os.environ.get("AIGUILLAGE_BENCH_USERS", "0"))
MEASURE = float(os.environ.get("AIGUILLAGE_BENCH_MEASURE", "0"))
THINK = [float(s) for s in os.environ.get("AIGUILLAGE_BENCH_THINK", "1,3").split(",")]
STATEMENTS: dict[str, list[int]] = {}  # SQL statements each request ran, by name
SIGNED_IN: list[float] = []  # ms each sign-in took (scrypt on purpose: kept out of the rest)
FIELD = re.compile(r'<(input|textarea|select)\b([^>]*)>', re.S)
ATTR = re.compile(r'([\w-]+)(?:="([^"]*)")?')
OPTION = re.compile(r'<option[^>]*value="([^"]+)"')
# what each kind does, with weights (request names as the figures show them)
MIX = {"social_worker": {"my tasks": 3, "task page": 3, "complete a step": 3, "case page": 2,
                         "cases search": 1},
       "coordinator": {"my tasks": 2, "my overdue tasks": 2, "task page": 1,
                       "complete a step": 2, "case page": 2, "cases search": 2},
       "administrator": {"overdue dashboard": 3, "CSV export": 1, "case page": 1,
                         "cases search": 1}}


@events.request.add_listener  # type: ignore[untyped-decorator]
def _count(name: str, response: Any, exception: Any, **_: Any) -> None:
    code = getattr(response, "status_code", 0) or 0
    STATUS[f"{name}|{code}"] += 1
    statements = getattr(response, "headers", {}).get("X-Aiguillage-Statements")
    if statements is not None:  # the server counts them (STATEMENT_COUNT_HEADER)
        STATEMENTS.setdefault(name, []).append(int(statements))


@events.quitting.add_listener  # type: ignore[untyped-decorator]
def _write(**_: Any) -> None:
    path = os.environ.get("AIGUILLAGE_BENCH_STATUS")
    if path:
        with open(path, "w") as out:
            json.dump({"status": dict(STATUS), "sign_in_ms": SIGNED_IN,
                       "statements": STATEMENTS}, out)


def answers(page: str) -> dict[str, list[str]]:
    """A plausible answer to every field of the step's form (first choice of each radio,
    select and checkbox group, a short text, a date a week ahead, 1 for numbers)."""
    start = page.find('class="task-form"')
    form = page[start:page.find("</form>", start)] if start >= 0 else ""
    data: dict[str, list[str]] = {}
    for tag, attrs_text in FIELD.findall(form):
        attrs = {k: html.unescape(v) for k, v in ATTR.findall(attrs_text)}
        name = attrs.get("name")
        if not name or (name in data and attrs.get("type") in ("radio", "checkbox")):
            continue
        kind = attrs.get("type", tag)
        if tag == "select":
            rest = form[form.find(attrs_text):]
            options = OPTION.findall(rest[:rest.find("</select>")])
            value = options[0] if options else ""
        elif kind in ("radio", "checkbox", "hidden"):
            value = attrs.get("value", "")
        elif kind == "date":
            value = (date.today() + timedelta(days=7)).isoformat()
        elif kind == "number":
            value = "1"
        else:
            value = "Réponse de la mesure de charge"
        data[name] = [value]
    return data


class Person(Browsing):
    """One account, signed in once, doing what its kind does."""

    wait_time = between(THINK[0], THINK[-1])

    def on_start(self) -> None:
        self.email, self.kind = ACCOUNTS[next(NEXT) % len(ACCOUNTS)]
        SIGNED_IN.append(self.sign_in(self.email, PASSWORD))
        self.my_tasks()
        if len(SIGNED_IN) == USERS:  # everyone is in: the figures start from here
            self.environment.runner.stats.reset_all()
            if MEASURE:  # then measure for MEASURE seconds, whatever the sign-ins took
                gevent.spawn_later(MEASURE, self.environment.runner.quit)
            STATUS["measured from|s"] = round(time.time())
            marker = os.environ.get("AIGUILLAGE_BENCH_STATUS")
            if marker:  # bench/load.py reads the workers' CPU time when this appears
                open(f"{marker}.start", "w").close()

    def note(self, what: str) -> None:
        STATUS[what] += 1

    @task
    def act(self) -> None:
        mix = MIX[self.kind]
        choice = random.choices(list(mix), weights=list(mix.values()))[0]
        getattr(self, choice.replace(" ", "_").lower())()

    def my_overdue_tasks(self) -> None:
        text = self.client.get("/taches/?echeance=overdue", name="my tasks").text
        self.tasks_seen = TASKS.findall(text) or self.tasks_seen

    def my_tasks(self, query: str = "") -> None:
        super().my_tasks(query or random.choice(
            ("", "", "?echeance=overdue", f"?page={random.randint(1, 5)}")))

    def complete_a_step(self) -> None:
        if not self.tasks_seen:
            return self.my_tasks()
        self.complete(self.tasks_seen.pop(random.randrange(len(self.tasks_seen))), answers)
        return None

    def overdue_dashboard(self) -> None:
        page = random.choice(("", "", f"?page={random.randint(2, 20)}"))
        text = self.client.get(f"/supervision/{page}", name="overdue dashboard").text
        self.cases_seen = CASES.findall(text) or self.cases_seen

    def csv_export(self) -> None:
        self.client.get("/supervision/export.csv", name="CSV export")
