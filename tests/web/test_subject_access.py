"""The rights of the person through the pages (issue #16, item 3): the household's data as a
document and as JSON, the identity corrected with a reason; bad input refused."""

from __future__ import annotations

import json
from html import unescape

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.clock import FixedClock
from engine.persistence.models import AuditEvent, Case
from tests.integration.factories import World, make_user
from tests.web.conftest import AuthActions
from tests.web.helpers import open_case


def _household(app: Flask, case_id: int) -> int:
    with app.extensions["aiguillage"].sessions() as session:
        found = session.scalar(select(Case.household_id).where(Case.id == case_id))
    assert found is not None
    return found


def test_the_coordination_reads_and_downloads_what_is_held(
        app: Flask, client: FlaskClient, auth: AuthActions, clock: FixedClock,
        world: World) -> None:
    case_id, _ = open_case(app, clock, world)
    household = _household(app, case_id)
    auth.login()
    assert client.get(f"/dossiers/{case_id}").status_code == 200  # a read, journalled
    page = unescape(client.get(f"/menages/{household}").text)
    assert f"/menages/{household}/donnees" in page
    document = client.get(f"/menages/{household}/donnees")
    text = unescape(document.text)
    assert document.status_code == 200
    for words in ("Données détenues sur le ménage Ménage Test Matrice", "Réponses données",
                  "Étapes", "Qui a lu ou modifié le dossier", "Lecture du dossier",
                  "Où ces données sont conservées", "Télécharger en JSON"):
        assert words in text, words
    assert "+00:00" not in text  # local dates, never ISO
    download = client.get(f"/menages/{household}/donnees.json")
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.headers["Cache-Control"] == "no-store"
    data = json.loads(download.data)
    assert data["menage"]["nom"] == "Ménage Test Matrice"
    assert [c["reference"] for c in data["dossiers"]]
    with app.extensions["aiguillage"].sessions() as session:
        details = session.scalars(select(AuditEvent.detail).where(
            AuditEvent.action == "household.export")).all()
    assert sorted(d["format"] for d in details) == ["document", "json"]


def test_the_identity_is_corrected_with_a_reason(app: Flask, client: FlaskClient,
                                                 auth: AuthActions, clock: FixedClock,
                                                 world: World) -> None:
    case_id, _ = open_case(app, clock, world)
    auth.login()
    case_page = unescape(client.get(f"/dossiers/{case_id}").text)
    assert f"/dossiers/{case_id}/identite" in case_page
    form = unescape(client.get(f"/dossiers/{case_id}/identite").text)
    assert "Motif de la correction" in form and 'value="Ménage Test Matrice"' in form
    # no reason: refused, nothing changed, the field named
    refused = client.post(f"/dossiers/{case_id}/identite",
                          data={"nom_menage": "Ménage Test Corrigé", "motif_correction": ""})
    assert refused.status_code == 422
    assert "Motif de la correction" in unescape(refused.text)
    done = client.post(f"/dossiers/{case_id}/identite", data={
        "nom_menage": "Ménage Test Corrigé", "motif_correction": "Faute de frappe à la saisine"})
    assert done.status_code == 302
    shown = unescape(client.get(f"/dossiers/{case_id}").text)
    assert "Identité corrigée : Nom du ménage." in shown
    assert "Ménage Test Corrigé" in shown and "Identité du ménage corrigée" in shown
    with app.extensions["aiguillage"].sessions() as session:
        make_user(session, clock, "admin@demo.test", world.territory.id, "admin")
    auth.logout()
    auth.login("admin@demo.test")
    journal = unescape(client.get("/supervision/journal").text)
    assert "Identité corrigée (droit de rectification)" in journal
    assert "champs : Nom du ménage — motif : Faute de frappe à la saisine" in journal


def test_bad_input_on_the_rights_pages(app: Flask, client: FlaskClient, auth: AuthActions,
                                       clock: FixedClock, world: World) -> None:
    case_id, _ = open_case(app, clock, world)
    household = _household(app, case_id)
    auth.login()
    for url in (f"/menages/{10**30}/donnees", f"/menages/{2**31}/donnees.json",
                f"/dossiers/{2**31}/identite", "/menages/0/donnees"):
        assert client.get(url).status_code == 404, url
    too_long = client.post(f"/dossiers/{case_id}/identite", data={
        "nom_menage": "x" * 500, "motif_correction": "Erreur"})
    assert too_long.status_code == 422
    nul = client.post(f"/dossiers/{case_id}/identite", data={
        "nom_menage": "Ménage\x00", "motif_correction": "Erreur"})
    assert nul.status_code in (400, 422)
    with app.extensions["aiguillage"].sessions() as session:
        make_user(session, clock, "lecteur@demo.test", world.territory.id, "operateur")
    auth.logout()
    auth.login("lecteur@demo.test")
    assert client.get(f"/menages/{household}/donnees").status_code in (403, 404)
    assert client.post(f"/dossiers/{case_id}/identite", data={
        "nom_menage": "Autre", "motif_correction": "Erreur"}).status_code in (403, 404)
    with app.extensions["aiguillage"].sessions() as session:
        assert session.scalar(select(Case.household_name).where(Case.id == case_id)) == \
            "Ménage Test Matrice"
