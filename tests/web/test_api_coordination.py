"""A whole coordination case driven through the REST API only (issue #18, « Done when »): the
referrer's software opens it, each step is completed by the key of the organisation it is
offered to, the SIAO's software sends its answer as a message, and the referrer reads the
case, oriented, with its orientation accepted. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.clock import FixedClock
from engine.persistence.models import Circuit, Organisation
from engine.services import api_keys, demo, territories
from engine.services.access import SYSTEM
from tests.web.api_world import call

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = (ROOT / "tests" / "scenarios" / "reference" / "coordination"
            / "e4-relais-droit-commun-avec-reponse-du-siao.json")


def _keys(app: Flask, clock: FixedClock) -> tuple[int, dict[str, str]]:
    """The demo territory and a read-write key per organisation of the case: the referrer
    (CCAS), the platform, operator A (the service the scenario orients to) and the SIAO."""
    api_keys.reset_rates()
    with app.extensions["aiguillage"].sessions() as session:
        territory = demo.load(session, clock, ROOT, "mot-de-passe-de-test", cases_per_circuit=0)
        orgs = {name: org for org, name in session.execute(select(
            Organisation.id, Organisation.name).where(Organisation.territory_id == territory))}
        orgs["SIAO de Démoville"] = territories.create_organisation(
            session, clock, SYSTEM, territory, "SIAO de Démoville", "siao").id
        plays = {"referrer": ("CCAS de Démoville", ["orienteur"]),
                 "platform": ("Plateforme Logement d'abord de Démoville", ["coordination"]),
                 "operator": ("Association Relais (opérateur A)", ["operateur", "referent"]),
                 "siao": ("SIAO de Démoville", ["siao"])}
        issued = {who: api_keys.create(session, clock, SYSTEM, territory, orgs[org],
                                       f"Logiciel {who}", roles, ["read", "write"], None)
                  for who, (org, roles) in plays.items()}
        session.commit()
        return territory, {who: key.token for who, key in issued.items()}


def _offered(http: FlaskClient, keys: dict[str, str], reference: str,
             step: str) -> list[tuple[str, dict[str, Any]]]:
    """Which keys are offered ``step`` of the case (GET /tasks, every page)."""
    found = []
    for who, token in keys.items():
        url: str | None = "/api/v1/tasks?limit=100"
        while url:
            page = call(http, "GET", url, token)
            assert page.status_code == 200, page.json
            found += [(who, t) for t in page.json["items"]
                      if t["case_reference"] == reference and t["step"] == step]
            url = page.json["next"]
    return found


def _service_id(http: FlaskClient, token: str, number: int) -> int:
    """The scenario's placeholder service, found in the territory's directory."""
    name = demo.SCENARIO_SERVICES[number]
    listed = call(http, "GET", f"/api/v1/directory?q={name.split(' —')[0]}", token)
    assert listed.status_code == 200
    [service] = [s for s in listed.json["items"] if s["name"] == name]
    return int(service["id"])


def test_a_coordination_case_through_the_api_only(any_app: Flask, clock: FixedClock) -> None:
    scenario = json.loads(SCENARIO.read_text(encoding="utf-8"))
    territory, keys = _keys(any_app, clock)
    http = any_app.test_client()
    [circuit] = [c for c in call(http, "GET", "/api/v1/circuits", keys["referrer"]).json["items"]
                 if c["key"] == "coordination"]
    with any_app.extensions["aiguillage"].sessions() as session:
        assert session.get(Circuit, circuit["id"]).territory_id == territory  # type: ignore[union-attr]
    opened = call(http, "POST", "/api/v1/cases", keys["referrer"],
                  json={"circuit_id": circuit["id"], "data": scenario["data"]},
                  headers={"Idempotency-Key": "ccas-demande-0001"})
    assert opened.status_code == 201, opened.json
    reference = opened.json["reference"]
    played = []
    for step in scenario["steps"]:
        if "wait" in step:  # a timer: the scheduler's, not the API's; oriented by now
            break
        clock.advance(timedelta(hours=2))
        if "message" in step:
            sent = call(http, "POST", f"/api/v1/cases/{reference}/messages/{step['message']}",
                        keys["siao"], json={"data": step["data"]})
            assert sent.status_code == 200, sent.json
            assert sent.json["message"] == step["message"] and not sent.json["closed"]
            played.append(("siao", step["message"]))
            continue
        [(who, task)] = _offered(http, keys, reference, step["task"])
        data = dict(step["data"])
        if isinstance(data.get(demo.ORIENTATION_FIELD), int):
            data[demo.ORIENTATION_FIELD] = _service_id(http, keys[who], data["service_oriente"])
        form = call(http, "GET", task["links"]["self"], keys[who])
        assert form.status_code == 200 and form.json["can_complete"], form.json
        done = call(http, "POST", task["links"]["complete"], keys[who], json={"data": data})
        assert done.status_code == 200, (step["task"], done.json)
        played.append((who, step["task"]))
    assert played[:4] == [("referrer", "C1_T01"), ("platform", "C1_T02"),
                          ("siao", "reponse_siao"), ("platform", "C1_T04")]
    assert ("operator", "C1_T05") in played and ("referrer", "C1_T15") in played
    read = call(http, "GET", f"/api/v1/cases/{reference}", keys["referrer"])
    assert read.status_code == 200 and read.json["status"] == "open"
    [orientation] = read.json["orientations"]
    assert orientation["organisation_name"] == "Association Relais (opérateur A)"
    assert orientation["state"] == "acceptee"
    # the same request sent again (a retry) opens no second case
    again = call(http, "POST", "/api/v1/cases", keys["referrer"],
                 json={"circuit_id": circuit["id"], "data": scenario["data"]},
                 headers={"Idempotency-Key": "ccas-demande-0001"})
    assert again.status_code == 201 and again.json["reference"] == reference
    # the message came once: a second one is refused, nothing changes
    twice = call(http, "POST", f"/api/v1/cases/{reference}/messages/reponse_siao",
                 keys["siao"], json={"data": {"reponse_siao": "demande_enregistree"}})
    assert twice.status_code == 409 and twice.content_type == "application/problem+json"
