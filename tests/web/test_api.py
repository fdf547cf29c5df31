"""The REST API ``/api/v1`` (issue #18, item 1): keys, scopes, every endpoint, and every
error as problem+json with the pages' French messages, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from engine.clock import FixedClock
from engine.persistence.models import Case, HumanTask, User
from engine.services import tasks
from tests.integration.factories import PASSWORD
from tests.web.api_world import ApiWorld, call, make_api_world

PROBLEM = "application/problem+json"


@pytest.fixture
def api(any_app: Flask, clock: FixedClock) -> ApiWorld:
    return make_api_world(any_app, clock)


@pytest.fixture
def http(any_app: Flask) -> FlaskClient:
    return any_app.test_client()


def _cases(app: Flask) -> int:
    with app.extensions["aiguillage"].sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Case)) or 0)


def _open(http: FlaskClient, api: ApiWorld, name: str = "Ménage Api", **kw: object):  # type: ignore[no-untyped-def]
    return call(http, "POST", "/api/v1/cases", api.writer,
                json={"circuit_id": api.world.circuit.id, "data": {"nom_menage": name}}, **kw)


def _coordinator_completes_analyse(app: Flask, clock: FixedClock, api: ApiWorld,
                                   reference: str) -> None:
    with app.extensions["aiguillage"].sessions() as session:
        task_id = session.scalar(select(HumanTask.id).join(Case, Case.id == HumanTask.case_id)
                                 .where(Case.reference == reference,
                                        HumanTask.bpmn_id == "analyse"))
        assert task_id is not None
        tasks.complete(session, clock, api.world.coordinator, task_id, {"mesure": "avdl"})


def test_a_case_opened_and_its_step_completed_through_the_api(
        any_app: Flask, http: FlaskClient, api: ApiWorld, clock: FixedClock) -> None:
    listed = call(http, "GET", "/api/v1/circuits", api.reader)
    assert listed.status_code == 200
    [circuit] = listed.json["items"]
    assert circuit["title"] == "Circuit d'essai"
    schema = call(http, "GET", circuit["start_form"], api.reader)
    assert schema.status_code == 200 and "nom_menage" in schema.json["properties"]

    opened = _open(http, api)
    assert opened.status_code == 201, opened.json
    reference = opened.json["reference"]
    assert opened.headers["Location"] == f"/api/v1/cases/{reference}"
    assert opened.json["status"] == "open" and opened.json["created"] is True

    _coordinator_completes_analyse(any_app, clock, api, reference)
    mine = call(http, "GET", "/api/v1/tasks", api.writer)
    assert mine.status_code == 200
    [step] = [t for t in mine.json["items"] if t["case_reference"] == reference]
    assert step["step"] == "decision"
    read = call(http, "GET", step["links"]["case"], api.reader)
    assert read.status_code == 200
    assert read.json["minimal"] is True and read.json["data"] == {}
    assert [s["step"] for s in read.json["current_steps"]] == ["decision"]
    detail = call(http, "GET", step["links"]["self"], api.writer)
    assert detail.status_code == 200
    assert detail.json["form"]["properties"]["decision"]
    assert detail.json["can_complete"] is True

    refused = call(http, "POST", step["links"]["complete"], api.writer,
                   json={"data": {"decision": "peut-etre"}})
    assert refused.status_code == 422 and refused.content_type == PROBLEM
    assert "decision" in refused.json["errors"]
    assert refused.json["title"] == "Données refusées"

    done = call(http, "POST", step["links"]["complete"], api.writer,
                json={"data": {"decision": "acceptee"}})
    assert done.status_code == 200, done.json
    assert done.json["completed"]["id"] == step["id"]
    again = call(http, "POST", step["links"]["complete"], api.writer,
                 json={"data": {"decision": "acceptee"}})
    assert again.status_code == 409 and again.content_type == PROBLEM
    assert "déjà" in again.json["detail"]

    # the key's organisation plays no part in the case: once its step is done, the case is
    # out of its reach (the visibility rule), as it is for a person of that organisation
    gone = call(http, "GET", f"/api/v1/cases/{reference}", api.reader)
    assert gone.status_code == 404 and gone.content_type == PROBLEM


def test_the_same_idempotency_key_opens_one_case(any_app: Flask, http: FlaskClient,
                                                 api: ApiWorld) -> None:
    before = _cases(any_app)
    first = _open(http, api, headers={"Idempotency-Key": "demande-42"})
    second = _open(http, api, headers={"Idempotency-Key": "demande-42"})
    assert first.status_code == second.status_code == 201
    assert second.json["reference"] == first.json["reference"]
    assert second.headers["Idempotent-Replayed"] == "true" and second.json["created"] is False
    assert _cases(any_app) == before + 1
    other = _open(http, api, "Autre ménage", headers={"Idempotency-Key": "demande-42"})
    assert other.status_code == 409 and "idempotence" in other.json["detail"]
    assert _cases(any_app) == before + 1
    assert _open(http, api).status_code == 201 and _cases(any_app) == before + 2
    for bad in ("k" * 201, "demande\x00-43", "demande\x01-44"):
        refused = _open(http, api, headers={"Idempotency-Key": bad})
        assert refused.status_code == 422 and refused.content_type == PROBLEM, bad
        assert "idempotence" in refused.json["detail"]
    assert _cases(any_app) == before + 2


def test_keys_and_scopes(any_app: Flask, http: FlaskClient, api: ApiWorld) -> None:
    before = _cases(any_app)
    for token in (None, "agl_inconnu_secret", "n'importe quoi", "x" * 10_000):
        answer = call(http, "GET", "/api/v1/tasks", token)
        assert answer.status_code == 401 and answer.content_type == PROBLEM, token
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    read_only = call(http, "POST", "/api/v1/cases", api.reader,
                     json={"circuit_id": api.world.circuit.id, "data": {"nom_menage": "X"}})
    assert read_only.status_code == 403 and "droit" in read_only.json["detail"]
    elsewhere = call(http, "POST", "/api/v1/cases", api.elsewhere,
                     json={"circuit_id": api.world.circuit.id, "data": {"nom_menage": "X"}})
    assert elsewhere.status_code == 403 and "circuit" in elsewhere.json["detail"]
    assert call(http, "GET", "/api/v1/circuits", api.elsewhere).json["items"] == []
    assert _cases(any_app) == before


def test_a_session_cookie_is_not_a_key(any_app: Flask, http: FlaskClient,
                                       api: ApiWorld) -> None:
    assert http.post("/connexion", data={"email": "coord@demo.test",
                                         "password": PASSWORD}).status_code == 302
    answer = http.get("/api/v1/tasks")
    assert answer.status_code == 401 and answer.content_type == PROBLEM
    # not even a session that must first change its temporary password (no redirect)
    with any_app.extensions["aiguillage"].sessions() as session:
        session.execute(update(User).where(User.email == "op@demo.test")
                        .values(must_change_password=True))
        session.commit()
    other = any_app.test_client()
    other.post("/connexion", data={"email": "op@demo.test", "password": PASSWORD})
    assert other.get("/taches/").status_code == 302
    answer = call(other, "GET", "/api/v1/tasks", api.reader)
    assert answer.status_code == 200
    answer = other.get("/api/v1/tasks")
    assert answer.status_code == 401 and answer.content_type == PROBLEM


def test_bad_input_is_a_problem_and_changes_nothing(any_app: Flask, http: FlaskClient,
                                                    api: ApiWorld) -> None:
    before = _cases(any_app)
    bad = {
        "malformed": dict(data=b"{pas du json", content_type="application/json"),
        "nul": dict(data=b'{"circuit_id": 1, "data": {"nom_menage": "a\\u0000b"}}',
                    content_type="application/json"),
        "form": dict(data={"circuit_id": "1"}),
        "list": dict(json=[1, 2]),
        "id": dict(json={"circuit_id": 10**30, "data": {}}),
        "data": dict(json={"circuit_id": api.world.circuit.id, "data": "oui"}),
        "big": dict(data=b'{"a": "' + b"x" * (5 * 1024 * 1024) + b'"}',
                    content_type="application/json"),
    }
    expected = {"malformed": 400, "nul": 400, "form": 415, "list": 400, "id": 422,
                "data": 422, "big": 413}
    for name, kw in bad.items():
        answer = call(http, "POST", "/api/v1/cases", api.writer, **kw)
        assert answer.status_code == expected[name], (name, answer.get_data()[:300])
        assert answer.content_type == PROBLEM, name
        body = answer.json
        assert {"type", "title", "status", "detail", "instance"} <= set(body), name
    assert _cases(any_app) == before
    assert call(http, "GET", f"/api/v1/tasks/{'9' * 30}", api.writer).status_code == 404
    assert call(http, "GET", "/api/v1/tasks/999999", api.writer).status_code == 404
    assert call(http, "GET", "/api/v1/cases/INCONNU-1", api.writer).status_code == 404
    assert call(http, "GET", "/api/v1/tasks?cursor=abc", api.writer).status_code == 400
    assert call(http, "GET", "/api/v1/tasks?limit=0", api.writer).status_code == 400
    assert call(http, "DELETE", "/api/v1/tasks", api.writer).status_code == 405
    assert call(http, "GET", "/api/v1/nulle-part", api.writer).content_type == PROBLEM


def test_a_form_refusal_names_each_field_in_french(http: FlaskClient, api: ApiWorld) -> None:
    answer = call(http, "POST", "/api/v1/cases", api.writer,
                  json={"circuit_id": api.world.circuit.id, "data": {"nb_enfants": 99}})
    assert answer.status_code == 422
    assert set(answer.json["errors"]) >= {"nom_menage", "nb_enfants"}
    english = call(http, "POST", "/api/v1/cases", api.writer,
                   json={"circuit_id": api.world.circuit.id, "data": {}},
                   headers={"Accept-Language": "en"})
    assert english.json["title"] == "Unprocessable content"


def test_a_case_out_of_reach_is_not_found(any_app: Flask, http: FlaskClient,
                                          api: ApiWorld) -> None:
    reference = _open(http, api).json["reference"]
    assert call(http, "GET", f"/api/v1/cases/{reference}", api.elsewhere).status_code == 404


def test_tasks_come_by_cursor(any_app: Flask, http: FlaskClient, api: ApiWorld,
                              clock: FixedClock) -> None:
    references = []
    for n in range(3):
        references.append(_open(http, api, f"Ménage {n}").json["reference"])
        _coordinator_completes_analyse(any_app, clock, api, references[-1])
        clock.advance(timedelta(minutes=1))
    seen: list[str] = []
    url: str | None = "/api/v1/tasks?limit=2"
    while url:
        page = call(http, "GET", url, api.writer)
        assert page.status_code == 200
        seen += [t["case_reference"] for t in page.json["items"]]
        url = page.json["next"]
    assert seen == references


@pytest.mark.parametrize("apart", [timedelta(minutes=1), timedelta(0)])
def test_steps_completed_between_two_pages_shift_nothing(
        any_app: Flask, http: FlaskClient, api: ApiWorld, clock: FixedClock,
        apart: timedelta) -> None:
    """The cursor is the last step read (keyset), not a rank: steps of the first page done
    before the second is read make the list skip nothing and repeat nothing (steps ready at
    the same instant too: their id breaks the tie)."""
    references = []
    for n in range(5):
        references.append(_open(http, api, f"Ménage {n}").json["reference"])
        _coordinator_completes_analyse(any_app, clock, api, references[-1])
        clock.advance(apart)
    first = call(http, "GET", "/api/v1/tasks?limit=2", api.writer)
    assert [t["case_reference"] for t in first.json["items"]] == references[:2]
    for step in first.json["items"]:
        done = call(http, "POST", step["links"]["complete"], api.writer,
                    json={"data": {"decision": "acceptee"}})
        assert done.status_code == 200, done.json
    seen: list[str] = []
    url: str | None = first.json["next"]
    while url:
        page = call(http, "GET", url, api.writer)
        assert page.status_code == 200, page.json
        seen += [t["case_reference"] for t in page.json["items"]]
        url = page.json["next"]
    assert seen == references[2:]


def test_a_forged_or_foreign_cursor_is_refused(any_app: Flask, http: FlaskClient,
                                               api: ApiWorld, clock: FixedClock) -> None:
    for n in range(2):
        _coordinator_completes_analyse(any_app, clock, api,
                                       _open(http, api, f"Ménage {n}").json["reference"])
        clock.advance(timedelta(minutes=1))
    cursor = call(http, "GET", "/api/v1/tasks?limit=1", api.writer).json["next_cursor"]
    assert cursor and call(http, "GET", f"/api/v1/tasks?cursor={cursor}",
                           api.writer).status_code == 200
    payload, _, signature = cursor.rpartition(".")
    forged = f"{payload}.{signature[::-1]}"
    for bad in (forged, "W10.x", "x" * 2000, "%00", cursor + "A"):
        answer = call(http, "GET", f"/api/v1/tasks?cursor={bad}", api.writer)
        assert answer.status_code == 400 and answer.content_type == PROBLEM, bad
        assert bad == "%00" or "Curseur invalide" in answer.json["detail"]
    # a cursor of the task list does not page the directory
    foreign = call(http, "GET", f"/api/v1/directory?cursor={cursor}", api.reader)
    assert foreign.status_code == 400 and foreign.content_type == PROBLEM


def test_too_many_requests_wait(any_app: Flask, http: FlaskClient, api: ApiWorld,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIGUILLAGE_API_RATE_LIMIT", "2")
    codes = [call(http, "GET", "/api/v1/circuits", api.reader).status_code for _ in range(3)]
    assert codes[:2] == [200, 200] and codes[2] == 429
    answer = call(http, "GET", "/api/v1/circuits", api.reader)
    assert answer.content_type == PROBLEM and int(answer.headers["Retry-After"]) >= 1


def test_the_directory(any_app: Flask, http: FlaskClient, api: ApiWorld,
                       clock: FixedClock) -> None:
    from engine.services import directory
    from engine.services.access import SYSTEM
    with any_app.extensions["aiguillage"].sessions() as session:
        made = directory.create(session, clock, SYSTEM, api.world.territory.id, directory.Entry(
            organisation_id=api.organisation_id, measure="avdl", name="AVDL Essai",
            capacity=5, places_available=2))
    listed = call(http, "GET", "/api/v1/directory?q=essai", api.reader)
    assert listed.status_code == 200
    [item] = listed.json["items"]
    entry = call(http, "GET", item["links"]["self"], api.reader)
    assert entry.status_code == 200 and entry.json["places_available"] == 2
    with any_app.extensions["aiguillage"].sessions() as session:
        for name in ("AVDL Essai", "Accueil Essai"):  # a name twice: the id breaks the tie
            directory.create(session, clock, SYSTEM, api.world.territory.id, directory.Entry(
                organisation_id=api.organisation_id, measure="avdl", name=name,
                capacity=1, places_available=1))
    names: list[str] = []
    url: str | None = "/api/v1/directory?q=essai&limit=1"
    while url:
        page = call(http, "GET", url, api.reader)
        assert page.status_code == 200 and "q=essai" in (page.json["next"] or "q=essai")
        names += [i["name"] for i in page.json["items"]]
        url = page.json["next"]
    assert sorted(names) == ["AVDL Essai", "AVDL Essai", "Accueil Essai"] and len(names) == 3
    assert entry.json["id"] == made
    assert call(http, "GET", "/api/v1/directory?measure=inconnue",
                api.reader).status_code == 422


def test_a_busy_database_and_an_unexpected_fault_are_problems(
        http: FlaskClient, api: ApiWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.errors import Unavailable

    def busy(*_: object, **__: object) -> None:
        raise Unavailable(code="svc.busy")

    monkeypatch.setattr(tasks, "my_tasks", busy)
    answer = call(http, "GET", "/api/v1/tasks", api.reader)
    assert answer.status_code == 503 and answer.content_type == PROBLEM
    assert answer.headers["Retry-After"] == "5"

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(tasks, "my_tasks", broken)
    answer = call(http, "GET", "/api/v1/tasks", api.reader)
    assert answer.status_code == 500 and answer.content_type == PROBLEM
    assert "boom" not in answer.get_data(as_text=True)
