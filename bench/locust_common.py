"""What the two locust files share: signing in with the form's CSRF token, browsing the
lists and pages while remembering the steps and cases seen, and completing a step (GET its
form, POST the answers with the page's token).

Used by bench/locustfile.py (bench/load.py) and tests/load/locustfile.py (the CI load run,
tests/load/test_load_smoke.py); both put this folder on ``sys.path`` before importing it, so
it runs from a fresh clone with nothing installed but the venv.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable

from locust import HttpUser

TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
TASKS = re.compile(r'href="/taches/(\d+)"')
CASES = re.compile(r'href="/dossiers/(\d+)"')
ENDING = re.compile(r'name="fin_confirmee" value="([^"]+)"')
SURNAMES = ("martin", "bernard", "thomas", "petit", "robert", "durand", "dubois", "moreau")


class Browsing(HttpUser):
    """A signed-in person going through the lists; the subclasses say who and what.
    A 404 on a step's page (another user completed it meanwhile) and a 422 on a completion
    (the answer did not fit the form) are not failures: ``note`` hears of them."""

    abstract = True

    def note(self, what: str) -> None:
        """Told « <request name>|gone » or « complete a step|refused answer »."""

    def sign_in(self, email: str, password: str) -> float:
        """Sign in through the form, with its CSRF token; the POST's time in ms (scrypt,
        slow on purpose: the callers keep it out of the other figures)."""
        page = self.client.get("/connexion", name="sign in (form)").text
        token = TOKEN.search(page)
        begin = time.perf_counter()
        self.client.post("/connexion", name="sign in", allow_redirects=False,
                         data={"email": email, "password": password,
                               "csrf_token": token.group(1) if token else ""})
        self.tasks_seen: list[str] = []
        self.cases_seen: list[str] = []
        return 1000 * (time.perf_counter() - begin)

    def seen(self, text: str) -> None:
        """Remember the steps and cases a page links to (the previous ones if none)."""
        self.tasks_seen = TASKS.findall(text) or self.tasks_seen
        self.cases_seen = CASES.findall(text) or self.cases_seen

    def my_tasks(self, query: str = "") -> None:
        self.seen(self.client.get(f"/taches/{query}", name="my tasks").text)

    def page(self, url: str, name: str) -> str:
        """GET a step's page, a 404 (completed by someone else) counted apart."""
        with self.client.get(url, name=name, catch_response=True) as response:
            if response.status_code == 404:
                response.success()
                self.note(f"{name}|gone")
            return str(response.text)

    def task_page(self) -> None:
        if not self.tasks_seen:
            return self.my_tasks()
        text = self.page(f"/taches/{random.choice(self.tasks_seen)}", "task page")
        self.cases_seen = CASES.findall(text) or self.cases_seen
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

    def complete(self, task_id: str, fill: Callable[[str], dict[str, list[str]]],
                 form_name: str = "complete a step (form)") -> bool:
        """Open step ``task_id``'s form, answer it with ``fill(page)`` and POST it with the
        page's token (named « complete a step »); an answer that ends the case is confirmed,
        as the person would. False when the step is no longer offered or has nothing to
        fill. A 422 (the answer did not fit this form) is counted apart, not a failure."""
        page = self.page(f"/taches/{task_id}", form_name)
        token = TOKEN.findall(page)
        data = fill(page)
        if not token or not data:
            return False
        data["csrf_token"] = [token[-1]]
        with self.client.post(f"/taches/{task_id}", data=data, name="complete a step",
                              allow_redirects=False, catch_response=True) as response:
            ending = ENDING.search(response.text)
            if response.status_code == 422:
                response.success()
                self.note("complete a step|refused answer")
            elif response.status_code in (302, 303) or ending:
                response.success()
        if ending:
            data["fin_confirmee"] = [ending.group(1)]
            self.client.post(f"/taches/{task_id}", data=data, allow_redirects=False,
                             name="complete a step")
        return True
