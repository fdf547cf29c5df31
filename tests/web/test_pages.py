"""Pages: task list filters, task page, case page, language, accessibility basics."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import html

from engine.clock import FixedClock
from tests.integration.factories import PASSWORD, World
from tests.web.conftest import AuthActions
from tests.web.helpers import open_case


def _labelled(page: str) -> list[str]:
    """Form controls without a label (visible ones)."""
    tree = html.fromstring(page)
    labels = {label.get("for") for label in tree.iter("label")}
    missing = []
    for control in tree.xpath("//input|//select|//textarea"):
        if control.get("type") in ("hidden", "submit"):
            continue
        if control.get("id") not in labels:
            missing.append(control.get("name") or "?")
    return missing


def test_pages_have_titles_labels_skip_link_and_language(app: Flask, client: FlaskClient,
                                                         auth: AuthActions, clock: FixedClock,
                                                         world: World) -> None:
    case_id, task_id = open_case(app, clock, world)
    auth.login()
    for url in ("/connexion", "/taches/", f"/taches/{task_id}", "/dossiers/",
                f"/dossiers/{case_id}", "/dossiers/nouveau",
                f"/dossiers/nouveau?circuit={world.circuit.id}", "/accessibilite"):
        page = client.get(url, follow_redirects=True)
        assert page.status_code == 200, url
        assert re.search(r"<title>[^<]+ — Aiguillage</title>", page.text), url
        assert 'href="#contenu"' in unescape(page.text) and '<html lang="fr">' in unescape(page.text)
        assert _labelled(page.text) == [], url


def test_task_list_shows_due_dates_badges_and_filters(app: Flask, client: FlaskClient,
                                                      auth: AuthActions, clock: FixedClock,
                                                      world: World) -> None:
    open_case(app, clock, world)
    clock.advance(timedelta(days=5))
    open_case(app, clock, world)
    auth.login()
    page = client.get("/taches/")
    assert unescape(page.text).count("Ménage Test Matrice") == 2
    assert "En retard" in unescape(page.text) and "13/01/2026 23:59" in unescape(page.text)
    assert unescape(client.get("/taches/?echeance=overdue").text).count("Ménage Test Matrice") == 1
    assert unescape(client.get("/taches/?attribution=moi").text).count("Ménage Test Matrice") == 0


def test_claim_then_unclaim_from_the_list(app: Flask, client: FlaskClient, auth: AuthActions,
                                          clock: FixedClock, world: World) -> None:
    _, task_id = open_case(app, clock, world)
    auth.login()
    page = client.post(f"/taches/{task_id}/prendre", data={"next": "/taches/"},
                       follow_redirects=True)
    assert "Vous avez pris en charge cette étape." in unescape(page.text)
    assert unescape(client.get("/taches/?attribution=moi").text).count("Ménage Test Matrice") == 1
    client.post(f"/taches/{task_id}/rendre")
    assert unescape(client.get("/taches/?attribution=moi").text).count("Ménage Test Matrice") == 0


def test_coordinator_assigns_a_step(app: Flask, client: FlaskClient, auth: AuthActions,
                                    clock: FixedClock, world: World) -> None:
    _, task_id = open_case(app, clock, world, analysed=True)
    auth.login()
    page = client.get(f"/taches/{task_id}")
    assert "Confier l'étape" in unescape(page.text) and "Op" in unescape(page.text)
    done = client.post(f"/taches/{task_id}/confier", data={"user_id": world.operator.user_id},
                       follow_redirects=True)
    assert "L'étape a été confiée." in unescape(done.text)
    client.post("/deconnexion")
    client.post("/connexion", data={"email": "op@demo.test", "password": PASSWORD})
    mine = unescape(client.get("/taches/?attribution=moi").text)
    assert mine.count(f'href="/taches/{task_id}"') == 1
    assert "Nom non partagé" in mine  # the operator's organisation is no party: no name


def test_completing_leads_to_the_next_step_of_the_same_case(app: Flask, client: FlaskClient,
                                                            clock: FixedClock,
                                                            world: World) -> None:
    from engine.services import users
    from engine.services.access import SYSTEM
    with app.extensions["aiguillage"].sessions() as session:
        users.add_membership(session, clock, SYSTEM, world.coordinator.user_id,
                             world.territory.id, "operateur")
    _, task_id = open_case(app, clock, world)
    client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD})
    done = client.post(f"/taches/{task_id}", data={"mesure": "avdl"})
    assert done.status_code == 302 and done.headers["Location"] != "/taches/"
    assert "Statuer sur l'orientation" in unescape(client.get(done.headers["Location"]).text)


def test_a_submission_loads_its_case_once_and_is_not_a_read(
        app: Flask, client: FlaskClient, clock: FixedClock, world: World,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid submission completes the step without building the task page first (which
    loaded the case a second time and logged a read of the case file at every submit)."""
    from sqlalchemy import select

    from engine.persistence.models import AuditEvent
    from engine.services import runtime
    case_id, task_id = open_case(app, clock, world)
    client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD})
    loads: list[int] = []
    real = runtime.load

    def counted(*args: object, **kwargs: object) -> object:
        loads.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(runtime, "load", counted)
    done = client.post(f"/taches/{task_id}", data={"mesure": "avdl"})
    assert done.status_code == 302 and loads == [1]
    with app.extensions["aiguillage"].sessions() as session:
        actions = list(session.scalars(select(AuditEvent.action).where(
            AuditEvent.case_id == case_id).order_by(AuditEvent.id)))
    assert actions == ["case.start", "task.complete"]
    wrong = client.post(f"/taches/{task_id}", data={"mesure": "avdl"})  # already done
    assert wrong.status_code == 302


