"""``X-Aiguillage-Statements`` (``STATEMENT_COUNT_HEADER``): off by default, and when on, the
number of statements the request ran, as a listener on the same engine counts them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from engine.clock import FixedClock
from engine.persistence.db import make_engine
from engine.persistence.migrate import upgrade
from tests.integration.factories import PASSWORD, make_world
from webapp import create_app
from webapp.statements import HEADER


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("statements") / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _app(template: Path, tmp_path: Path, clock: FixedClock, **settings: Any) -> Flask:
    db = tmp_path / "web.sqlite"
    db.write_bytes(template.read_bytes())
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test",
                      "DATABASE_URL": f"sqlite:///{db}", "SESSION_COOKIE_SECURE": False,
                      "CLOCK": clock, **settings})
    with app.extensions["aiguillage"].sessions() as session:
        make_world(session, clock)
    return app


@pytest.fixture
def counting(template: Path, tmp_path: Path, clock: FixedClock) -> Iterator[Flask]:
    app = _app(template, tmp_path, clock, STATEMENT_COUNT_HEADER=True)
    yield app
    app.extensions["aiguillage"].database.dispose()


def test_off_by_default(template: Path, tmp_path: Path, clock: FixedClock) -> None:
    app = _app(template, tmp_path, clock)
    assert HEADER not in app.test_client().get("/connexion").headers
    app.extensions["aiguillage"].database.dispose()


def test_each_response_counts_its_own_statements(counting: Flask) -> None:
    client = counting.test_client()
    seen: list[str] = []

    def note(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            seen.append(statement)

    engine = counting.extensions["aiguillage"].database
    event.listen(engine, "before_cursor_execute", note)
    try:
        signed_in = client.post("/connexion", data={"email": "coord@demo.test",
                                                    "password": PASSWORD})
        assert signed_in.status_code == 302
        assert int(signed_in.headers[HEADER]) == len(seen) > 0  # the sign-in writes
        seen.clear()
        page = client.get("/taches/")
        assert page.status_code == 200
        assert int(page.headers[HEADER]) == len(seen) > 0
        seen.clear()
        again = client.get("/taches/")  # a new request starts from zero, not from the last
        assert int(again.headers[HEADER]) == len(seen) <= int(page.headers[HEADER])
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_a_page_with_no_statement_says_zero(counting: Flask) -> None:
    with counting.test_client().get("/static/css/app.css") as page:
        assert page.headers[HEADER] == "0"
