"""Observing the app (issue #17, item 3): JSON log lines under a request id and without
personal data, ``/metrics`` that moves and is kept from strangers, ``/readyz``."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from engine import scheduler
from engine.clock import FixedClock
from engine.logs import make_handler
from engine.services import health
from tests.integration.factories import World
from tests.web.conftest import AuthActions

REMOTE = {"REMOTE_ADDR": "203.0.113.7"}


@pytest.fixture
def json_log(app: Flask) -> Iterator[io.StringIO]:
    """What the process logs at INFO, as the production handler writes it in JSON."""
    stream = io.StringIO()
    handler = make_handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _start_and_complete(client: FlaskClient, world: World,
                        headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Open a case for « Ménage Observé » and complete its first step; returns the task id
    and the completion's X-Request-Id."""
    made = client.post("/dossiers/nouveau", data={"circuit": world.circuit.id,
                                                  "nom_menage": "Ménage Observé",
                                                  "nb_enfants": "2"})
    assert made.status_code == 302, made.text
    listing = client.get("/taches/")
    found = re.search(r'/taches/(\d+)"', listing.text)
    assert found is not None
    task_id = int(found.group(1))
    done = client.post(f"/taches/{task_id}", data={"mesure": "avdl"}, headers=headers or {})
    assert done.status_code == 302, done.text
    return task_id, done.headers["X-Request-Id"]


def test_request_lines_are_json_with_their_request_id_and_no_personal_data(
        client: FlaskClient, auth: AuthActions, world: World, json_log: io.StringIO) -> None:
    assert auth.login().status_code == 302
    _, request_id = _start_and_complete(client, world, {"X-Request-Id": "lb-7f3a.9"})
    assert request_id == "lb-7f3a.9"
    unsafe = client.get("/taches/", headers={"X-Request-Id": "x\" injected=1 " + "a" * 80})
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["X-Request-Id"])
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    requests = [line for line in lines if line["logger"] == "aiguillage.request"]
    assert len(requests) >= 5
    for line in requests:
        assert {"time", "level", "message", "request_id", "method", "route", "status",
                "duration_ms"} <= line.keys()
        assert line["time"].endswith("+00:00")
    completion = [line for line in requests if line["request_id"] == "lb-7f3a.9"]
    assert [(c["method"], c["route"], c["status"]) for c in completion] == [
        ("POST", "/taches/<int:task_id>", 302)]
    assert {line["request_id"] for line in requests} >= {unsafe.headers["X-Request-Id"]}
    written = json_log.getvalue()
    for personal in ("coord@demo.test", "Ménage Observé", "Observ", "avdl", "nom_menage",
                     "password", "?"):
        assert personal not in written


def _scrape(client: FlaskClient, **kwargs: object) -> dict[tuple[str, tuple[tuple[str, str],
                                                                          ...]], float]:
    response = client.get("/metrics", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
           **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_a_completion_a_fired_timer_and_the_requests(
        app: Flask, client: FlaskClient, auth: AuthActions, world: World,
        clock: FixedClock) -> None:
    before = _scrape(client)
    assert auth.login().status_code == 302
    _start_and_complete(client, world)
    clock.advance(timedelta(days=11))  # the decision's reminder (10 days) is due
    tick = scheduler.run_once(app.extensions["aiguillage"].sessions, clock, "observe-test")
    assert tick.fired >= 1
    after = _scrape(client)
    process_id = "mini"
    assert _value(after, "aiguillage_steps_completed_total", circuit=process_id) \
        - _value(before, "aiguillage_steps_completed_total", circuit=process_id) == 1
    assert _value(after, "aiguillage_timers_fired_total") \
        - _value(before, "aiguillage_timers_fired_total") == tick.fired
    late = _value(after, "aiguillage_timer_lateness_seconds_count") \
        - _value(before, "aiguillage_timer_lateness_seconds_count")
    assert late == tick.fired
    within_day = _value(after, "aiguillage_timer_lateness_seconds_bucket", le="86400.0") \
        - _value(before, "aiguillage_timer_lateness_seconds_bucket", le="86400.0")
    assert within_day == tick.fired  # a day late at most (fired a day after the due time)
    assert _value(after, "aiguillage_http_request_duration_seconds_count",
                  route="/taches/<int:task_id>", method="POST", status="3xx") \
        - _value(before, "aiguillage_http_request_duration_seconds_count",
                 route="/taches/<int:task_id>", method="POST", status="3xx") == 1
    assert ("aiguillage_db_connections_in_use", ()) in after
    assert _value(after, "aiguillage_scheduler_ticks_total") \
        > _value(before, "aiguillage_scheduler_ticks_total")
    assert not [key for key in after if "Ménage" in str(key) or "/taches/1" in str(key)]


def test_metrics_are_not_found_by_a_remote_client_nor_through_a_proxy(
        client: FlaskClient) -> None:
    assert client.get("/metrics", environ_base=REMOTE).status_code == 404
    assert client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.4"}).status_code \
        == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer guess"},
                      environ_base=REMOTE).status_code == 404


