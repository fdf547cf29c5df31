"""Bad input never breaks a page (issue #10, findings 5, 7 and 15, and the sweep).

Every test here runs on SQLite and on PostgreSQL (``any_app``), signed in as the coordinator
and administrator of territory A, on a world with two territories (A and « Ailleurs »).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import Rule

from engine.clock import FixedClock
from engine.persistence.models import HumanTask, Organisation, Territory
from engine.services import territories, users
from engine.services.access import SYSTEM
from tests.integration.factories import PASSWORD, World, make_world
from tests.web.helpers import open_case, with_form_labels

NUL = "\x00"
HUGE = str(2**64)
THIRTY = "9" * 30


@dataclass
class Place:
    """The world of these tests: A with an open case, B (« Ailleurs ») beside it."""

    world: World
    app: Flask
    client: FlaskClient
    clock: FixedClock
    case_id: int
    task_id: int
    other_territory: int
    organisation_id: int


@pytest.fixture
def place(any_app: Flask, clock: FixedClock) -> Place:
    """Signed in as coord@demo.test, coordinator and administrator of territory A."""
    with any_app.extensions["aiguillage"].sessions() as session:
        world = make_world(session, clock)
        users.add_membership(session, clock, SYSTEM, world.coordinator.user_id,
                             world.territory.id, "admin")
        org = territories.create_organisation(session, clock, SYSTEM, world.territory.id,
                                              "CCAS d'essai", "ccas")
        other = session.scalar(select(Territory.id).where(Territory.code == "ailleurs"))
        assert other is not None
        organisation_id = org.id
    case_id, task_id = open_case(any_app, clock, world)
    client = any_app.test_client()
    sign_in(client)
    return Place(world, any_app, client, clock, case_id, task_id, other, organisation_id)


def sign_in(client: FlaskClient) -> None:
    signed = client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD})
    assert signed.status_code == 302


@pytest.fixture
def tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Fails the test when a traceback is logged (an unexpected error, even if caught)."""
    caplog.set_level(logging.ERROR)
    yield caplog
    logged = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not logged, [r.getMessage() for r in logged]


# -- finding 7: NUL bytes, huge integers, long text, the organisation filter, the export ----

@pytest.mark.parametrize("url", [
    "/dossiers/?q=a%00b", "/dossiers/?etape=%00", "/dossiers/?statut=open%00",
    "/taches/?etape=%00", "/supervision/?role=%00", "/supervision/?etape=x%00",
    "/supervision/journal?personne=%00", "/supervision/journal?dossier=%00",
    "/supervision/journal?action=%00", "/supervision/journal.csv?action=%00",
    "/dossiers/%00", "/taches/1%00",
])
def test_a_nul_byte_in_a_query_or_path_is_a_400(place: Place, url: str,
                                                tracebacks: pytest.LogCaptureFixture) -> None:
    response = place.client.get(url)
    assert response.status_code in (400, 404), url
    if response.status_code == 400:
        assert "caractère invalide" in unescape(response.text)


@pytest.mark.parametrize("url, data", [
    ("/dossiers/nouveau?circuit={circuit}", {"nom_menage": "A\x00B"}),
    ("/dossiers/{case}/cloturer", {"reason": "fin\x00"}),
    ("/supervision/organisations", {"territoire": "{territory}", "nom": "X\x00",
                                    "type": "ccas"}),
    ("/supervision/utilisateurs", {"territoire": "{territory}", "email": "a\x00@x.test",
                                   "nom": "N\x00", "role": "operateur"}),
    ("/taches/{task}", {"mesure": "avdl\x00"}),
])
def test_a_nul_byte_in_a_form_is_a_400(place: Place, url: str, data: dict[str, str],
                                       tracebacks: pytest.LogCaptureFixture) -> None:
    fill = {"circuit": place.world.circuit.id, "case": place.case_id,
            "territory": place.world.territory.id, "task": place.task_id}
    response = place.client.post(url.format(**fill),
                                 data={k: v.format(**fill) for k, v in data.items()})
    assert response.status_code == 400
    assert "caractère invalide" in unescape(response.text)