def test_case_page_and_diagram(app: Flask, client: FlaskClient, auth: AuthActions,
                               clock: FixedClock, world: World) -> None:
    case_id, _ = open_case(app, clock, world, analysed=True)
    auth.login()
    page = client.get(f"/dossiers/{case_id}")
    assert "Statuer sur l'orientation" in unescape(page.text) and "Historique" in unescape(page.text)
    assert "Étape terminée : Analyser la demande" in unescape(page.text)
    data = client.get(f"/dossiers/{case_id}/diagramme").json
    assert data["current"] == ["decision", "escalade_timer", "relance_timer"]
    assert "analyse" in data["done"] and data["xml"].startswith("<?xml")


def test_close_a_case(app: Flask, client: FlaskClient, auth: AuthActions, clock: FixedClock,
                      world: World) -> None:
    case_id, _ = open_case(app, clock, world)
    auth.login()
    assert "Indiquez un motif" in client.post(f"/dossiers/{case_id}/cloturer", data={},
                                              follow_redirects=True).text
    page = client.post(f"/dossiers/{case_id}/cloturer", data={"reason": "Doublon"},
                       follow_redirects=True)
    assert "Dossier clôturé." in unescape(page.text) and "Clôturé" in unescape(page.text)


def test_english_is_available(client: FlaskClient, auth: AuthActions, world: World) -> None:
    client.post("/langue", data={"lang": "en", "next": "/connexion"})
    assert '<html lang="en">' in unescape(client.get("/connexion").text)


def test_healthz_and_error_pages(client: FlaskClient, auth: AuthActions, world: World) -> None:
    assert client.get("/healthz").json == {"status": "ok", "database": "ok"}
    auth.login()
    missing = client.get("/nulle-part")
    assert missing.status_code == 404 and "Page introuvable" in unescape(missing.text)


