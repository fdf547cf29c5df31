"""Sign-in and account (issue #10, findings 4, 10, 11, 12): no open redirect, the same work
for every wrong answer, throttling kept in the database, temporary passwords changed first."""

from __future__ import annotations

import shutil
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from engine.clock import FixedClock
from engine.persistence.models import AuditEvent, AuditEventTerritory, SignInThrottle, User
from engine.services import signin
from tests.integration.factories import PASSWORD, World, make_world
from tests.web.conftest import AuthActions
from tests.web.helpers import open_case
from webapp import create_app
from webapp.urls import safe_next

HOSTILE = [
    "//evil.example/", "/\t/evil.example/", "/\\evil.example",
    "\\\\evil.example", "/\\/evil.example", " //evil.example", "\n//evil.example",
    "/\r\n/evil.example", "https://evil.example/", "javascript:alert(1)",
    "https:/evil.example", "//evil.example\\@aiguillage.test/", "evil.example",
    "/\x00/evil.example", "\x01//evil.example", "////evil.example", "http:evil.example",
]


def _app(template_db: Path, tmp_path: Path, clock: FixedClock, **settings: Any) -> Flask:
    db = tmp_path / "signin.sqlite"
    shutil.copy(template_db, db)
    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test",
                       "DATABASE_URL": f"sqlite:///{db}", "SESSION_COOKIE_SECURE": False,
                       "CLOCK": clock, **settings})


def _sessions(app: Flask) -> Any:
    return app.extensions["aiguillage"].sessions()


# 4. open redirect --------------------------------------------------------------------------

@pytest.mark.parametrize("target", HOSTILE)
def test_safe_next_refuses_every_way_out_of_the_site(target: str) -> None:
    assert safe_next(target, "/repli") == "/repli"


@pytest.mark.parametrize("target", ["/taches/", "/dossiers/?q=martin&page=2", "/compte/#x",
                                    "/dossiers/12"])
def test_safe_next_keeps_a_path_on_the_site(target: str) -> None:
    assert safe_next(target, "/repli") == target


@pytest.mark.parametrize("target", HOSTILE)
def test_no_redirect_leaves_the_site(app: Flask, client: FlaskClient, clock: FixedClock,
                                     world: World, target: str) -> None:
    _case_id, task_id = open_case(app, clock, world)
    signed = client.post("/connexion", query_string={"next": target},
                         data={"email": "coord@demo.test", "password": PASSWORD})
    language = client.post("/langue", data={"lang": "fr", "next": target})
    claimed = client.post(f"/taches/{task_id}/prendre", data={"next": target})
    for response, fallback in ((signed, "/taches/"), (language, "/"),
                               (claimed, f"/taches/{task_id}")):
        if response.status_code == 400:  # refused at the door (a control character)
            assert any(ord(c) < 0x20 and c not in "\t\r\n" for c in target)
            continue
        assert response.status_code == 302
        assert response.headers["Location"] == fallback, (target, response.headers["Location"])


def test_the_reported_reproduction(client: FlaskClient, world: World) -> None:
    signed = client.post("/connexion?next=/%09/evil.example/",
                         data={"email": "coord@demo.test", "password": PASSWORD})
    assert signed.headers["Location"] == "/taches/"


def test_a_path_on_the_site_is_where_sign_in_leads(client: FlaskClient, world: World) -> None:
    signed = client.post("/connexion?next=/dossiers/%3Fq%3Dmartin",
                         data={"email": "coord@demo.test", "password": PASSWORD})
    assert signed.headers["Location"] == "/dossiers/?q=martin"


# 10. the same work for an unknown e-mail and a wrong password ------------------------------

