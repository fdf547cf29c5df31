"""Pages of a case's organisations and team (issue #12): the case page section, the
coordinator's forms and their refusals, the list of cases oriented without a référent·e."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.clock import FixedClock
from engine.core.bundles import load_territory
from engine.persistence.models import CaseParty, CaseReferent, Territory
from engine.services import circuits as circuit_service
from engine.services import territories
from engine.services.access import SYSTEM
from tests.integration.factories import (
    MINI,
    ROOT,
    World,
    give_consent,
    make_party,
    make_user,
)
from tests.web.conftest import AuthActions
from tests.web.helpers import open_case


@pytest.fixture
def place(app: Flask, clock: FixedClock, world: World) -> dict[str, int]:
    with app.extensions["aiguillage"].sessions() as session:
        territory = session.get(Territory, world.territory.id)
        assert territory is not None
        territory.parts = [{"key": p.key, "label": p.label}
                           for p in load_territory(ROOT / "processes" / "reference").parts]
        territory.roles = [*territory.roles, {"key": "referent",
                                              "label": "Référent·e de parcours"}]
        session.commit()
        ids = {name: territories.create_organisation(session, clock, SYSTEM, territory.id,
                                                     name, kind).id
               for name, kind in (("Plateforme Test", "plateforme"),
                                  ("Association A", "association"))}
        referent = make_user(session, clock, "ref@demo.test", territory.id, "referent")
        assert referent.user_id is not None
        return {**ids, "referent": referent.user_id}


def _count(app: Flask, model: type[CaseParty] | type[CaseReferent]) -> int:
    with app.extensions["aiguillage"].sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_coordinator_sets_the_operator_and_the_referent_on_the_case_page(
        app: Flask, client: FlaskClient, auth: AuthActions, clock: FixedClock, world: World,
        place: dict[str, int]) -> None:
    case_id, _ = open_case(app, clock, world)
    auth.login()
    page = unescape(client.get(f"/dossiers/{case_id}").text)
    assert "Organisations et équipe" in page
    assert "Coordination de la plateforme" in page and "Plateforme Test" in page
    assert "Pas de référent·e de parcours." in page and 'name="reason"' in page
    answer = client.post(f"/dossiers/{case_id}/parties", data={
        "part": "operator", "organisation": place["Association A"], "reason": "Orientation"})
    assert answer.status_code == 302
    answer = client.post(f"/dossiers/{case_id}/referent", data={
        "user_id": place["referent"], "reason": "Premier accueil"}, follow_redirects=True)
    page = unescape(answer.text)
    assert "Référent·e de parcours enregistré·e." in page
    assert "Opérateur d'accompagnement" in page and "Association A" in page
    assert "Ref" in page and "Pas de référent·e de parcours." not in page
    answer = client.post(f"/dossiers/{case_id}/referent/fin", data={"reason": "Fin"},
                         follow_redirects=True)
    assert "Pas de référent·e de parcours." in unescape(answer.text)


@pytest.mark.parametrize(("url", "data", "message"), [
    ("parties", {"part": "operator", "organisation": "A", "reason": ""}, "Indiquez un motif"),
    ("parties", {"part": "locataire", "organisation": "A", "reason": "m"}, "Partie inconnue"),
    ("parties/fin", {"part": "operator", "reason": "m"}, "Aucune organisation ne tient"),
    ("referent", {"user_id": "coordinator", "reason": "m"}, "n'est pas référent·e"),
    ("referent/fin", {"reason": "m"}, "Ce dossier n'a pas de référent·e"),
])
def test_refusals_are_said_in_french_and_change_nothing(
        app: Flask, client: FlaskClient, auth: AuthActions, clock: FixedClock, world: World,
        place: dict[str, int], url: str, data: dict[str, str], message: str) -> None:
    case_id, _ = open_case(app, clock, world)
    auth.login()
    ids = {"A": place["Association A"], "coordinator": world.coordinator.user_id}
    sent = {k: ids.get(v, v) for k, v in data.items()}
    before = (_count(app, CaseParty), _count(app, CaseReferent))
    answer = client.post(f"/dossiers/{case_id}/{url}", data=sent, follow_redirects=True)
    assert answer.status_code == 200 and message in unescape(answer.text)
    assert (_count(app, CaseParty), _count(app, CaseReferent)) == before


def test_bad_input_and_other_roles_are_refused(
        app: Flask, client: FlaskClient, auth: AuthActions, clock: FixedClock, world: World,
        place: dict[str, int]) -> None:
    case_id, _ = open_case(app, clock, world)
    auth.login()
    for body in ({"part": "operator", "reason": "m"},
                 {"part": "operator", "organisation": "abc", "reason": "m"}):
        assert client.post(f"/dossiers/{case_id}/parties", data=body).status_code == 400
    assert client.post(f"/dossiers/{case_id}/referent", data={"reason": "m"}).status_code == 400
    assert client.get("/dossiers/sans-referent?jours=-1").status_code == 400
    assert client.get("/dossiers/sans-referent?jours=abc").status_code == 400
    assert client.post("/dossiers/999999/parties", data={
        "part": "operator", "organisation": place["Association A"],
        "reason": "m"}).status_code == 404
    auth.logout()
    auth.login("op@demo.test")
    # no party to the case and no step on it: the case is out of the operator's reach
    assert client.post(f"/dossiers/{case_id}/parties", data={
        "part": "operator", "organisation": place["Association A"],
        "reason": "m"}).status_code == 404
    assert client.get("/dossiers/sans-referent").status_code == 403
    assert client.get(f"/dossiers/{case_id}").status_code == 404
    assert _count(app, CaseParty) == 1  # the platform, set at the start
    # a party with the household's consent reads the section, without the coordinator's forms
    with app.extensions["aiguillage"].sessions() as session:
        reader = make_user(session, clock, "lecteur@demo.test", world.territory.id,
                           "operateur", organisation=place["Association A"])
        make_party(session, clock, case_id, "operator", place["Association A"])
        give_consent(session, clock, case_id, "operator", ["identity"])
    assert reader.user_id is not None
    auth.logout()
    auth.login("lecteur@demo.test")
    page = unescape(client.get(f"/dossiers/{case_id}").text)
    assert "Organisations et équipe" in page and "Désigner une organisation" not in page


def test_the_list_of_cases_oriented_without_a_referent(
        app: Flask, client: FlaskClient, auth: AuthActions, clock: FixedClock, world: World,
        place: dict[str, int]) -> None:
    case_id, _ = open_case(app, clock, world)
    auth.login()
    client.post(f"/dossiers/{case_id}/parties", data={
        "part": "operator", "organisation": place["Association A"], "reason": "Orientation"})
    assert 'href="/dossiers/sans-referent' in client.get("/dossiers/").text
    page = unescape(client.get("/dossiers/sans-referent").text)
    assert "Dossiers orientés sans référent·e" in page and "Ménage Test Matrice" not in page
    clock.advance(timedelta(days=7))
    auth.login()  # the session of a week ago has expired
    page = unescape(client.get("/dossiers/sans-referent").text)
    assert "Ménage Test Matrice" in page and "Association A" in page
    assert "Ménage Test Matrice" in unescape(client.get("/dossiers/sans-referent?jours=0").text)


def test_the_task_page_offers_the_territorys_organisations_for_a_part_field(
        app: Flask, client: FlaskClient, auth: AuthActions, clock: FixedClock, world: World,
        place: dict[str, int], tmp_path: Path) -> None:
    folder = tmp_path / "mini"
    shutil.copytree(MINI, folder)
    form = folder / "forms" / "mini-analyse.json"
    schema = json.loads(form.read_text(encoding="utf-8"))
    schema["properties"]["operateur_choisi"] = {
        "type": "integer", "title": "Opérateur choisi", "x-aiguillage-part": "operator"}
    form.write_text(json.dumps(schema), encoding="utf-8")
    settings = json.loads((folder / "territory.json").read_text(encoding="utf-8"))
    settings["parts"] = [{"key": "operator", "label": "Opérateur d'accompagnement"}]
    (folder / "territory.json").write_text(json.dumps(settings), encoding="utf-8")
    with app.extensions["aiguillage"].sessions() as session:
        circuit_service.deploy_folder(session, clock, SYSTEM, folder, folder / "forms")
    case_id, task_id = open_case(app, clock, world)
    auth.login()
    page = unescape(client.get(f"/taches/{task_id}").text)
    assert 'name="operateur_choisi"' in page
    assert f'value="{place["Association A"]}"' in page and "Association A" in page
    answer = client.post(f"/taches/{task_id}", data={
        "mesure": "avdl", "operateur_choisi": str(place["Association A"])})
    assert answer.status_code == 302, unescape(answer.text)[-3000:]
    page = unescape(client.get(f"/dossiers/{case_id}").text)
    assert "Association A" in page and "Étape « Analyser la demande »" in page
    forged = client.post(f"/taches/{task_id}", data={"mesure": "avdl",
                                                     "operateur_choisi": "999999"})
    assert forged.status_code in (409, 422)


def test_the_case_history_tells_party_and_referent_changes_in_words(
        app: Flask, client: FlaskClient, auth: AuthActions, clock: FixedClock, world: World,
        place: dict[str, int]) -> None:
    case_id, _ = open_case(app, clock, world)
    auth.login()
    client.post(f"/dossiers/{case_id}/parties", data={
        "part": "operator", "organisation": place["Association A"], "reason": "Orientation"})
    client.post(f"/dossiers/{case_id}/referent", data={
        "user_id": place["referent"], "reason": "Premier accueil"})
    page = unescape(client.get(f"/dossiers/{case_id}").text)
    assert "Organisation désignée : Orientation" in page
    assert "Référent·e de parcours nommé·e : Premier accueil" in page
    assert "case.party_set" not in page and "case.referent_set" not in page
    assert "Organisation désignée : Orientation (Opérateur d'accompagnement : Association A" in page
    assert "Premier accueil (" in page  # the person named, after the reason
