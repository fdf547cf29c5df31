"""Pages through the Flask test client (flaskr style: app, client, auth)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from engine.clock import FixedClock
from engine.persistence.db import Base, make_engine
from engine.persistence.migrate import upgrade
from tests.integration.conftest import BACKENDS, PG_DB, create_pg_database
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
    application = create_app(_config(f"sqlite:///{db}", clock))
    yield application
    application.extensions["aiguillage"].database.dispose()


def _config(url: str, clock: FixedClock) -> dict[str, object]:
    return {"TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test",
            "DATABASE_URL": url, "SESSION_COOKIE_SECURE": False, "CLOCK": clock}


@pytest.fixture(scope="session")
def pg_web_url() -> str:
    """A migrated PostgreSQL database for web tests (``<AIGUILLAGE_TEST_PG_DB>_web``: never
    the one the service tests of the same run use)."""
    if os.environ.get("AIGUILLAGE_SKIP_POSTGRES"):
        pytest.skip("PostgreSQL skipped (AIGUILLAGE_SKIP_POSTGRES)")
    url = create_pg_database(f"{PG_DB}_web")
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def pg_app(pg_web_url: str, clock: FixedClock) -> Iterator[Flask]:
    """The app on PostgreSQL, from empty tables (connections a previous test left open, such
    as an unclosed streamed response, are ended first: they would block the TRUNCATE)."""
    engine = make_engine(pg_web_url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    application = create_app(_config(pg_web_url, clock))
    yield application
    application.extensions["aiguillage"].database.dispose()


@pytest.fixture(params=BACKENDS)
def any_app(request: pytest.FixtureRequest) -> Flask:
    """The app on SQLite, then on PostgreSQL (unless AIGUILLAGE_SKIP_POSTGRES)."""
    fixture = "app" if request.param == "sqlite" else "pg_app"
    application: Flask = request.getfixturevalue(fixture)
    return application


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