def test_unknown_email_and_wrong_password_cost_one_hash_check_each(
        client: FlaskClient, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []
    real = signin.check_password_hash

    def spy(stored: str, password: str) -> bool:
        checked.append(stored.split("$")[0])
        return real(stored, password)

    monkeypatch.setattr(signin, "check_password_hash", spy)
    for email in ("nobody@demo.test", "coord@demo.test"):
        page = client.post("/connexion", data={"email": email, "password": "pas le bon"})
        assert "Adresse e-mail ou mot de passe incorrect." in unescape(page.text)
    assert len(checked) == 2 and checked[0] == checked[1]  # one check each, same method


def test_the_dummy_hash_is_made_like_stored_ones() -> None:
    from werkzeug.security import generate_password_hash
    assert signin.DUMMY_HASH.split("$")[0] == generate_password_hash("x").split("$")[0]


# 11. brute force -----------------------------------------------------------------------------

def _try(client: FlaskClient, email: str, password: str = "pas le bon", **kw: Any) -> Any:
    return client.post("/connexion", data={"email": email, "password": password}, **kw)


def test_an_account_is_locked_after_five_failures_even_with_the_right_password(
        app: Flask, client: FlaskClient, clock: FixedClock, world: World) -> None:
    for _ in range(5):
        assert _try(client, "coord@demo.test").status_code == 200
    refused = _try(client, "coord@demo.test", PASSWORD)
    assert refused.status_code == 429
    assert "Trop de tentatives de connexion : réessayez dans 15 minutes." \
        in unescape(refused.text)
    assert _try(app.test_client(), "op@demo.test", PASSWORD).status_code == 302  # others sign in
    clock.advance(timedelta(minutes=15))
    assert _try(client, "coord@demo.test", PASSWORD).status_code == 302


def test_an_unknown_email_is_locked_the_same_way(client: FlaskClient, world: World) -> None:
    pages = [_try(client, "nobody@demo.test") for _ in range(6)]
    assert [p.status_code for p in pages] == [200] * 5 + [429]


def test_success_resets_the_accounts_count(app: Flask, client: FlaskClient,
                                           world: World) -> None:
    for _ in range(4):
        _try(client, "coord@demo.test")
    assert _try(client, "coord@demo.test", PASSWORD).status_code == 302
    other = app.test_client()
    for _ in range(4):
        assert _try(other, "coord@demo.test").status_code == 200
    assert _try(other, "coord@demo.test", PASSWORD).status_code == 302


def test_one_address_is_limited_across_accounts(template_db: Path, tmp_path: Path,
                                                clock: FixedClock) -> None:
    app = _app(template_db, tmp_path, clock, SIGN_IN_ADDRESS_MAX_FAILURES=3)
    with _sessions(app) as session:
        make_world(session, clock)
    client = app.test_client()
    codes = [_try(client, f"n{i}@demo.test").status_code for i in range(3)]
    assert codes == [200, 200, 200]
    assert _try(client, "coord@demo.test", PASSWORD).status_code == 429
    elsewhere = {"REMOTE_ADDR": "192.0.2.7"}
    assert _try(client, "coord@demo.test", PASSWORD, environ_base=elsewhere).status_code == 302


def test_the_count_is_kept_in_the_database(app: Flask, template_db: Path, tmp_path: Path,
                                           clock: FixedClock, world: World) -> None:
    for _ in range(5):
        _try(app.test_client(), "coord@demo.test")
    url = app.config["DATABASE_URL"]
    restarted = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test",
                            "DATABASE_URL": url, "SESSION_COOKIE_SECURE": False,
                            "CLOCK": clock})  # another worker, or the same after a restart
    assert _try(restarted.test_client(), "coord@demo.test", PASSWORD).status_code == 429
    with _sessions(app) as session:
        row = session.get(SignInThrottle, "compte:coord@demo.test")
        assert row is not None and row.failures == 5


def test_failed_and_refused_sign_ins_are_audited_without_the_password(
        app: Flask, client: FlaskClient, world: World) -> None:
    for _ in range(6):
        _try(client, "coord@demo.test", "secret-tenté-123")
    _try(client, "nobody@demo.test", "secret-tenté-456")
    with _sessions(app) as session:
        events = list(session.scalars(select(AuditEvent).where(
            AuditEvent.action.like("user.sign_in%")).order_by(AuditEvent.id)))
    # within a minute, one row per account and reason: the repeats are counted in the next
    assert [e.action for e in events] == [
        "user.sign_in_failed", "user.sign_in_refused", "user.sign_in_failed"]
    assert all("secret-tenté" not in str(e.detail) for e in events)
    assert events[0].territory_id == world.territory.id  # the account's administrators see it
    assert events[0].detail["address"] == "127.0.0.1"
    assert "nobody" not in str(events[-1].detail)  # an unknown e-mail is not kept