def test_partner_without_consent_sees_the_minimal_view(app: Flask, client: FlaskClient,
                                                       clock: FixedClock, world: World) -> None:
    from engine.services import cases
    from tests.integration.factories import (
        declare_parts,
        give_consent,
        make_org,
        make_party,
        make_user,
    )
    with app.extensions["aiguillage"].sessions() as session:
        declare_parts(session, world.territory.id)
        landlord = make_org(session, clock, world.territory.id, "Bailleur Test", "bailleur")
        make_user(session, clock, "bailleur@demo.test", world.territory.id, "orienteur",
                  organisation=landlord)
        without = cases.start(session, clock, world.coordinator, world.circuit.id,
                              {"nom_menage": "Ménage Sans Accord", "nb_enfants": 3})
        with_consent = cases.start(session, clock, world.coordinator, world.circuit.id,
                                   {"nom_menage": "Ménage Avec Accord", "nb_enfants": 3})
        for case in (without, with_consent):
            make_party(session, clock, case.id, "landlord", landlord)
        give_consent(session, clock, with_consent.id, "landlord", ["identity", "assessment"])
    client.post("/connexion", data={"email": "bailleur@demo.test", "password": PASSWORD})
    minimal = unescape(client.get(f"/dossiers/{without.id}").text)
    assert "Vue restreinte" in minimal and "Nombre d'enfants à charge" not in minimal
    assert "Historique" not in minimal and "Ménage Sans Accord" not in minimal
    assert "Nom non partagé" in minimal
    full = unescape(client.get(f"/dossiers/{with_consent.id}").text)
    assert "Vue restreinte" not in full and "Nombre d'enfants à charge" in full
    assert "Ménage Avec Accord" in full and "Vue partielle" in full
    client.post("/deconnexion")
    client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD})
    assert "Nombre d'enfants à charge" in unescape(client.get(f"/dossiers/{without.id}").text)


def test_task_list_filters_by_circuit_and_step(app: Flask, client: FlaskClient,
                                               auth: AuthActions, clock: FixedClock,
                                               world: World) -> None:
    open_case(app, clock, world)
    auth.login()
    page = unescape(client.get(f"/taches/?circuit={world.circuit.id}").text)
    assert "Analyser la demande" in page and 'name="etape"' in page
    assert unescape(client.get(f"/taches/?circuit={world.circuit.id}&etape=decision").text) \
        .count("Ménage Test Matrice") == 0
    assert unescape(client.get(f"/taches/?circuit={world.circuit.id}&etape=analyse").text) \
        .count("Ménage Test Matrice") == 1


def test_cases_list_filters_by_referent(app: Flask, client: FlaskClient, clock: FixedClock,
                                        world: World) -> None:
    from engine.persistence.models import Case
    case_id, _ = open_case(app, clock, world)
    client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD})
    page = unescape(client.get("/dossiers/?referent=moi").text)
    assert "Ménage Test Matrice" not in page and 'id="referent"' in page
    with app.extensions["aiguillage"].sessions() as session:  # as a referent step claim does
        case = session.get(Case, case_id)
        assert case is not None
        case.referent_id = world.coordinator.user_id
        session.commit()
    assert "Ménage Test Matrice" in unescape(client.get("/dossiers/?referent=moi").text)


def test_opening_a_case_one_will_not_read_leads_to_the_list(app: Flask, client: FlaskClient,
                                                            world: World) -> None:
    """Someone whose organisation plays no part in the case they open (here: no
    organisation at all) is told so, not sent to a page that would answer 404."""
    client.post("/connexion", data={"email": "op@demo.test", "password": PASSWORD})
    done = client.post(f"/dossiers/nouveau?circuit={world.circuit.id}",
                       data={"nom_menage": "Ménage Transmis"})
    assert done.status_code == 302 and done.headers["Location"] == "/dossiers/"
    page = unescape(client.get("/dossiers/").text)
    assert "Il est transmis à la plateforme" in page and "Ménage Transmis" not in page


def test_accessibility_statement_tells_the_truth_and_the_recourse(app: Flask,
                                                                  client: FlaskClient) -> None:
    """No audit yet: « non conforme », the known defects, a plan, a contact and the Défenseur
    des droits; the contact is the deployment's when it sets one."""
    page = unescape(client.get("/accessibilite").text)
    assert "non conforme" in page and "partiellement conforme" not in page
    assert "Défenseur des droits" in page and "Plan d'amélioration" in page
    assert "la coordination de votre plateforme" in page
    app.config["ACCESSIBILITY_CONTACT"] = "accessibilite@plateforme.example"
    assert "accessibilite@plateforme.example" in unescape(client.get("/accessibilite").text)
    # linked from every page, the sign-in page included
    assert 'href="/accessibilite"' in client.get("/connexion").text
