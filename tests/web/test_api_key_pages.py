"""Supervision's API keys page (issue #18, item 2): administrators only, a key created with
its token shown once (never again, never cached), renewed and revoked after confirmation,
another territory's key not found, bad input refused with its words and nothing stored."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.clock import FixedClock
from engine.core.bundles import Role
from engine.core.bundles import Territory as TerritoryFile
from engine.persistence.models import ApiKey
from engine.services import api_keys, users
from engine.services.access import SYSTEM
from engine.services.territories import ensure_territory
from tests.integration.factories import PASSWORD, World, make_org

TOKEN = re.compile(r"agl_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@pytest.fixture
def org(app: Flask, clock: FixedClock, world: World) -> int:
    with app.extensions["aiguillage"].sessions() as session:
        return make_org(session, clock, world.territory.id, "SIAO de Test", "siao")


def _admin(app: Flask, clock: FixedClock, client: FlaskClient, territory_id: int,
           email: str = "admin@demo.test") -> FlaskClient:
    with app.extensions["aiguillage"].sessions() as session:
        user = users.create_user(session, clock, SYSTEM, email, "Alix Admin", PASSWORD)
        users.add_membership(session, clock, SYSTEM, user.id, territory_id, "admin")
    client.post("/connexion", data={"email": email, "password": PASSWORD})
    return client


@pytest.fixture
def admin_client(app: Flask, client: FlaskClient, clock: FixedClock, world: World,
                 org: int) -> FlaskClient:
    return _admin(app, clock, client, world.territory.id)


def _keys(app: Flask) -> int:
    with app.extensions["aiguillage"].sessions() as session:
        return session.scalar(select(func.count()).select_from(ApiKey)) or 0


def _create(client: FlaskClient, world: World, org: int, **extra: object) -> str:
    answer = client.post(f"/supervision/cles-api/nouvelle?territoire={world.territory.id}",
                         data={"name": "Logiciel SI-SIAO", "organisation": org,
                               "roles": ["operateur"], "rights": "write", **extra})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Copiez cette clé maintenant : elle ne sera plus affichée." in unescape(answer.text)
    found = TOKEN.search(answer.text)
    assert found
    return found.group(0)


def test_an_administrator_creates_a_key_and_sees_it_once(
        app: Flask, admin_client: FlaskClient, world: World, org: int,
        clock: FixedClock) -> None:
    page = admin_client.get("/supervision/cles-api/")
    assert page.status_code == 200 and "Aucune clé d’API" in unescape(page.text)
    form = admin_client.get(f"/supervision/cles-api/nouvelle?territoire={world.territory.id}")
    text = unescape(form.text)
    assert "Opérateur d'accompagnement" in text and "Circuit d'essai" in text
    assert "Administration" not in text.split("<form")[1]  # no such role for a key
    token = _create(admin_client, world, org, circuits=[world.circuit.id])
    clock.advance(timedelta(minutes=3))
    with app.extensions["aiguillage"].sessions() as session:
        api_keys.authenticate(session, clock, token)
    clock.advance(timedelta(minutes=3))
    listed = unescape(admin_client.get("/supervision/cles-api/").text)
    assert token not in listed and token[:16] in listed  # recognised by its prefix only
    for words in ("Logiciel SI-SIAO", "SIAO de Test", "Opérateur d'accompagnement",
                  "lecture et écriture", "Circuit d'essai", "il y a 3 min", "active",
                  "par Alix Admin"):
        assert words in listed, words
    assert not ISO.search(listed) and "operateur" not in listed.replace("Opérateur", "")
    assert re.search(r"\d{1,2}\xa0[a-zé]+\.?\xa0\d{4}\xa0à\xa0\d{1,2}\xa0h\xa0\d{2}", listed)  # unbreakable


def test_renewing_shows_a_new_token_and_revoking_twice_says_so(
        app: Flask, admin_client: FlaskClient, world: World, org: int,
        clock: FixedClock) -> None:
    first = _create(admin_client, world, org)
    with app.extensions["aiguillage"].sessions() as session:
        key_id = session.scalar(select(ApiKey.id))
    confirm = admin_client.get(f"/supervision/cles-api/{key_id}/renouveler")
    assert confirm.status_code == 200 and "Renouveler la clé" in unescape(confirm.text)
    renewed = admin_client.post(f"/supervision/cles-api/{key_id}/renouveler",
                                data={"overlap": "0"})
    assert renewed.status_code == 200 and renewed.headers["Cache-Control"] == "no-store"
    second = TOKEN.search(renewed.text)
    assert second and second.group(0) != first
    with app.extensions["aiguillage"].sessions() as session:
        new_id = session.scalar(select(ApiKey.id).where(ApiKey.rotated_from_id == key_id))
    assert admin_client.get(f"/supervision/cles-api/{new_id}/revoquer").status_code == 200
    done = admin_client.post(f"/supervision/cles-api/{new_id}/revoquer", follow_redirects=True)
    assert "révoquée : elle ne fonctionne plus" in unescape(done.text)
    again = admin_client.post(f"/supervision/cles-api/{new_id}/revoquer",
                              follow_redirects=True)
    assert again.status_code == 200
    assert "Cette clé d'API est déjà révoquée." in unescape(again.text)
    twice = admin_client.post(f"/supervision/cles-api/{key_id}/renouveler",
                              follow_redirects=True)
    assert "Cette clé d'API est déjà révoquée." in unescape(twice.text)
    assert _keys(app) == 2


@pytest.mark.parametrize("data", [
    {"name": "", "organisation": "1", "roles": ["operateur"], "rights": "read"},
    {"name": "Logiciel", "organisation": "1", "roles": [], "rights": "read"},
    {"name": "Logiciel", "organisation": "1", "roles": ["admin"], "rights": "read"},
    {"name": "Logiciel", "organisation": "1", "roles": ["operateur"], "rights": "tout"},
    {"name": "Logiciel", "organisation": "9" * 30, "roles": ["operateur"], "rights": "read"},
    {"name": "Logiciel", "organisation": "1", "roles": ["operateur"], "rights": "read",
     "circuits": ["9" * 30]},
    {"name": "Logi\x00ciel", "organisation": "1", "roles": ["operateur"], "rights": "read"},
    {"name": "L" * 500, "organisation": "1", "roles": ["operateur"], "rights": "read"},
])
def test_bad_input_is_refused_with_words_and_stores_nothing(
        app: Flask, admin_client: FlaskClient, world: World, org: int,
        data: dict[str, object]) -> None:
    body = {**data, "organisation": org if data["organisation"] == "1"
            else data["organisation"]}
    answer = admin_client.post(
        f"/supervision/cles-api/nouvelle?territoire={world.territory.id}", data=body)
    if "\x00" in str(data["name"]):  # the app's guard, before any view
        assert answer.status_code == 400 and "caractère invalide" in unescape(answer.text)
    else:
        assert answer.status_code == 422, answer.text
        assert "La clé n’a pas été créée" in unescape(answer.text)
    assert _keys(app) == 0


def test_only_administrators_and_only_of_the_key_territory(
        app: Flask, client: FlaskClient, world: World, org: int, clock: FixedClock) -> None:
    with app.extensions["aiguillage"].sessions() as session:
        issued = api_keys.create(session, clock, SYSTEM, world.territory.id, org,
                                 "Logiciel SI-SIAO", ["operateur"], ["read"], None)
        other = ensure_territory(session, clock, SYSTEM, TerritoryFile(
            "autre2", "Autre", (Role("operateur", "Opérateur"),)))
    assert client.get("/supervision/cles-api/").status_code == 302  # sign in first
    client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD})
    for url in ("/supervision/cles-api/", f"/supervision/cles-api/{issued.id}/revoquer"):
        assert client.get(url).status_code == 403
    client.post("/deconnexion")
    elsewhere = _admin(app, clock, client, other.id, "admin@autre.test")
    for url in (f"/supervision/cles-api/{issued.id}/revoquer",
                f"/supervision/cles-api/{issued.id}/renouveler",
                f"/supervision/cles-api/{10**30}/revoquer", "/supervision/cles-api/999/revoquer",
                f"/supervision/cles-api/nouvelle?territoire={world.territory.id}"):
        assert elsewhere.get(url).status_code == 404, url
    assert elsewhere.post(f"/supervision/cles-api/{issued.id}/revoquer").status_code == 404
    assert "Logiciel SI-SIAO" not in elsewhere.get("/supervision/cles-api/").text
    with app.extensions["aiguillage"].sessions() as session:
        row = session.get(ApiKey, issued.id)
        assert row is not None and row.revoked_at is None


def test_the_technical_account_is_not_on_the_people_page(
        admin_client: FlaskClient, world: World, org: int) -> None:
    _create(admin_client, world, org)
    people = unescape(admin_client.get("/supervision/utilisateurs").text)
    assert "Logiciel « Logiciel SI-SIAO »" not in people and "aiguillage.invalid" not in people


def test_no_organisation_is_picked_for_the_administrator(
        app: Flask, admin_client: FlaskClient, world: World, org: int) -> None:
    """The form starts on « — Choisissez l'organisation — », not on the first one, and
    leaving it so (or forging an id) says what to do and stores nothing."""
    url = f"/supervision/cles-api/nouvelle?territoire={world.territory.id}"
    form = unescape(admin_client.get(url).text)
    first = re.search(r'<select[^>]*name="organisation"[^>]*>\s*<option[^>]*>([^<]*)<', form)
    assert first and first.group(1) == "— Choisissez l'organisation —"
    for value in ("", "abc", "123456789012345678901234567890"):
        answer = admin_client.post(url, data={"name": "Logiciel", "organisation": value,
                                              "roles": ["operateur"], "rights": "read"})
        assert answer.status_code == 422, value
        text = unescape(answer.text)
        assert ("Choisissez l'organisation." if value == "" else
                "N'est pas un choix valide.") in text
    assert _keys(app) == 0
