"""Sign-in, sessions, CSRF, headers, throttling, bad input."""

from __future__ import annotations

import shutil
from datetime import timedelta
from html import unescape
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.clock import FixedClock
from engine.persistence.models import Case
from tests.integration.factories import PASSWORD, World, make_world
from tests.web.conftest import AuthActions
from tests.web.helpers import open_case
from webapp import create_app


def _app(template_db: Path, tmp_path: Path, clock: FixedClock, **config: object) -> Flask:
    db = tmp_path / "sec.sqlite"
    shutil.copy(template_db, db)
    return create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": f"sqlite:///{db}",
                       "SESSION_COOKIE_SECURE": False, "CLOCK": clock, **config})


def test_wrong_password_is_refused_without_saying_which_part(client: FlaskClient,
                                                             auth: AuthActions,
                                                             world: World) -> None:
    for email, password in (("coord@demo.test", "faux"), ("nobody@demo.test", PASSWORD)):
        page = auth.login(email, password)
        assert page.status_code == 200
        assert "Adresse e-mail ou mot de passe incorrect." in unescape(page.text)


def test_sign_in_starts_a_fresh_session_and_sign_out_ends_it(client: FlaskClient,
                                                             auth: AuthActions,
                                                             world: World) -> None:
    with client.session_transaction() as session:
        session["planted"] = "avant connexion"
    auth.login()
    with client.session_transaction() as session:
        assert "planted" not in session and "_user_id" in session
    auth.logout()
    with client.session_transaction() as session:
        assert "_user_id" not in session
    assert client.get("/taches/").status_code == 302


def test_idle_session_expires(client: FlaskClient, auth: AuthActions, world: World,
                              clock: FixedClock) -> None:
    auth.login()
    clock.advance(timedelta(minutes=31))
    page = client.get("/taches/", follow_redirects=True)
    assert "expiré après une période d'inactivité" in unescape(page.text)


def test_post_without_csrf_token_is_refused_and_stores_nothing(
        template_db: Path, tmp_path: Path, clock: FixedClock) -> None:
    app = _app(template_db, tmp_path, clock, WTF_CSRF_ENABLED=True)
    with app.extensions["aiguillage"].sessions() as session:
        world = make_world(session, clock)
    client = app.test_client()
    page = client.get("/connexion")
    import re
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert client.post("/connexion", data={"email": "coord@demo.test",
                                           "password": PASSWORD}).status_code == 400
    client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD,
                                    "csrf_token": token})
    forged = client.post("/dossiers/nouveau", data={"circuit": world.circuit.id,
                                                    "nom_menage": "Ménage Forgé"})
    assert forged.status_code == 400
    assert "Le formulaire a expiré" in unescape(forged.text)
    with app.extensions["aiguillage"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_sign_in_is_throttled(template_db: Path, tmp_path: Path, clock: FixedClock) -> None:
    app = _app(template_db, tmp_path, clock, WTF_CSRF_ENABLED=False, SIGN_IN_MAX_FAILURES=3)
    client = app.test_client()
    codes = [client.post("/connexion", data={"email": "x@demo.test", "password": "y"}).status_code
             for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    again = client.post("/connexion", data={"email": "x@demo.test", "password": "y"})
    assert "Trop de tentatives" in unescape(again.text)


def test_security_headers_and_cookie_flags(template_db: Path, tmp_path: Path,
                                           clock: FixedClock) -> None:
    app = _app(template_db, tmp_path, clock, WTF_CSRF_ENABLED=False, SESSION_COOKIE_SECURE=True)
    with app.extensions["aiguillage"].sessions() as session:
        make_world(session, clock)
    client = app.test_client()
    page = client.get("/connexion")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    response = client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-aiguillage=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_over_long_field_gets_a_message_and_nothing_is_stored(app: Flask, client: FlaskClient,
                                                               auth: AuthActions, clock: FixedClock,
                                                               world: World) -> None:
    auth.login()
    page = client.post("/dossiers/nouveau", data={"circuit": world.circuit.id,
                                                  "nom_menage": "x" * 5000})
    assert page.status_code == 422
    assert "Au plus 120 caractères." in unescape(page.text)
    with app.extensions["aiguillage"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_another_territorys_ids_in_the_url_leak_nothing(app: Flask, client: FlaskClient,
                                                        clock: FixedClock, world: World) -> None:
    case_id, task_id = open_case(app, clock, world)
    client.post("/connexion", data={"email": "autre@demo.test", "password": PASSWORD})
    for url in (f"/dossiers/{case_id}", f"/taches/{task_id}", "/taches/999999"):
        page = client.get(url)
        assert page.status_code == 404 and "Page introuvable" in unescape(page.text)
