"""Sessions kept on the server (issue #10, finding 6): the cookie holds only a random id, and
ending a session on the server ends it for every copy of the cookie."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.clock import FixedClock
from engine.errors import Unavailable
from engine.persistence.models import User, WebSession
from engine.services import sessions, users
from engine.services.access import SYSTEM
from tests.integration.factories import PASSWORD, World
from tests.web.conftest import AuthActions

COOKIE = "aiguillage"


def _rows(app: Flask) -> list[WebSession]:
    with app.extensions["aiguillage"].sessions() as session:
        return list(session.scalars(select(WebSession).order_by(WebSession.id)))


def _user_id(app: Flask, email: str) -> int:
    with app.extensions["aiguillage"].sessions() as session:
        found = session.scalar(select(User.id).where(User.email == email))
        assert found is not None
        return found


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/taches/").status_code == 200


def _replay(app: Flask, cookie: str) -> FlaskClient:
    """Another browser holding a copy of ``cookie``."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie)
    return thief


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def test_the_cookie_holds_only_a_random_id_whose_hash_is_stored(
        app: Flask, client: FlaskClient, auth: AuthActions, world: World) -> None:
    auth.login()
    token = _cookie(client)
    assert len(token) >= 43 and "." not in token  # no signed payload, just the id
    [row] = [r for r in _rows(app) if r.revoked_at is None and r.user_id is not None]
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.user_id == _user_id(app, "coord@demo.test")
    assert row.ip == "127.0.0.1" and row.user_agent


def test_a_cookie_copied_before_sign_out_opens_nothing_after_it(
        app: Flask, client: FlaskClient, auth: AuthActions, world: World) -> None:
    auth.login()
    copied = _cookie(client)
    assert _signed_in(_replay(app, copied))
    auth.logout()
    assert not _signed_in(client)
    assert not _signed_in(_replay(app, copied))
    [ended] = [r for r in _rows(app) if r.user_id is not None]
    assert ended.revoked_at is not None and ended.revoked_reason == "sign_out"


def test_sign_in_starts_a_new_id(app: Flask, client: FlaskClient, auth: AuthActions,
                                 world: World) -> None:
    client.post("/langue", data={"lang": "en", "next": "/connexion"})
    before = _cookie(client)
    auth.login()
    after = _cookie(client)
    assert after != before
    assert not _signed_in(_replay(app, before))  # a planted id never becomes a signed-in one
    assert 'lang="en"' in client.get("/taches/").text  # the language survives


def test_a_password_reset_ends_the_sessions(app: Flask, client: FlaskClient, auth: AuthActions,
                                            clock: FixedClock, world: World) -> None:
    auth.login()
    copied = _cookie(client)
    with app.extensions["aiguillage"].sessions() as session:
        users.reset_password(session, clock, SYSTEM, _user_id(app, "coord@demo.test"))
    assert not _signed_in(client)
    assert not _signed_in(_replay(app, copied))


def test_deactivation_then_reactivation_does_not_revive_a_session(
        app: Flask, client: FlaskClient, auth: AuthActions, clock: FixedClock,
        world: World) -> None:
    auth.login()
    copied = _cookie(client)
    user_id = _user_id(app, "coord@demo.test")
    with app.extensions["aiguillage"].sessions() as session:
        users.set_active(session, clock, SYSTEM, user_id, False)
        users.set_active(session, clock, SYSTEM, user_id, True)
    assert not _signed_in(client)
    assert not _signed_in(_replay(app, copied))
    assert auth.login().status_code == 302 and _signed_in(client)  # signing in again works


def test_sign_out_everywhere_ends_every_session_of_the_person(
        app: Flask, client: FlaskClient, auth: AuthActions, world: World) -> None:
    auth.login()
    phone = app.test_client()
    AuthActions(phone).login()
    other = app.test_client()
    AuthActions(other).login("op@demo.test", PASSWORD)
    page = client.get("/compte/")
    assert "Se déconnecter de tous les appareils" in unescape(page.text)
    done = client.post("/compte/deconnexion-partout", follow_redirects=True)
    assert "déconnecté·e de tous vos appareils" in unescape(done.text)
    assert not _signed_in(client) and not _signed_in(phone)
    assert _signed_in(other)  # someone else's session is untouched


