"""Pages through the Flask test client (flaskr style: app, client, auth)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.clock import FixedClock
from engine.persistence.db import make_engine
from engine.persistence.migrate import upgrade
from tests.integration.factories import PASSWORD, World, make_world
from webapp import create_app


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("webdb") / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def app(template_db: Path, tmp_path: Path, clock: FixedClock) -> Iterator[Flask]:
    db = tmp_path / "web.sqlite"
    shutil.copy(template_db, db)
    application = create_app({
        "TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test",
        "DATABASE_URL": f"sqlite:///{db}", "SESSION_COOKIE_SECURE": False, "CLOCK": clock,
        "RATELIMIT_ENABLED": False,
    })
    yield application
    application.extensions["aiguillage"].database.dispose()


@pytest.fixture
def world(app: Flask, clock: FixedClock) -> World:
    with app.extensions["aiguillage"].sessions() as session:
        return make_world(session, clock)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, email: str = "coord@demo.test", password: str = PASSWORD):  # type: ignore[no-untyped-def]
        return self.client.post("/connexion", data={"email": email, "password": password})

    def logout(self):  # type: ignore[no-untyped-def]
        return self.client.post("/deconnexion")


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)
