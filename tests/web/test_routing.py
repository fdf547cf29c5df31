"""Steps routed to a party, through the pages (issue #12): the chosen operator's worker finds
the step in Mes tâches and completes it; the other operator's worker does not see it, and
their forged POSTs are refused (404 while the case is out of their reach, 403 once their
organisation plays another part in it), audited, with nothing changed. The modeler's lane
panel offers the territory's parts. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.clock import FixedClock
from engine.persistence.models import AuditEvent, HumanTask
from engine.services import parties
from tests.integration.factories import PASSWORD
from tests.integration.test_routing import Routed, orient, routed_world


@pytest.fixture
def place(any_app: Flask, clock: FixedClock, tmp_path: Path) -> tuple[Flask, Routed, int, int]:
    """The app with the bound circuit, a case oriented to A waiting on A's decision step:
    (app, world, case id, step id)."""
    with any_app.extensions["aiguillage"].sessions() as session:
        routed = routed_world(session, clock, tmp_path)
        case_id = orient(session, clock, routed, routed.org_a)
        step_id = session.scalar(select(HumanTask.id).where(
            HumanTask.case_id == case_id, HumanTask.bpmn_id == "decision"))
        assert step_id is not None
    return any_app, routed, case_id, step_id


def _client(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    response = client.post("/connexion", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _state(app: Flask, step_id: int) -> tuple[str, int | None, int, int]:
    with app.extensions["aiguillage"].sessions() as session:
        step = session.get(HumanTask, step_id)
        assert step is not None
        refusals = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "task.refused")) or 0
        events = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
        return step.status, step.assignee_id, refusals, events


def test_my_tasks_lists_the_step_for_the_chosen_operator_only(
        place: tuple[Flask, Routed, int, int]) -> None:
    app, _, _, step_id = place
    mine = unescape(_client(app, "operateur-a@demo.test").get("/taches/").text)
    assert f'href="/taches/{step_id}"' in mine and "Statuer sur l'orientation" in mine
    assert "Nom non partagé" in mine and "Ménage Orienté" not in mine  # no consent yet
    theirs = _client(app, "operateur-b@demo.test").get("/taches/").text
    assert f'href="/taches/{step_id}"' not in theirs
    assert "Statuer sur l" not in unescape(theirs)


@pytest.mark.parametrize(("action", "data"), [
    ("", {"decision": "acceptee"}), ("/prendre", {}), ("/rendre", {}),
])
def test_forged_posts_of_the_other_operator_are_refused_and_audited(
        place: tuple[Flask, Routed, int, int], clock: FixedClock, action: str,
        data: dict[str, str]) -> None:
    app, routed, case_id, step_id = place
    other = _client(app, "operateur-b@demo.test")
    status, holder, refusals, events = _state(app, step_id)
    assert other.post(f"/taches/{step_id}{action}", data=data).status_code == 404
    assert other.get(f"/taches/{step_id}").status_code == 404
    after = _state(app, step_id)
    assert after[:2] == (status, holder) == ("open", None)
    assert after[2] == refusals + 1 and after[3] == events + 1  # the refusal, nothing else
    # B plays another part in the case: the case is in reach, the step is still not B's
    with app.extensions["aiguillage"].sessions() as session:
        parties.set_party(session, clock, routed.world.coordinator, case_id, "landlord",
                          routed.org_b, "Bailleur du logement")
    assert other.post(f"/taches/{step_id}{action}", data=data).status_code == 403
    assert _state(app, step_id)[:2] == ("open", None)


def test_the_chosen_operator_takes_and_completes_the_step(
        place: tuple[Flask, Routed, int, int]) -> None:
    app, routed, _, step_id = place
    worker = _client(app, "operateur-a@demo.test")
    assert worker.post(f"/taches/{step_id}/prendre", data={}).status_code == 302
    assert _state(app, step_id)[1] == routed.worker_a.user_id
    # in this small circuit an acceptance ends the case: the page first asks to confirm
    asked = worker.post(f"/taches/{step_id}", data={"decision": "acceptee"})
    assert asked.status_code == 200 and "Cette réponse clôt le dossier" in unescape(asked.text)
    assert _state(app, step_id)[0] == "open"
    end = re.search(r'name="fin_confirmee" value="([^"]+)"', asked.text)
    assert end is not None
    response = worker.post(f"/taches/{step_id}", data={"decision": "acceptee",
                                                       "fin_confirmee": end.group(1)})
    assert response.status_code == 302
    assert _state(app, step_id)[0] == "completed"


def test_the_modeler_offers_the_territory_s_parts_for_a_lane(
        place: tuple[Flask, Routed, int, int]) -> None:
    app, routed, _, _ = place
    coordinator = _client(app, "coord@demo.test")
    response = coordinator.post(f"/circuits/{routed.world.circuit.id}/modifier")
    assert response.status_code == 302
    draft = int(re.search(r"/brouillons/(\d+)", response.headers["Location"])[1])  # type: ignore[index]
    page = unescape(coordinator.get(f"/circuits/brouillons/{draft}").text)
    assert 'id="modeleur-parties"' in page
    offered = json.loads(re.search(
        r'<script type="application/json" id="modeleur-parties">(.*?)</script>', page,
        re.S)[1])  # type: ignore[index]
    assert {"key": "operator", "label": "Opérateur d'accompagnement"} in offered
    assert "Aucune (tout le territoire)" in page
    # the draft's diagram carries the lane's part, and a save with an unknown part is told
    data = coordinator.get(f"/circuits/brouillons/{draft}/donnees").get_json()
    assert '<spiffworkflow:property name="part" value="operator" />' in data["xml"]
    broken = data["xml"].replace('name="part" value="operator"', 'name="part" value="voisin"')
    saved = coordinator.post(f"/circuits/brouillons/{draft}/enregistrer",
                             json={"xml": broken, "revision": data["revision"]}).get_json()
    [problem] = [p for p in saved["problems"] if p["element_id"] == "lane_op"]
    assert "voisin" in problem["message"] and "Opérateur d'accompagnement" in problem["message"]


def test_the_case_page_tells_coordination_a_step_waits_for_its_party(
        any_app: Flask, clock: FixedClock, tmp_path: Path) -> None:
    with any_app.extensions["aiguillage"].sessions() as session:
        routed = routed_world(session, clock, tmp_path)
        case_id = orient(session, clock, routed, None)
    page = unescape(_client(any_app, "coord@demo.test").get(f"/dossiers/{case_id}").text)
    assert "en attente : aucune organisation n'a la part « Opérateur d'accompagnement »" in page
    assert "operator" not in re.sub(r"<[^>]*>", "", page)  # the label, never the key


def test_the_case_history_tells_a_refused_attempt_in_words(
        place: tuple[Flask, Routed, int, int]) -> None:
    app, _, case_id, step_id = place
    assert _client(app, "operateur-b@demo.test").post(
        f"/taches/{step_id}", data={"decision": "acceptee"}).status_code == 404
    page = unescape(_client(app, "coord@demo.test").get(f"/dossiers/{case_id}").text)
    assert "Action refusée sur une étape : Statuer sur l'orientation" in page
    assert "task.refused" not in page