def test_with_a_token_only_its_bearer_reads_the_metrics(app: Flask,
                                                        client: FlaskClient) -> None:
    app.config["METRICS_TOKEN"] = "jeton-de-supervision"
    assert client.get("/metrics").status_code == 404  # loopback is not enough then
    for wrong in ("Bearer jeton-de-supervisioN", "Bearer ", "Basic jeton-de-supervision",
                  "jeton-de-supervision"):
        assert client.get("/metrics", headers={"Authorization": wrong}).status_code == 404
    right = client.get("/metrics", headers={"Authorization": "Bearer jeton-de-supervision"},
                       environ_base=REMOTE)
    assert right.status_code == 200 and "aiguillage_" in right.text


def test_readyz_needs_a_recent_scheduler_sweep(any_app: Flask, clock: FixedClock) -> None:
    app, client = any_app, any_app.test_client()
    never = client.get("/readyz")
    assert never.status_code == 503
    assert never.json == {"status": "error", "database": "ok", "migrations": "ok",
                          "scheduler": "never"}
    scheduler.run_once(app.extensions["aiguillage"].sessions, clock, "ready-test")
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert ready.json == {"status": "ok", "database": "ok", "migrations": "ok",
                          "scheduler": "ok"}
    clock.advance(timedelta(seconds=app.config["READY_SCHEDULER_MAX_AGE"] + 1))
    late = client.get("/readyz")
    assert late.status_code == 503 and late.json["scheduler"] == "late"
    assert client.get("/healthz").status_code == 200  # alive all the same
    app.config["READY_SCHEDULER_MAX_AGE"] = 0  # not checked
    assert client.get("/readyz").status_code == 200


def test_readyz_says_when_the_schema_is_behind(app: Flask, client: FlaskClient,
                                               clock: FixedClock) -> None:
    with app.extensions["aiguillage"].sessions() as session:
        health.beat(session, clock, "ready-test", clock.now())
        session.execute(text("UPDATE alembic_version SET version_num = '0018'"))
        session.commit()
    behind = client.get("/readyz")
    assert behind.status_code == 503 and behind.json["migrations"] == "behind"


def test_readyz_is_503_when_the_database_is_out_of_reach(app: Flask, client: FlaskClient,
                                                         clock: FixedClock) -> None:
    from engine.persistence.db import make_engine
    with app.extensions["aiguillage"].sessions() as session:
        health.beat(session, clock, "ready-test", clock.now())
    built = app.extensions["aiguillage"]
    dead = make_engine("sqlite:////nonexistent-aiguillage/gone/x.sqlite")
    built.sessions.configure(bind=dead)
    try:
        response = client.get("/readyz")
    finally:
        built.sessions.configure(bind=built.database)
        dead.dispose()
    assert response.status_code == 503
    assert response.json == {"status": "error", "database": "unreachable",
                             "migrations": "unknown", "scheduler": "unknown"}
    assert "sqlite" not in response.text and "nonexistent" not in response.text


def test_a_database_error_logged_holds_no_value_of_its_statement() -> None:
    """A failed statement's error is logged (a timer in incident, a 500): its values (a name,
    an answer) are not in its message."""
    from sqlalchemy.exc import IntegrityError

    from engine.persistence.db import make_engine
    database = make_engine("sqlite://")
    try:
        with database.begin() as connection:
            connection.execute(text("CREATE TABLE t (nom TEXT NOT NULL UNIQUE)"))
            connection.execute(text("INSERT INTO t VALUES (:nom)"), {"nom": "Camille Secrète"})
        with pytest.raises(IntegrityError) as raised, database.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (:nom)"), {"nom": "Camille Secrète"})
    finally:
        database.dispose()
    assert "Camille" not in str(raised.value) and "INSERT INTO t" in str(raised.value)