# 12. changing one's password ---------------------------------------------------------------

def _must_change(app: Flask, email: str) -> None:
    with _sessions(app) as session:
        session.execute(update(User).where(User.email == email)
                        .values(must_change_password=True))
        session.commit()


def _change(client: FlaskClient, current: str, new: str, confirm: str | None = None) -> Any:
    return client.post("/compte/", data={"current": current, "new": new,
                                         "confirm": new if confirm is None else confirm})


def test_a_temporary_password_must_be_changed_before_anything_else(
        app: Flask, client: FlaskClient, auth: AuthActions, clock: FixedClock,
        world: World) -> None:
    _must_change(app, "coord@demo.test")
    signed = auth.login()
    assert signed.headers["Location"] == "/compte/"
    for url in ("/taches/", "/dossiers/", "/dossiers/nouveau"):
        assert client.get(url).headers.get("Location") == "/compte/", url
    assert client.post("/dossiers/nouveau", data={}).headers.get("Location") == "/compte/"
    assert client.get("/accessibilite").status_code == 200
    page = client.get("/compte/")
    assert "Votre mot de passe est provisoire" in unescape(page.text)
    changed = _change(client, PASSWORD, "un nouveau mot de passe sûr")
    assert changed.status_code == 302
    assert client.get("/taches/").status_code == 200
    with _sessions(app) as session:
        user = session.scalar(select(User).where(User.email == "coord@demo.test"))
        assert user is not None
        assert not user.must_change_password and user.password_changed_at == clock.now()


def test_signing_out_is_possible_before_changing(app: Flask, client: FlaskClient,
                                                 auth: AuthActions, world: World) -> None:
    _must_change(app, "coord@demo.test")
    auth.login()
    assert auth.logout().headers["Location"] == "/connexion"
    assert client.get("/taches/").status_code == 302


def test_changing_my_password_ends_my_other_sessions_and_is_audited(
        app: Flask, client: FlaskClient, auth: AuthActions, world: World) -> None:
    auth.login()
    phone = app.test_client()
    AuthActions(phone).login()
    assert client.get("/compte/").status_code == 200
    assert _change(client, PASSWORD, "un nouveau mot de passe sûr").status_code == 302
    assert client.get("/taches/").status_code == 200  # this session goes on
    assert phone.get("/taches/").status_code == 302  # the other one ended
    assert AuthActions(app.test_client()).login().status_code == 200  # old password: refused
    assert AuthActions(app.test_client()).login(
        password="un nouveau mot de passe sûr").status_code == 302
    with _sessions(app) as session:
        event = session.scalar(select(AuditEvent).where(
            AuditEvent.action == "user.password_change"))
        assert event is not None and event.territory_id == world.territory.id
        assert "mot de passe" not in str(event.detail)
        assert session.scalar(select(AuditEventTerritory)) is None


@pytest.mark.parametrize(("current", "new", "confirm", "message"), [
    ("faux mot de passe", "un nouveau mot de passe sûr", None, "Mot de passe actuel incorrect."),
    (PASSWORD, "court", None, "Entre 12 et 200 caractères."),
    (PASSWORD, PASSWORD, None, "Le nouveau mot de passe doit être différent de l'actuel."),
    (PASSWORD, "un nouveau mot de passe sûr", "autre chose encore", "diffèrent"),
])
def test_a_refused_change_says_why_and_changes_nothing(
        client: FlaskClient, auth: AuthActions, world: World, current: str, new: str,
        confirm: str | None, message: str) -> None:
    auth.login()
    page = _change(client, current, new, confirm)
    assert page.status_code == 422
    assert message in unescape(page.text)
    auth.logout()
    assert auth.login().status_code == 302  # the password is still the same
