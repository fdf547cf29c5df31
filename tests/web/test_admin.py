"""Administrator pages: dashboard, export, incidents, repair, people, journal."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.clock import FixedClock
from engine.services import users
from engine.services.access import SYSTEM
from tests.integration.factories import PASSWORD, World
from tests.web.helpers import open_case


@pytest.fixture
def admin_client(app: Flask, client: FlaskClient, clock: FixedClock, world: World) -> FlaskClient:
    with app.extensions["aiguillage"].sessions() as session:
        user = users.create_user(session, clock, SYSTEM, "admin@demo.test", "Admin", PASSWORD)
        users.add_membership(session, clock, SYSTEM, user.id, world.territory.id, "admin")
    client.post("/connexion", data={"email": "admin@demo.test", "password": PASSWORD})
    return client


def test_only_administrators_reach_supervision(client: FlaskClient, world: World) -> None:
    client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD})
    assert "Supervision" not in client.get("/taches/").text
    for url in ("/supervision/", "/supervision/incidents", "/supervision/utilisateurs",
                "/supervision/journal", "/supervision/export.csv"):
        assert client.get(url).status_code == 403, url


def test_dashboard_lists_overdue_steps_with_counts_and_export(
        app: Flask, admin_client: FlaskClient, clock: FixedClock, world: World) -> None:
    open_case(app, clock, world)
    clock.advance(timedelta(days=6))
    admin_client.post("/connexion", data={"email": "admin@demo.test", "password": PASSWORD})
    page = unescape(admin_client.get("/supervision/").text)
    assert "Supervision" in admin_client.get("/taches/").text
    assert "1 étape en retard" in page and "Analyser la demande" in page
    coming = unescape(admin_client.get("/supervision/?vue=echeances").text)
    assert "Aucune étape dans cette vue." in coming
    export = admin_client.get("/supervision/export.csv")
    assert export.mimetype == "text/csv"
    lines = export.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("dossier;territoire") and len(lines) == 2
    assert admin_client.get("/supervision/?vue=inconnue").status_code == 400


def test_repair_resets_a_case(app: Flask, admin_client: FlaskClient, clock: FixedClock,
                              world: World) -> None:
    case_id, _ = open_case(app, clock, world, analysed=True)
    page = unescape(admin_client.get(f"/supervision/dossiers/{case_id}/reparer").text)
    assert "Analyser la demande" in page
    done = admin_client.post(f"/supervision/dossiers/{case_id}/reparer",
                             data={"etape": "analyse"}, follow_redirects=True)
    assert "Le dossier est revenu à l'étape choisie." in unescape(done.text)


def test_people_create_deactivate_and_last_admin(admin_client: FlaskClient,
                                                 world: World) -> None:
    created = admin_client.post("/supervision/utilisateurs", data={
        "email": "nouveau@demo.test", "nom": "Nouvelle Personne",
        "territoire": world.territory.id, "role": "operateur"}, follow_redirects=True)
    assert "Compte créé pour nouveau@demo.test" in unescape(created.text)
    page = unescape(admin_client.get("/supervision/utilisateurs").text)
    assert "Nouvelle Personne" in page
    admin_id = _user_id(admin_client, "admin@demo.test")
    refused = admin_client.post(f"/supervision/utilisateurs/{admin_id}/desactiver",
                                follow_redirects=True)
    assert "dernier administrateur" in unescape(refused.text)


def _user_id(client: FlaskClient, email: str) -> int:
    import re
    page = client.get("/supervision/utilisateurs").text
    rows = page.split("<tr>")
    row = next(r for r in rows if email in r)
    return int(re.search(r"/supervision/utilisateurs/(\d+)/", row).group(1))  # type: ignore[union-attr]


def test_journal_filters_export_and_bad_dates(app: Flask, admin_client: FlaskClient,
                                              clock: FixedClock, world: World) -> None:
    open_case(app, clock, world)
    page = unescape(admin_client.get("/supervision/journal?action=case.start").text)
    assert "1 événement" in page
    bad = admin_client.get("/supervision/journal?du=31/12/2026")
    assert bad.status_code == 400 and "AAAA-MM-JJ" in unescape(bad.text)
    export = admin_client.get("/supervision/journal.csv?action=case.start")
    assert export.get_data(as_text=True).count(";Dossier ouvert;") == 1


def test_move_cases_page(app: Flask, admin_client: FlaskClient, clock: FixedClock,
                         world: World) -> None:
    from dataclasses import replace as dc_replace

    from engine.services import circuits
    from tests.conftest import mini_bundle
    case_id, _ = open_case(app, clock, world, analysed=True)
    base = mini_bundle()
    text = base.bpmn["mini.bpmn"].decode().replace('name="Statuer sur l\'orientation"',
                                                   'name="Décider de l\'orientation"')
    with app.extensions["aiguillage"].sessions() as session:
        v2 = circuits.deploy(session, clock, world.coordinator, world.territory.id, "mini",
                             dc_replace(base, bpmn={**base.bpmn, "mini.bpmn": text.encode()}))
    url = f"/supervision/circuits/{world.circuit.id}/versions/{v2.id}/deplacer"
    page = unescape(admin_client.get(url).text)
    assert "Étapes remises à zéro : Statuer sur l'orientation" in page
    done = admin_client.post(url, data={"dossier": case_id}, follow_redirects=True)
    assert "1 dossier déplacé." in unescape(done.text)
    assert "Aucun dossier en cours sur une autre version." in unescape(done.text)


def test_dashboard_filters_and_role_map(app: Flask, admin_client: FlaskClient,
                                        clock: FixedClock, world: World) -> None:
    open_case(app, clock, world)
    clock.advance(timedelta(days=6))
    admin_client.post("/connexion", data={"email": "admin@demo.test", "password": PASSWORD})
    page = unescape(admin_client.get(
        f"/supervision/?territoire={world.territory.id}&circuit={world.circuit.id}").text)
    assert "1 étape en retard" in page and 'id="organisation"' in page
    other = world.outsider.territories()[0]
    assert admin_client.get(f"/supervision/?territoire={other}").status_code == 403
    people = unescape(admin_client.get("/supervision/utilisateurs").text)
    assert "Rôles du territoire et étapes qu’ils reçoivent" in people
    assert "Circuit d'essai : Coordination de la plateforme" in people
