"""The OpenAPI document is true: every route of the API is in it and nothing else, and
schemathesis, loading the served document through the WSGI app with a real key on a small
world, finds no 500 and no response that departs from it, for valid and invalid requests."""

from __future__ import annotations

import re

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from engine.clock import FixedClock
from tests.web.api_world import call, make_api_world
from webapp.api.openapi import document

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
# values the document allows that the API refuses on purpose, with a problem: answers in
# ``data`` that fail the circuit's form (its schema is served apart, per circuit and step:
# 422), a cursor it did not make, a control character in a text (400). Every other check
# (no 500, statuses, media types, bodies and headers as documented, keys enforced) runs.
REFUSED_ON_PURPOSE = [positive_data_acceptance]
# and, for data the document forbids, the one it lets through on purpose: a query parameter
# it does not name is ignored, as web APIs do (an unknown member of a body is not)
IGNORED_ON_PURPOSE = [negative_data_rejection]


def _routes(app: Flask) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        found |= {(path, m.lower()) for m in (rule.methods or set()) & METHODS}
    return found


def test_every_route_is_documented_and_nothing_else(app: Flask) -> None:
    paths = document()["paths"]
    documented = {(path, method) for path, item in paths.items() for method in item}
    assert _routes(app) == documented


def test_the_document_is_served_without_a_key(app: Flask) -> None:
    answer = app.test_client().get("/api/v1/openapi.json")
    assert answer.status_code == 200 and answer.json["openapi"] == "3.1.0"
    assert answer.json == document()


def test_schemathesis_finds_no_500_and_no_departure(app: Flask, clock: FixedClock) -> None:
    """Bounded: 25 valid and 15 invalid examples per operation (about 20 s in all)."""
    world = make_api_world(app, clock)
    client = app.test_client()
    opened = call(client, "POST", "/api/v1/cases", world.writer,
                  json={"circuit_id": world.world.circuit.id, "data": {"nom_menage": "Essai"}})
    assert opened.status_code == 201
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    auth = {"Authorization": f"Bearer {world.writer}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= len(document()["paths"]) - 1  # the document itself may be left out
    for operation in operations:
        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def valid(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=auth, excluded_checks=REFUSED_ON_PURPOSE)

        @settings(max_examples=15, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        def invalid(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=auth, excluded_checks=IGNORED_ON_PURPOSE)

        valid()  # a failure raises schemathesis' report for that operation
        invalid()  # bad input: a documented 4xx problem, never a 500


@pytest.mark.parametrize("path", ["/api/v1/tasks", "/api/v1/circuits"])
def test_no_key_no_answer_but_a_problem(app: Flask, path: str) -> None:
    answer = app.test_client().get(path)
    assert answer.status_code == 401
    assert answer.content_type == "application/problem+json"
