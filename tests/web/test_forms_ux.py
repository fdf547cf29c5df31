"""Issue #14, items 1, 2 and 4, as a person sees them: a required yes/no answered
explicitly, an answer that closes the case confirmed first, the case's facts in the forms'
words, an error summary with labels and links to fields that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.clock import FixedClock
from engine.persistence.models import AuditEvent, Case, Circuit, HumanTask
from engine.services import cases, demo
from engine.services.access import SYSTEM
from tests.integration.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
RECEPTION = "C2_T01"  # « Accueillir et écouter » of the mutualisation circuit


@pytest.fixture
def reception(app: Flask, clock: FixedClock) -> tuple[int, int]:
    """A mutualisation case at its reception step: (case id, step id)."""
    with app.extensions["aiguillage"].sessions() as session:
        territory_id = demo.load(session, clock, ROOT, PASSWORD, cases_per_circuit=0)
        circuit_id = session.scalar(select(Circuit.id).where(
            Circuit.territory_id == territory_id, Circuit.key == "mutualisation"))
        assert circuit_id is not None
        case = cases.start(session, clock, SYSTEM, circuit_id, {
            "nom_menage": "Ménage Test Formulaire", "canal": "sans_rendez_vous",
            "commune": "Toulouse"})
        step = session.scalar(select(HumanTask.id).where(
            HumanTask.case_id == case.id, HumanTask.bpmn_id == RECEPTION))
        assert step is not None
        return case.id, step


def _as_social_worker(client: FlaskClient) -> None:
    client.post("/connexion", data={"email": "ts@demo.test", "password": PASSWORD})


def _rows(app: Flask, case_id: int) -> tuple[object, ...]:
    with app.extensions["aiguillage"].sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None
        steps = session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.case_id == case_id))
        return case.status, case.version, steps


def test_a_required_yes_no_is_two_choices_none_ticked(
        app: Flask, client: FlaskClient, reception: tuple[int, int]) -> None:
    _, step = reception
    _as_social_worker(client)
    page = client.get(f"/taches/{step}").text
    radios = re.findall(r'<input type="radio"[^>]*name="accord_evaluation"[^>]*>', page)
    assert [re.search(r'value="(\w+)"', r).group(1) for r in radios] == [  # type: ignore[union-attr]
        "true", "false"]
    assert not any("checked" in r for r in radios)
    assert 'type="checkbox" id="f-accord_evaluation"' not in page
    assert 'type="checkbox" id="f-besoin_interpretariat"' in page  # optional: still a box
    assert "En terminant l'étape, vous la prenez en charge" in page


def test_an_unanswered_yes_no_is_refused_with_labels_and_links_that_exist(
        app: Flask, client: FlaskClient, reception: tuple[int, int]) -> None:
    case_id, step = reception
    _as_social_worker(client)
    before = _rows(app, case_id)
    page = client.post(f"/taches/{step}", data={"besoins_immediats": ["alimentation", "soins"]})
    assert page.status_code == 422
    text = page.text
    summary = text[text.index('class="error-summary"'):text.index("</div>", text.index(
        'class="error-summary"'))]
    assert "data-focus-on-load" in summary
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)
    assert [label for _, label in links] == [
        "Mode d&#39;accueil : Ce champ est obligatoire.",
        "La personne accepte une évaluation de sa situation : Répondez oui ou non."]
    for anchor, _ in links:
        assert f'id="{anchor}"' in text
    assert "mode_accueil :" not in text
    # what was ticked comes back, both boxes of the multiple choice
    assert len(re.findall(r'name="besoins_immediats" value="(?:alimentation|soins)" checked',
                          text)) == 2
    assert _rows(app, case_id) == before


def test_an_answer_that_closes_the_case_is_confirmed_first(
        app: Flask, client: FlaskClient, reception: tuple[int, int]) -> None:
    case_id, step = reception
    _as_social_worker(client)
    answer = {"mode_accueil": "sur_place", "accord_evaluation": "false",
              "observations": "Souhaite revenir plus tard."}
    before = _rows(app, case_id)
    page = client.post(f"/taches/{step}", data=answer)
    assert page.status_code == 200
    assert ("Cette réponse clôt le dossier : « Refus / fin à la demande de la personne ». "
            "Confirmer ?") in page.text
    assert re.search(r'name="accord_evaluation" value="false" checked', page.text)
    assert "Souhaite revenir plus tard." in page.text
    confirm = re.search(r'name="fin_confirmee" value="([^"]+)"', page.text)
    assert confirm is not None
    assert _rows(app, case_id) == before  # nothing written: not even the read of the step

    done = client.post(f"/taches/{step}", data={**answer, "fin_confirmee": confirm.group(1)})
    assert done.status_code == 302
    assert _rows(app, case_id)[0] == "completed"
    again = client.post(f"/taches/{step}", data={**answer, "fin_confirmee": confirm.group(1)})
    assert again.status_code == 302  # a double submit: « déjà réalisée », nothing run twice
    with app.extensions["aiguillage"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.case_id == case_id, AuditEvent.action == "task.complete")) == 1
        row = session.get(HumanTask, step)
        assert row is not None and row.assignee_id == row.completed_by_id  # taken by completing


def test_an_answer_that_goes_on_completes_without_asking(
        app: Flask, client: FlaskClient, reception: tuple[int, int]) -> None:
    case_id, step = reception
    _as_social_worker(client)
    done = client.post(f"/taches/{step}", data={"mode_accueil": "telephone",
                                                "accord_evaluation": "true"})
    assert done.status_code == 302
    assert _rows(app, case_id)[0] == "open"


def test_the_case_page_shows_the_forms_words_never_the_engines_variables(
        app: Flask, client: FlaskClient, reception: tuple[int, int]) -> None:
    case_id, step = reception
    _as_social_worker(client)
    client.post(f"/taches/{step}", data={"mode_accueil": "telephone", "accord_evaluation": "true",
                                         "besoins_immediats": ["alimentation", "soins"]})
    coordinator = app.test_client()
    coordinator.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD})
    page = coordinator.get(f"/dossiers/{case_id}").text
    facts = page[page.index("Situation du ménage"):]
    assert "Accueil sans rendez-vous / sur rendez-vous" in facts  # the choice's title
    assert "Alimentation, Accès aux soins" in facts
    assert re.search(r"La personne accepte une évaluation de sa situation</dt>\s*<dd>Oui", facts)
    for raw in ("sans_rendez_vous", "aiguillage_seq", "telephone<", "soins,"):
        assert raw not in facts


def test_the_directory_summary_links_to_fields_that_exist(
        app: Flask, client: FlaskClient, reception: tuple[int, int]) -> None:
    client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD})
    page = client.post("/annuaire/nouveau", data={"name": "", "domains": ["nimporte"]})
    assert page.status_code == 422
    summary = page.text[page.text.index('class="error-summary"'):]
    summary = summary[:summary.index("</div>")]
    assert "data-focus-on-load" in summary
    anchors = re.findall(r'<a href="#([^"]+)">', summary)
    assert anchors and "domains-0" in anchors
    for anchor in anchors:
        assert f'id="{anchor}"' in page.text