def test_idle_limit_is_kept_on_the_server(app: Flask, client: FlaskClient, auth: AuthActions,
                                          clock: FixedClock, world: World) -> None:
    auth.login()
    copied = _cookie(client)
    for _ in range(6):  # busy for an hour: never idle
        clock.advance(timedelta(minutes=10))
        assert _signed_in(client)
    clock.advance(timedelta(minutes=31))
    page = client.get("/taches/", follow_redirects=True)
    assert "expiré après une période d'inactivité" in unescape(page.text)
    assert not _signed_in(_replay(app, copied))


def test_absolute_limit_is_kept_on_the_server(app: Flask, client: FlaskClient,
                                              auth: AuthActions, clock: FixedClock,
                                              world: World) -> None:
    auth.login()
    signed_in_at = clock.now()
    while clock.now() + timedelta(minutes=29) < signed_in_at + timedelta(hours=12):
        clock.advance(timedelta(minutes=29))  # always active: never idle
        assert _signed_in(client)
    clock.set(signed_in_at + timedelta(hours=12))
    page = client.get("/taches/", follow_redirects=True)
    assert "durée maximale" in unescape(page.text)
    assert not _signed_in(client)


def test_activity_is_written_at_most_once_a_minute(app: Flask, client: FlaskClient,
                                                   auth: AuthActions, clock: FixedClock,
                                                   world: World) -> None:
    auth.login()
    client.get("/taches/")
    [first] = [r.last_seen_at for r in _rows(app) if r.user_id is not None]
    for _ in range(5):
        clock.advance(timedelta(seconds=10))
        client.get("/taches/")
    [same] = [r.last_seen_at for r in _rows(app) if r.user_id is not None]
    assert same == first
    clock.advance(timedelta(seconds=15))
    client.get("/taches/")
    [later] = [r.last_seen_at for r in _rows(app) if r.user_id is not None]
    assert later == clock.now()


def test_no_row_nor_cookie_for_a_visitor_whose_session_stays_empty(
        app: Flask, client: FlaskClient) -> None:
    for url in ("/healthz", "/static/css/app.css", "/"):
        with client.get(url) as response:
            assert "Set-Cookie" not in response.headers, url
    assert _rows(app) == []


def test_dead_sessions_are_purged_when_new_ones_open(app: Flask, client: FlaskClient,
                                                     auth: AuthActions, clock: FixedClock,
                                                     world: World) -> None:
    for _ in range(3):
        AuthActions(app.test_client()).login()
    clock.advance(timedelta(hours=13))
    auth.login()
    with app.extensions["aiguillage"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 1


def test_a_database_out_of_reach_gives_the_unavailable_page_not_a_crash(
        app: Flask, client: FlaskClient, auth: AuthActions, world: World,
        monkeypatch: pytest.MonkeyPatch) -> None:
    auth.login()

    def unreachable(*_: object, **__: object) -> None:
        raise Unavailable(code="svc.unavailable")

    monkeypatch.setattr(sessions, "find", unreachable)
    page = client.get("/taches/")
    assert page.status_code == 503
    monkeypatch.undo()
    assert _signed_in(client)  # nothing was lost meanwhile


def test_a_session_not_saved_for_a_database_out_of_reach_is_a_warning_not_an_error(
        app: Flask, client: FlaskClient, auth: AuthActions, world: World,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # a PostgreSQL restart drops connections: expected, said in one line, no traceback
    def unreachable(*_: object, **__: object) -> None:
        raise Unavailable(code="svc.unavailable")

    monkeypatch.setattr(sessions, "open_session", unreachable)
    with caplog.at_level("WARNING"):
        auth.login()
    saved = [r for r in caplog.records if r.getMessage().startswith("session not saved")]
    assert [(r.levelname, r.getMessage(), r.exc_info) for r in saved] == [
        ("WARNING", "session not saved: svc.unavailable", None)]
