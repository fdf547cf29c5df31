"""The case page's « En attente d'une réponse extérieure » section and the coordination's
hand entry of an outside answer, through the Flask client."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.clock import FixedClock
from engine.persistence.models import AuditEvent, Case, CaseState, Circuit, User
from engine.services import case_messages, cases, circuits
from engine.services.access import SYSTEM, load_actor
from tests.integration.factories import PASSWORD, make_user

FOLDER = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "messages"


@dataclass
class Opened:
    case_id: int
    reference: str


@pytest.fixture
def opened(app: Flask, clock: FixedClock) -> Opened:
    with app.extensions["aiguillage"].sessions() as session:
        versions = circuits.deploy_folder(session, clock, SYSTEM, FOLDER, FOLDER / "forms")
        circuit = session.scalar(select(Circuit).where(
            Circuit.id.in_([v.circuit_id for v in versions]), Circuit.key == "attente"))
        assert circuit is not None
        coordinator = make_user(session, clock, "coord@demo.test", circuit.territory_id,
                                "coordination")
        make_user(session, clock, "siao@demo.test", circuit.territory_id, "siao")
        case = cases.start(session, clock, coordinator, circuit.id,
                           {"nom_menage": "Ménage Attente"})
    clock.advance(timedelta(days=2))
    return Opened(case.id, case.reference)


def signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert client.post("/connexion", data={"email": email, "password": PASSWORD}
                       ).status_code == 302
    return client


def stored(app: Flask, case_id: int) -> tuple[object, ...]:
    with app.extensions["aiguillage"].sessions() as session:
        return tuple(session.execute(select(Case.version, CaseState.state).join(
            CaseState, CaseState.case_id == Case.id).where(Case.id == case_id)).one())


def test_the_case_page_shows_what_is_awaited_and_since_when(app: Flask, opened: Opened) -> None:
    page = signed_in(app, "coord@demo.test").get(f"/dossiers/{opened.case_id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "En attente d'une réponse extérieure" in text
    assert "Réponse du SIAO</strong> — attendue depuis le 9 janv. 2026" in text
    assert "envoyée par : SIAO" in text
    assert f'href="/dossiers/{opened.case_id}/reponses/reponse_siao"' in text
    assert "reponse_siao" not in re.sub(r'href="[^"]*"', "", text)  # no raw code on screen


def test_the_coordination_enters_the_answer_by_hand(app: Flask, opened: Opened) -> None:
    client = signed_in(app, "coord@demo.test")
    url = f"/dossiers/{opened.case_id}/reponses/reponse_siao"
    form = client.get(url)
    text = form.get_data(as_text=True)
    assert form.status_code == 200
    assert "Enregistrer la réponse : Réponse du SIAO" in text
    assert "Place proposée" in text and "Commentaire du SIAO" in text
    before = stored(app, opened.case_id)
    refused = client.post(url, data={"reponse_siao": "", "commentaire_siao": "x"})
    assert refused.status_code == 422
    assert "Le formulaire contient 1 erreur" in refused.get_data(as_text=True)
    assert stored(app, opened.case_id) == before
    done = client.post(url, data={"reponse_siao": "place", "commentaire_siao": "T3"})
    assert done.status_code == 302 and done.location.endswith(f"/dossiers/{opened.case_id}")
    page = client.get(f"/dossiers/{opened.case_id}").get_data(as_text=True)
    assert "« Réponse du SIAO » enregistrée pour le dossier" in page
    assert "En attente d'une réponse extérieure" not in page
    assert "Réponse extérieure enregistrée : Réponse du SIAO" in page  # the history
    again = client.post(url, data={"reponse_siao": "place"})  # a double submit
    assert again.status_code == 302  # back to the case page, saying it is no longer awaited
    with app.extensions["aiguillage"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "case.message")) == 1


def test_a_sender_role_without_the_case_gets_not_found(app: Flask, opened: Opened) -> None:
    client = signed_in(app, "siao@demo.test")
    url = f"/dossiers/{opened.case_id}/reponses/reponse_siao"
    before = stored(app, opened.case_id)
    assert client.get(url).status_code == 404
    assert client.post(url, data={"reponse_siao": "place"}).status_code == 404
    assert client.get(f"/dossiers/{opened.case_id}/reponses/{'9' * 300}").status_code == 404
    assert stored(app, opened.case_id) == before


def test_an_answer_received_meanwhile_is_said_so(app: Flask, clock: FixedClock,
                                                 opened: Opened) -> None:
    client = signed_in(app, "coord@demo.test")
    url = f"/dossiers/{opened.case_id}/reponses/reponse_siao"
    assert client.get(url).status_code == 200
    with app.extensions["aiguillage"].sessions() as session:  # the SIAO's software, first
        siao = session.scalar(select(User.id).where(User.email == "siao@demo.test"))
        assert siao is not None
        case_messages.receive(session, clock, load_actor(session, siao), opened.reference,
                              "reponse_siao", {"reponse_siao": "attente"})
    before = stored(app, opened.case_id)
    answer = client.post(url, data={"reponse_siao": "place"})
    assert answer.status_code == 302
    page = client.get(answer.location).get_data(as_text=True)
    assert "Cette réponse n&#39;est plus attendue" in page
    assert stored(app, opened.case_id) == before


def test_the_dry_run_simulates_the_answer(app: Flask, opened: Opened) -> None:
    from html import unescape
    client = signed_in(app, "coord@demo.test")
    with app.extensions["aiguillage"].sessions() as session:
        circuit_id = session.scalar(select(Case.circuit_id).where(Case.id == opened.case_id))
    response = client.post(f"/circuits/{circuit_id}/modifier")
    assert response.status_code == 302
    draft = re.search(r"/brouillons/(\d+)", response.headers["Location"])
    assert draft is not None
    url = f"/circuits/brouillons/{draft[1]}/essai"
    raw = client.post(url, data={"action": "commencer", "nom_menage": "Essai"}).text
    started = unescape(raw)
    assert "Réponse extérieure attendue : Réponse du SIAO" in started
    assert "Simuler la réception du message « Réponse du SIAO »" in started
    carried = {k: unescape(v) for k, v in
               re.findall(r'name="(start|data|steps)" value="([^"]*)"', raw)}
    wrong = client.post(url, data={**carried, "action": "recevoir", "message": "reponse_siao"})
    assert wrong.status_code == 422
    done = unescape(client.post(url, data={**carried, "action": "recevoir",
                                           "message": "reponse_siao",
                                           "reponse_siao": "place"}).text)
    assert "Réponse extérieure reçue : reponse_siao → attendre « Réponse du SIAO »" in done
    assert "Réponse extérieure attendue" not in done


def test_a_forged_post_without_the_form_token_is_refused(app: Flask, opened: Opened) -> None:
    client = signed_in(app, "coord@demo.test")
    before = stored(app, opened.case_id)
    app.config["WTF_CSRF_ENABLED"] = True  # a forged POST, without the form's token
    try:
        answer = client.post(f"/dossiers/{opened.case_id}/reponses/reponse_siao",
                             data={"reponse_siao": "place"})
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert answer.status_code == 400
    assert stored(app, opened.case_id) == before
