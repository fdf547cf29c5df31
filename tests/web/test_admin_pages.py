"""The administrator's pages as they read (issue #14, items 7-9): the journal in words, one
read per page view, an account's roles added and withdrawn from the page, supervision's
views, filters, chart and CSV in the screen's words and times."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.clock import FixedClock
from engine.persistence.models import AuditEvent, Membership, User
from engine.services import users
from engine.services.access import SYSTEM
from tests.integration.factories import PASSWORD, World
from tests.web.helpers import open_case

ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
CODES = ("case.read", "case.start", "membership.add", "task.claim", "coord@demo.test",
         "nom_menage")


@pytest.fixture
def admin_client(app: Flask, client: FlaskClient, clock: FixedClock, world: World) -> FlaskClient:
    with app.extensions["aiguillage"].sessions() as session:
        user = users.create_user(session, clock, SYSTEM, "admin@demo.test", "Alix Admin",
                                 PASSWORD)
        users.add_membership(session, clock, SYSTEM, user.id, world.territory.id, "admin")
    client.post("/connexion", data={"email": "admin@demo.test", "password": PASSWORD})
    return client


def _count(app: Flask, action: str, **where: object) -> int:
    with app.extensions["aiguillage"].sessions() as session:
        query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        for column, value in where.items():
            query = query.where(getattr(AuditEvent, column) == value)
        return session.scalar(query) or 0


def _user_id(app: Flask, email: str) -> int:
    with app.extensions["aiguillage"].sessions() as session:
        found = session.scalar(select(User.id).where(User.email == email))
        assert found is not None
        return found


def test_a_case_page_view_is_one_read(app: Flask, client: FlaskClient, clock: FixedClock,
                                      world: World) -> None:
    case_id, task_id = open_case(app, clock, world)
    client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD})
    me = _user_id(app, "coord@demo.test")
    assert client.get(f"/dossiers/{case_id}").status_code == 200
    assert _count(app, "case.read", case_id=case_id, user_id=me) == 1
    assert client.get(f"/taches/{task_id}").status_code == 200  # another page: another read
    assert _count(app, "case.read", case_id=case_id, user_id=me) == 2
    from engine.services import cases, tasks
    from webapp.db import clock as app_clock
    from webapp.db import get_session
    with app.test_request_context():  # one request calling several reading services
        session = get_session()
        coordinator = world.coordinator
        cases.get(session, app_clock(), coordinator, case_id)
        tasks.details(session, app_clock(), coordinator, task_id)
        cases.get(session, app_clock(), coordinator, case_id)
    assert _count(app, "case.read", case_id=case_id, user_id=me) == 3


def test_the_journal_speaks_in_words_and_names(app: Flask, admin_client: FlaskClient,
                                               clock: FixedClock, world: World) -> None:
    case_id, _ = open_case(app, clock, world)
    admin_client.get(f"/dossiers/{case_id}")
    page = unescape(admin_client.get("/supervision/journal").text)
    assert "Dossier ouvert" in page and "Lecture du dossier" in page and "Coord" in page
    assert "champs : Nom du ménage" in page  # the form's label, not the data key
    body = page.split("<tbody>", 1)[1]
    assert not any(code in body for code in CODES), body
    assert not ISO.search(body)
    assert re.search(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", body)
    assert re.search(r'<option value="case.read"\s*>Lecture du dossier</option>', page)
    by_name = unescape(admin_client.get("/supervision/journal?personne=coord").text)
    assert "Dossier ouvert" in by_name and "Alix Admin" not in by_name.split("<tbody>", 1)[1]
    export = admin_client.get("/supervision/journal.csv").get_data(as_text=True)
    header, *lines = export.lstrip("\ufeff").splitlines()
    assert header.startswith("date et heure;personne;action;dossier")
    assert all(re.match(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2};", line) for line in lines)
    assert "Dossier ouvert" in export and ";coord@demo.test;" not in export
    assert ";champs : Nom du ménage;" in export


def test_the_users_page_names_roles_and_leads_to_an_accounts_roles(
        app: Flask, admin_client: FlaskClient, world: World) -> None:
    page = unescape(admin_client.get("/supervision/utilisateurs").text)
    assert "territory.json" not in page
    assert "Coordination de la plateforme" in page
    accounts = page.split('id="comptes-titre"', 1)[1].split("</section>", 1)[0]
    assert "— coordination" not in accounts and "— admin" not in accounts
    operator = _user_id(app, "op@demo.test")
    assert f"/supervision/utilisateurs/{operator}/roles" in page


def test_a_role_is_added_and_withdrawn_from_the_page(
        app: Flask, admin_client: FlaskClient, world: World) -> None:
    operator = _user_id(app, "op@demo.test")
    url = f"/supervision/utilisateurs/{operator}/roles"
    page = unescape(admin_client.get(url).text)
    assert "Rôles de Op" in page and f'value="{world.territory.id}:coordination"' in page
    added = admin_client.post(url, data={"role": f"{world.territory.id}:coordination"},
                              follow_redirects=True)
    assert "Rôle ajouté." in unescape(added.text)
    assert "Coordination de la plateforme" in unescape(added.text)
    assert _count(app, "membership.add", territory_id=world.territory.id) >= 1
    with app.extensions["aiguillage"].sessions() as session:
        membership = session.scalar(select(Membership.id).where(
            Membership.user_id == operator, Membership.role == "coordination"))
    assert membership is not None
    removed = admin_client.post(f"/supervision/roles/{membership}/retirer",
                                data={"compte": operator}, follow_redirects=True)
    assert "Rôle retiré." in unescape(removed.text) and "Rôles de Op" in unescape(removed.text)
    assert _count(app, "membership.remove") == 1
    journal = unescape(admin_client.get("/supervision/journal").text)
    assert "Rôle retiré" in journal and "Coordination de la plateforme — Op" in journal


def test_bad_and_refused_role_changes_change_nothing(
        app: Flask, admin_client: FlaskClient, client: FlaskClient, world: World) -> None:
    operator = _user_id(app, "op@demo.test")
    url = f"/supervision/utilisateurs/{operator}/roles"

    def held() -> int:
        with app.extensions["aiguillage"].sessions() as session:
            return session.scalar(select(func.count()).select_from(Membership)) or 0

    before = held()
    for role in ("", "coordination", "x:coordination", f"{world.territory.id}:inconnu",
                 f"{world.territory.id}:"):
        answer = admin_client.post(url, data={"role": role})
        assert answer.status_code == 422, role
        assert 'role="alert"' in answer.text and "Traceback" not in answer.text
    elsewhere = world.outsider.territories()[0]
    assert admin_client.post(url, data={"role": f"{elsewhere}:coordination"}
                             ).status_code in (403, 404)  # a territory they do not administer
    outsider = url.replace(str(operator), str(world.outsider.user_id))
    assert admin_client.get(outsider).status_code == 404  # an account of another territory
    assert admin_client.post(outsider, data={"role": f"{world.territory.id}:operateur"}
                             ).status_code == 404
    app.config["WTF_CSRF_ENABLED"] = True  # a forged POST, without the form's token
    assert admin_client.post(url, data={"role": f"{world.territory.id}:operateur"}
                             ).status_code == 400
    app.config["WTF_CSRF_ENABLED"] = False
    client.post("/deconnexion")
    client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD})
    assert client.get(url).status_code == 403
    assert client.post(url, data={"role": f"{world.territory.id}:operateur"}).status_code == 403
    assert held() == before


def test_supervision_views_filters_chart_and_csv(app: Flask, admin_client: FlaskClient,
                                                 clock: FixedClock, world: World) -> None:
    open_case(app, clock, world)
    coming = unescape(admin_client.get("/supervision/?vue=echeances").text)
    assert "Analyser la demande" in coming and "Retard (jours)" not in coming
    assert '<option value="Analyser la demande"' in coming
    by_name = unescape(admin_client.get(
        "/supervision/?vue=echeances&etape=Analyser+la+demande").text)
    assert "Aucune étape dans cette vue." not in by_name
    other = unescape(admin_client.get("/supervision/?vue=echeances&etape=Décider").text)
    assert "Aucune étape dans cette vue." in other
    assert "Coordination de la plateforme</option>" in coming  # roles by name
    export = admin_client.get("/supervision/export.csv?vue=echeances").get_data(as_text=True)
    header, line = export.lstrip("\ufeff").splitlines()
    assert header == ("dossier;territoire;circuit;étape;rôle;organisation;personne;"
                      "prête depuis le;échéance")
    assert not ISO.search(export)
    assert re.search(r";\d{2}/\d{2}/\d{4} \d{2}:\d{2};\d{2}/\d{2}/\d{4} \d{2}:\d{2}$", line)
    clock.advance(timedelta(days=6))
    with app.extensions["aiguillage"].sessions() as session:
        from engine.services import oversight
        oversight.record_daily_counts(session, clock)
        session.commit()
    admin_client.post("/connexion", data={"email": "admin@demo.test", "password": PASSWORD})
    late = unescape(admin_client.get("/supervision/").text)
    assert "Retard (jours)" in late
    assert 'class="chart-legend"' in late and "Étapes en retard" in late
    assert "<caption>Chiffres par jour</caption>" in late and "<details>" not in late