def test_a_nul_byte_in_the_sign_in_email_is_a_400(any_app: Flask,
                                                  tracebacks: pytest.LogCaptureFixture) -> None:
    response = any_app.test_client().post("/connexion", data={"email": "a\x00@x.test",
                                                               "password": "x" * 12})
    assert response.status_code == 400


@pytest.mark.parametrize("url", ["/taches/99999999999999999999", f"/dossiers/{HUGE}",
                                 f"/supervision/dossiers/{THIRTY}/reparer",
                                 f"/dossiers/{2**63}/diagramme"])
def test_an_id_beyond_64_bits_in_the_path_is_a_404(place: Place, url: str,
                                                   tracebacks: pytest.LogCaptureFixture) -> None:
    assert place.client.get(url).status_code == 404


@pytest.mark.parametrize("url", [
    f"/dossiers/?page={HUGE}", f"/dossiers/?circuit={HUGE}", f"/dossiers/?referent={THIRTY}",
    f"/taches/?page={HUGE}", f"/taches/?circuit={THIRTY}", f"/supervision/?page={HUGE}",
    f"/supervision/?vue=sans-echeance&jours={HUGE}", f"/supervision/?circuit={HUGE}",
    f"/supervision/?organisation={HUGE}", f"/supervision/journal?page={HUGE}",
    f"/dossiers/nouveau?circuit={HUGE}", "/supervision/?vue=sans-echeance&jours=999999999",
    "/dossiers/?page=abc", "/supervision/journal?au=9999-12-31",
    "/supervision/journal?du=0001-01-01",
])
def test_an_integer_query_argument_out_of_range_is_a_400(
        place: Place, url: str, tracebacks: pytest.LogCaptureFixture) -> None:
    response = place.client.get(url)
    assert response.status_code == 400, url
    assert "Paramètre" in unescape(response.text) or "Date" in unescape(response.text)


def test_an_organisation_name_longer_than_its_column_is_refused(
        place: Place, tracebacks: pytest.LogCaptureFixture) -> None:
    response = place.client.post("/supervision/organisations", follow_redirects=True, data={
        "territoire": place.world.territory.id, "nom": "N" * 201, "type": "ccas"})
    assert response.status_code in (200, 422)
    assert "200 caractères" in unescape(response.text)
    with place.app.extensions["aiguillage"].sessions() as session:
        assert session.scalar(select(Organisation).where(Organisation.name == "N" * 201)) is None


def test_a_close_reason_longer_than_allowed_is_refused(
        place: Place, tracebacks: pytest.LogCaptureFixture) -> None:
    response = place.client.post(f"/supervision/dossiers/{place.case_id}/reparer",
                                 data={"annuler": "1", "motif": "m" * 600})
    assert response.status_code == 422
    assert "500 caractères" in unescape(response.text)


def test_a_search_text_longer_than_allowed_is_refused(
        place: Place, tracebacks: pytest.LogCaptureFixture) -> None:
    response = place.client.get("/dossiers/?q=" + "x" * 10_000)
    assert response.status_code == 422


def test_the_dashboard_filters_by_organisation(place: Place,
                                               tracebacks: pytest.LogCaptureFixture) -> None:
    with place.app.extensions["aiguillage"].sessions() as session:
        users.add_membership(session, place.clock, SYSTEM, place.world.operator.user_id,
                             place.world.territory.id, "coordination", place.organisation_id)
        task = session.get(HumanTask, place.task_id)
        assert task is not None
        task.assignee_id = place.world.operator.user_id
        session.commit()
    place.clock.advance(timedelta(days=30))
    sign_in(place.client)  # the idle timeout has passed
    mine = place.client.get(f"/supervision/?organisation={place.organisation_id}")
    assert mine.status_code == 200
    assert "1 étape en retard" in unescape(mine.text)
    other = place.client.get(f"/supervision/?organisation={place.organisation_id + 1000}")
    assert other.status_code == 200
    assert "Aucune étape dans cette vue." in unescape(other.text)


@pytest.mark.parametrize("url", ["/supervision/export.csv?territoire={other}",
                                 "/supervision/export.csv?vue=inconnue",
                                 "/supervision/?territoire={other}"])
