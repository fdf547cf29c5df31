"""Each role reaches only what it should: 403 or 404, never data (checked in services)."""

from __future__ import annotations

from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.clock import FixedClock
from engine.persistence.models import HumanTask
from tests.integration.factories import PASSWORD, World
from tests.web.helpers import open_case

PEOPLE = {"coordinator": "coord@demo.test", "operator": "op@demo.test",
          "outsider": "autre@demo.test"}

# (who, method, url template, expected status)
MATRIX = [
    ("anonymous", "GET", "/dossiers/{case}", 302),
    ("anonymous", "GET", "/taches/{task}", 302),
    ("anonymous", "POST", "/taches/{task}/prendre", 302),
    ("outsider", "GET", "/dossiers/{case}", 404),
    ("outsider", "GET", "/dossiers/{case}/diagramme", 404),
    ("outsider", "GET", "/taches/{task}", 404),
    ("outsider", "POST", "/taches/{task}", 404),
    ("outsider", "POST", "/taches/{task}/prendre", 404),
    ("outsider", "POST", "/dossiers/{case}/cloturer", 404),
    ("outsider", "GET", "/dossiers/nouveau?circuit={circuit}", 404),
    # the operator's organisation is no party to the case, which waits on the coordination:
    # out of their reach (tests/web/test_visibility_matrix.py has parties and consent)
    ("operator", "GET", "/dossiers/{case}", 404),
    ("operator", "GET", "/taches/{task}", 404),
    ("operator", "POST", "/taches/{task}/confier", 404),
    ("operator", "POST", "/dossiers/{case}/cloturer", 404),
    ("coordinator", "GET", "/dossiers/{case}", 200),
    ("coordinator", "POST", "/taches/{task}/confier", 302),  # refused with a message
]


@pytest.mark.parametrize(("who", "method", "url", "status"), MATRIX,
                         ids=[f"{w}-{m}-{u}" for w, m, u, _ in MATRIX])
def test_matrix(app: Flask, client: FlaskClient, clock: FixedClock, world: World, who: str,
                method: str, url: str, status: int) -> None:
    case_id, task_id = open_case(app, clock, world)
    if who != "anonymous":
        client.post("/connexion", data={"email": PEOPLE[who], "password": PASSWORD})
    target = url.format(case=case_id, task=task_id, circuit=world.circuit.id)
    data = {"user_id": world.operator.user_id, "reason": "test", "mesure": "avdl"}
    response = client.get(target) if method == "GET" else client.post(target, data=data)
    assert response.status_code == status
    if status in (403, 404):
        assert "Ménage Test Matrice" not in unescape(response.text)


def test_operator_cannot_complete_a_coordination_step(app: Flask, client: FlaskClient,
                                                      clock: FixedClock, world: World) -> None:
    _, task_id = open_case(app, clock, world)
    client.post("/connexion", data={"email": "op@demo.test", "password": PASSWORD})
    # another role's step, on a case out of the operator's reach: as if it did not exist
    assert client.get(f"/taches/{task_id}").status_code == 404
    assert client.post(f"/taches/{task_id}", data={"mesure": "avdl"}).status_code == 404
    with app.extensions["aiguillage"].sessions() as session:
        assert session.get(HumanTask, task_id).status == "open"  # type: ignore[union-attr]


def test_lists_show_only_my_territory(app: Flask, client: FlaskClient, clock: FixedClock,
                                      world: World) -> None:
    open_case(app, clock, world)
    client.post("/connexion", data={"email": "autre@demo.test", "password": PASSWORD})
    assert "Ménage Test Matrice" not in unescape(client.get("/dossiers/").text)
    assert "Ménage Test Matrice" not in unescape(client.get("/taches/").text)
    assert "Ménage Test Matrice" not in unescape(client.get("/dossiers/?q=Matrice").text)
