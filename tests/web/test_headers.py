"""Headers, the run command's cookie flag and the secret key file (issue #10, finding 14),
and the client's address and scheme behind a trusted reverse proxy (finding 11)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.clock import FixedClock
from engine.persistence.models import SignInThrottle
from tests.integration.factories import PASSWORD, World, make_world
from tests.web.conftest import AuthActions
from tests.web.helpers import open_case
from webapp import config, create_app
from webapp.cli import run_settings


def _app(template_db: Path, tmp_path: Path, clock: FixedClock, **settings: Any) -> Flask:
    db = tmp_path / "headers.sqlite"
    shutil.copy(template_db, db)
    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test",
                       "DATABASE_URL": f"sqlite:///{db}", "SESSION_COOKIE_SECURE": False,
                       "CLOCK": clock, **settings})


def _sessions(app: Flask) -> Any:
    return app.extensions["aiguillage"].sessions()


def test_behind_a_trusted_proxy_the_clients_address_and_scheme_count(
        template_db: Path, tmp_path: Path, clock: FixedClock) -> None:
    app = _app(template_db, tmp_path, clock, TRUSTED_PROXIES=1)
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    page = app.test_client().post("/connexion", headers=forwarded,
                                  data={"email": "x@demo.test", "password": "y"})
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    with _sessions(app) as session:
        assert session.get(SignInThrottle, "adresse:203.0.113.9") is not None
    (tmp_path / "b").mkdir()
    direct = _app(template_db, tmp_path / "b", clock)  # no proxy trusted: headers ignored
    page = direct.test_client().post("/connexion", headers=forwarded,
                                     data={"email": "x@demo.test", "password": "y"})
    assert "Strict-Transport-Security" not in page.headers
    with _sessions(direct) as session:
        assert session.get(SignInThrottle, "adresse:203.0.113.9") is None
        assert session.get(SignInThrottle, "adresse:127.0.0.1") is not None


def test_hsts_only_over_https(client: FlaskClient) -> None:
    secure = client.get("/connexion", base_url="https://aiguillage.test")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in client.get("/connexion").headers


def test_case_pages_and_exports_are_never_cached(app: Flask, client: FlaskClient,
                                                 auth: AuthActions, clock: FixedClock,
                                                 world: World) -> None:
    case_id, _task = open_case(app, clock, world)
    auth.login()
    case_page = client.get(f"/dossiers/{case_id}")
    assert case_page.status_code == 200
    assert case_page.headers["Cache-Control"] == "no-store"
    diagram = client.get(f"/dossiers/{case_id}/diagramme")
    assert diagram.headers["Cache-Control"] == "no-store"
    with client.get("/static/css/app.css") as static:
        assert "no-store" not in static.headers.get("Cache-Control", "")


def test_exports_are_never_cached(template_db: Path, tmp_path: Path, clock: FixedClock) -> None:
    app = _app(template_db, tmp_path, clock)
    with _sessions(app) as session:
        world = make_world(session, clock)
        from engine.services import users
        from engine.services.access import SYSTEM
        admin = users.create_user(session, clock, SYSTEM, "admin@demo.test", "Admin", PASSWORD)
        users.add_membership(session, clock, SYSTEM, admin.id, world.territory.id, "admin")
    client = app.test_client()
    AuthActions(client).login("admin@demo.test")
    for url in ("/supervision/export.csv", "/supervision/journal.csv"):
        with client.get(url) as export:
            assert export.status_code == 200, url
            assert export.headers["Cache-Control"] == "no-store", url


@pytest.mark.parametrize(("host", "secure_kept"), [
    ("127.0.0.1", False), ("localhost", False), ("::1", False), ("127.0.0.2", False),
    ("0.0.0.0", True), ("::", True), ("192.0.2.10", True), ("aiguillage.example", True),
])
def test_run_keeps_the_secure_cookie_unless_on_loopback_only(
        host: str, secure_kept: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIGUILLAGE_SESSION_COOKIE_SECURE", raising=False)
    settings = run_settings(host)
    assert settings["EMBEDDED_SCHEDULER"] is True
    assert ("SESSION_COOKIE_SECURE" not in settings) is secure_kept


def test_the_secret_key_file_is_created_private_never_chmod_ed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("chmod after writing leaves the key readable for a moment")

    monkeypatch.setattr(os, "chmod", refuse)
    monkeypatch.setattr(Path, "chmod", refuse)
    old = os.umask(0)
    try:
        key = config._instance_secret(tmp_path)
    finally:
        os.umask(old)
    path = tmp_path / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 64 and config._instance_secret(tmp_path) == key  # created once