def test_an_export_of_another_territory_is_refused_before_its_first_byte(
        place: Place, url: str, tracebacks: pytest.LogCaptureFixture) -> None:
    response = place.client.get(url.format(other=place.other_territory))
    assert response.status_code in (400, 403)
    assert response.mimetype == "text/html"


# -- finding 5: no live formula in a CSV export ---------------------------------------------

HOSTILE = {"circuit": "=HYPERLINK(\"http://evil.example\",\"clic\")", "step": "+cmd|' /C calc'!A0",
           "organisation": "@SUM(1+1)", "person": "-2+3", "territory": "\t=1+1",
           "email": "=2+3@x.test"}


def _cells(response: object) -> list[list[str]]:
    text = response.get_data(as_text=True).lstrip("\ufeff")  # type: ignore[attr-defined]
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def _is_formula(cell: str) -> bool:
    return cell.startswith(("=", "+", "-", "@", "\t", "\r")) and not cell.lstrip("+-").isdigit()


def test_neutralise_quotes_formulas_and_keeps_numbers() -> None:
    from webapp.csv_export import neutralise
    assert neutralise("=1+1") == "'=1+1" and neutralise("@x") == "'@x"
    assert neutralise("\tx") == "'\tx" and neutralise("\r=x") == "'\r=x"
    assert neutralise("-3") == "-3" and neutralise("+33") == "+33" and neutralise("-2,5") == "-2,5"
    assert neutralise("-2+3") == "'-2+3" and neutralise("Dupont") == "Dupont"
    assert neutralise(None) == "" and neutralise(12) == "12"


def test_both_exports_neutralise_hostile_names(place: Place,
                                               tracebacks: pytest.LogCaptureFixture) -> None:
    from engine.persistence.models import Circuit, User
    with place.app.extensions["aiguillage"].sessions() as session:
        users.add_membership(session, place.clock, SYSTEM, place.world.operator.user_id,
                             place.world.territory.id, "coordination", place.organisation_id)
        task = session.get(HumanTask, place.task_id)
        circuit = session.get(Circuit, place.world.circuit.id)
        organisation = session.get(Organisation, place.organisation_id)
        operator = session.get(User, place.world.operator.user_id)
        territory = session.get(Territory, place.world.territory.id)
        assert task and circuit and organisation and operator and territory
        task.assignee_id, task.name = operator.id, HOSTILE["step"]
        task.lane = HOSTILE["step"]
        circuit.title, organisation.name = HOSTILE["circuit"], HOSTILE["organisation"]
        operator.display_name, operator.email = HOSTILE["person"], HOSTILE["email"]
        territory.name = HOSTILE["territory"]
        session.commit()
    with place.app.extensions["aiguillage"].sessions() as session:
        tasks_of_operator = place.world.operator
        from engine.services import cases
        cases.get(session, place.clock, tasks_of_operator, place.case_id)  # a journal line
    place.clock.advance(timedelta(days=30))
    sign_in(place.client)
    for url in ("/supervision/export.csv", "/supervision/journal.csv"):
        with place.client.get(url) as response:  # closed: its stream holds a database cursor
            assert response.status_code == 200 and response.mimetype == "text/csv", url
            assert response.headers["Cache-Control"] == "no-store"
            rows = _cells(response)
        assert len(rows) > 1, url
        cells = [cell for row in rows for cell in row]
        assert not [c for c in cells if _is_formula(c)], url
        quoted = {c[1:] for c in cells if c.startswith("'")}
        expected = ({HOSTILE["circuit"], HOSTILE["step"], HOSTILE["organisation"],
                     HOSTILE["person"], HOSTILE["territory"]} if "export" in url
                    else {HOSTILE["person"], HOSTILE["territory"]})  # a name, not an e-mail
        assert expected <= quoted, (url, quoted)


# -- finding 15: the database goes away during a submit ------------------------------------

TYPED = {"mesure": "asll", "referent.nom": "Camille Saisie-Perdue"}


def _task_still_open(app: Flask, task_id: int) -> bool:
    with app.extensions["aiguillage"].sessions() as session:
        task = session.get(HumanTask, task_id)
        return task is not None and task.status == "open"


