"""The accounts pages (issue #10, findings 1, 2, 12 and 13): no administrator reaches another
territory's accounts; a temporary password shows once, in the page and nowhere else; a refused
creation leaves no account."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.clock import FixedClock
from engine.persistence.models import Membership, User, WebSession
from engine.services import users
from engine.services.access import SYSTEM
from tests.integration.factories import PASSWORD, World


@pytest.fixture
def admins(app: Flask, clock: FixedClock, world: World) -> dict[str, int]:
    """admin-a administers the test territory, admin-b « Ailleurs »; their user ids."""
    ids = {}
    with app.extensions["aiguillage"].sessions() as session:
        for name, territory in (("a", world.territory.id), ("b", world.outsider.territories()[0])):
            user = users.create_user(session, clock, SYSTEM, f"admin-{name}@demo.test",
                                     f"Admin {name.upper()}", PASSWORD)
            users.add_membership(session, clock, SYSTEM, user.id, territory, "admin")
            ids[name] = user.id
    return ids


def _sign_in(client: FlaskClient, email: str) -> None:
    response = client.post("/connexion", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302


def _user(app: Flask, email: str) -> User | None:
    with app.extensions["aiguillage"].sessions() as session:
        return session.scalar(select(User).where(User.email == email))



def _secret(page: str) -> str:
    """The temporary password the page shows (in its own ``<code class="secret">``)."""
    found = re.search(r'<code class="secret">([^<]+)</code>', page)
    assert found is not None
    return found.group(1)

def test_an_administrator_cannot_take_over_another_territorys_administrator(
        app: Flask, client: FlaskClient, world: World, admins: dict[str, int]) -> None:
    _sign_in(client, "admin-a@demo.test")
    base = f"/supervision/utilisateurs/{admins['b']}"
    role = client.post(f"{base}/role", data={"territoire": world.territory.id,
                                             "role": "operateur"})
    assert role.status_code == 404
    reset = client.post(f"{base}/mot-de-passe")
    assert reset.status_code == 404 and "mot de passe provisoire" not in unescape(reset.text)
    assert client.post(f"{base}/desactiver").status_code == 404
    with app.extensions["aiguillage"].sessions() as session:
        held = set(session.scalars(select(Membership.territory_id).where(
            Membership.user_id == admins["b"])))
        victim = session.get(User, admins["b"])
        assert victim is not None and victim.active and not victim.must_change_password
    assert held == {world.outsider.territories()[0]}
    other = FlaskClient(app)
    _sign_in(other, "admin-b@demo.test")
    journal = unescape(other.get("/supervision/journal?action=user.refused").text)
    assert "3 événements" in journal and "Admin A" in journal  # a name, not an e-mail
    assert "admin-a@demo.test" not in journal


def _cookies(response: object) -> str:
    return " ".join(response.headers.getlist("Set-Cookie"))  # type: ignore[attr-defined]


def _server_sessions(app: Flask) -> str:
    with app.extensions["aiguillage"].sessions() as session:
        return json.dumps([s.data for s in session.scalars(select(WebSession))])


def test_a_new_accounts_temporary_password_shows_once_in_the_page_only(
        app: Flask, client: FlaskClient, world: World, admins: dict[str, int]) -> None:
    _sign_in(client, "admin-a@demo.test")
    created = client.post("/supervision/utilisateurs", data={
        "email": "nouveau@demo.test", "nom": "Nouvelle Personne",
        "territoire": world.territory.id, "role": "operateur"})
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    text = unescape(created.text)
    assert "Compte créé pour nouveau@demo.test" in text
    password = _secret(text)
    assert len(password) >= 12 and password not in _cookies(created)
    assert password not in _server_sessions(app)
    user = _user(app, "nouveau@demo.test")
    assert user is not None and user.must_change_password
    again = unescape(client.get("/supervision/utilisateurs").text)
    assert password not in again and "mot de passe provisoire" in again


def test_a_reset_password_shows_once_in_the_page_only(
        app: Flask, client: FlaskClient, world: World, admins: dict[str, int]) -> None:
    _sign_in(client, "admin-a@demo.test")
    reset = client.post(f"/supervision/utilisateurs/{world.operator.user_id}/mot-de-passe")
    assert reset.status_code == 200 and reset.headers["Cache-Control"] == "no-store"
    password = _secret(unescape(reset.text))
    assert password not in _cookies(reset) and password not in _server_sessions(app)
    assert password not in client.get("/supervision/utilisateurs").text
    with app.extensions["aiguillage"].sessions() as session:
        assert users.authenticate(session, "op@demo.test", password) is not None


@pytest.mark.parametrize("data, status, message", [
    ({"role": "inconnu"}, 409, "rôle inconnu dans ce territoire : inconnu"),
    ({"email": "=2+3@x.test"}, 422, "adresse e-mail invalide"),
    ({"nom": "n" * 201}, 422, "200 caractères au plus"),
    ({"nom": " "}, 422, "indiquez le nom"),
])
def test_a_refused_creation_leaves_no_account_and_says_why(
        app: Flask, client: FlaskClient, world: World, admins: dict[str, int],
        data: dict[str, str], status: int, message: str) -> None:
    _sign_in(client, "admin-a@demo.test")
    form = {"email": "refuse@demo.test", "nom": "Refusé", "territoire": str(world.territory.id),
            "role": "operateur", **data}
    response = client.post("/supervision/utilisateurs", data=form)
    assert response.status_code == status
    assert message in unescape(response.text)
    assert _user(app, form["email"]) is None


def test_creation_in_another_territory_is_refused(
        app: Flask, client: FlaskClient, world: World, admins: dict[str, int]) -> None:
    _sign_in(client, "admin-a@demo.test")
    response = client.post("/supervision/utilisateurs", data={
        "email": "intrus@demo.test", "nom": "Intrus",
        "territoire": world.outsider.territories()[0], "role": "coordination"})
    assert response.status_code == 403
    assert _user(app, "intrus@demo.test") is None


def test_a_shared_account_shows_no_action_to_an_administrator_of_one_territory(
        app: Flask, client: FlaskClient, clock: FixedClock, world: World,
        admins: dict[str, int]) -> None:
    with app.extensions["aiguillage"].sessions() as session:
        users.add_membership(session, clock, SYSTEM, world.operator.user_id,  # type: ignore[arg-type]
                             world.outsider.territories()[0], "coordination")
    _sign_in(client, "admin-a@demo.test")
    page = unescape(client.get("/supervision/utilisateurs").text)
    row = next(r for r in page.split("<tr>") if "op@demo.test" in r)
    assert "Aussi membre d’un territoire que vous n’administrez pas" in row
    assert "/supervision/utilisateurs/" not in row and "/retirer" not in row
    refused = client.post(f"/supervision/utilisateurs/{world.operator.user_id}/mot-de-passe")
    assert refused.status_code == 403