def test_a_connection_lost_while_completing_shows_the_form_again(
        place: Place, caplog: pytest.LogCaptureFixture) -> None:
    """The driver fails the write as a lost connection does: the engine says Unavailable,
    the page says nothing was saved and keeps what was typed."""
    from sqlalchemy import event
    database = place.app.extensions["aiguillage"].database
    dbapi = database.dialect.loaded_dbapi
    lost = ("disk I/O error" if database.dialect.name == "sqlite"
            else "consuming input failed: server closed the connection unexpectedly")

    cuts: list[str] = []

    def cut(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if not cuts and statement.lstrip().upper().startswith(("UPDATE", "INSERT")):
            cuts.append(statement)  # the completion's first write; the page is read after
            raise dbapi.OperationalError(lost)

    event.listen(database, "before_cursor_execute", cut)
    try:
        response = place.client.post(f"/taches/{place.task_id}", data=TYPED)
    finally:
        event.remove(database, "before_cursor_execute", cut)
    page = unescape(response.text)
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "Rien n'a été enregistré" in page and "réessayez" in page
    assert 'value="Camille Saisie-Perdue"' in page
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert _task_still_open(place.app, place.task_id)
    again = place.client.post(f"/taches/{place.task_id}", data=TYPED)
    assert again.status_code == 302 and not _task_still_open(place.app, place.task_id)


def test_a_database_out_of_reach_is_a_503_that_keeps_what_was_typed(
        place: Place, caplog: pytest.LogCaptureFixture) -> None:
    """A real outage: every connection is refused (a closed PostgreSQL port, a SQLite file
    whose folder is gone). Nothing was saved; the values come back with a button to resend."""
    from engine.persistence.db import make_engine
    built = place.app.extensions["aiguillage"]
    dead = make_engine("sqlite:////nonexistent-aiguillage/gone/x.sqlite"
                       if built.database.dialect.name == "sqlite"
                       else "postgresql://postgres@127.0.0.1:1/aiguillage_gone")
    typed = with_form_labels(place.client, f"/taches/{place.task_id}", TYPED)
    built.sessions.configure(bind=dead)
    try:
        response = place.client.post(f"/taches/{place.task_id}", data=typed)
        healthz = place.client.get("/healthz")
    finally:
        built.sessions.configure(bind=built.database)
        dead.dispose()
    page = unescape(response.text)
    assert response.status_code == 503, page[:500]
    assert "rien n'a été enregistré" in page.lower()
    assert 'name="referent.nom" value="Camille Saisie-Perdue"' in page
    assert "Renvoyer" in page and f'action="/taches/{place.task_id}"' in page
    # named as the form names them, in its order, a choice by its label (not `mesure: asll`)
    assert ("<dt>Mesure proposée</dt><dd>ASLL</dd></div>"
            "<div><dt>Référent·e — Nom</dt><dd>Camille Saisie-Perdue</dd>") in page
    assert "<dt>referent.nom" not in page
    assert healthz.status_code == 503
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert _task_still_open(place.app, place.task_id)


def test_a_sqlite_file_gone_is_a_503(template_db: object, tmp_path: object, clock: FixedClock,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """The folder holding the SQLite file is moved away while the app runs."""
    import shutil
    from pathlib import Path

    from tests.web.conftest import _config
    from webapp import create_app
    folder = Path(str(tmp_path)) / "data"
    folder.mkdir()
    shutil.copy(str(template_db), folder / "web.sqlite")
    app = create_app(_config(f"sqlite:///{folder / 'web.sqlite'}", clock))
    with app.extensions["aiguillage"].sessions() as session:
        make_world(session, clock)
    client = app.test_client()
    sign_in(client)
    app.extensions["aiguillage"].database.dispose()
    folder.rename(folder.with_name("moved"))
    try:
        response = client.post("/dossiers/nouveau?circuit=1", data={"nom_menage": "Ménage X"})
    finally:
        folder.with_name("moved").rename(folder)
        app.extensions["aiguillage"].database.dispose()
    assert response.status_code == 503
    assert 'value="Ménage X"' in unescape(response.text)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- the sweep: every route × method × hostile values, never a 500 ---------------------------

WEBAPP = Path(__file__).resolve().parents[2] / "webapp"
READS = re.compile(r'(?:args|form|values)\.get(?:list)?\(\s*"([^"]+)"'
                   r'|(?:int_arg|date_arg|int_list)\(\s*"([^"]+)"|(\w+) = \w+Field\(')
HOSTILE_VALUES = [
    "a\x00b", "%00", THIRTY, HUGE, str(2**63), "-1", "0", str(2**31), "x" * 10_000,
    "\u202eRTL\u200f", "🏠" * 50, "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),
    "1.5", "[]", "true", "' OR 1=1 --", "../../etc/passwd",
]
PATH_VALUES = {"int": ["0", THIRTY, HUGE, str(2**63), str(2**31), "1"],
               "default": ["%00", "x" * 3000, "%E2%80%AE", "%F0%9F%8F%A0", "%ED%A0%80", "..%2F.."]}
DEEP_JSON = "[" * 50_000 + "]" * 50_000


def _parameter_names() -> list[str]:
    """Every query and form parameter the views read (found in their source)."""
    names: set[str] = set()
    for path in WEBAPP.rglob("*.py"):
        for match in READS.finditer(path.read_text(encoding="utf-8")):
            names.update(n for n in match.groups() if n)
    return sorted(names)


def _urls(rule: Rule, place: Place) -> list[str]:
    """The rule's path with known ids, then with hostile values in each parameter."""
    known = {"case_id": place.case_id, "task_id": place.task_id,
             "circuit_id": place.world.circuit.id}
    def build(values: dict[str, str]) -> str:
        return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: values[m.group(1)], rule.rule)
    base = {name: str(known.get(name, 999_999)) if type(conv).__name__ == "BoundedInt"
            else "x" for name, conv in rule._converters.items()}
    urls = [build(base)]
    for name, conv in rule._converters.items():
        kind = "int" if type(conv).__name__ == "BoundedInt" else "default"
        urls += [build({**base, name: value}) for value in PATH_VALUES[kind]]
    return urls


SKIPPED = {"static", "auth.logout"}  # signing out would end the sweep's own session


def test_no_route_answers_500_to_hostile_input(place: Place,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """Every rule × method × hostile path, query, form and JSON values: never a 500 and no
    traceback logged (issue #10: « bad input never breaks a page »)."""
    caplog.set_level(logging.ERROR)
    place.app.config.update(SIGN_IN_MAX_FAILURES=10**6, SIGN_IN_ADDRESS_MAX_FAILURES=10**6)
    names = _parameter_names()
    assert {"page", "circuit", "q", "etape", "email", "reason"} <= set(names)
    failures: list[str] = []
    started = time.monotonic()
    for rule in place.app.url_map.iter_rules():
        if rule.endpoint in SKIPPED or "logout" in rule.endpoint:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            urls = _urls(rule, place)
            for i, value in enumerate(HOSTILE_VALUES):
                fields = {name: value for name in names}
                url = urls[0] + "?" + urlencode(fields, encoding="utf-8",
                                                errors="surrogatepass")
                sent = [place.client.open(url, method=method,
                                          data=fields if method == "POST" else None)]
                if i < len(urls) - 1:
                    sent.append(place.client.open(urls[i + 1], method=method))
                if method == "POST" and i == 0:
                    sent.append(place.client.open(urls[0], method=method, data=DEEP_JSON,
                                                  content_type="application/json"))
                    sent.append(place.client.open(urls[0], method=method,
                                                  json={"a": {"b": ["\u0000", "\ud800x"]}}))
                for response in sent:
                    with response:
                        if response.status_code >= 500 and response.status_code != 503:
                            failures.append(f"{method} {response.request.url[:120]!r} "
                                            f"→ {response.status_code}")
            if place.client.get("/taches/").status_code != 200:
                sign_in(place.client)  # an action above may have changed the session
    logged = [r.getMessage()[:200] for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failures, failures
    assert not logged, logged
    assert time.monotonic() - started < 120
