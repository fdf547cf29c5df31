"""The fixed Python cost of a page: what every request does once, not once per use
(issue #17, item 5; the figures are in docs/performance.md)."""

from __future__ import annotations

from html import unescape
from typing import Any

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from flask_babel import Domain, force_locale, lazy_gettext
from sqlalchemy import event

from engine.errors import NotFound
from engine.services.access import load_actor
from tests.integration.factories import World
from tests.web.conftest import AuthActions


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every time Flask-Babel looks the translations up (templates, views, lazy strings)."""
    seen: list[object] = []
    original = Domain.get_translations

    def counted(self: Domain) -> Any:
        found = original(self)
        seen.append(found)
        return found

    monkeypatch.setattr(Domain, "get_translations", counted)
    return seen


def test_a_page_looks_its_translations_up_once(client: FlaskClient, auth: AuthActions,
                                               world: World, lookups: list[object]) -> None:
    auth.login()
    lookups.clear()
    page = unescape(client.get("/taches/").text)
    assert "Mes tâches" in page and "Se déconnecter" in page and "Aller au contenu" in page
    assert len(lookups) == 1  # about 60 calls of _() on this page, and lazy strings: one lookup
    client.post("/langue", data={"lang": "en", "next": "/taches/"})
    lookups.clear()
    english = unescape(client.get("/taches/").text)
    assert "My tasks" in english and "Mes tâches" not in english
    assert len(lookups) == 1


def test_a_forced_language_is_followed_within_the_request(app: Flask,
                                                          lookups: list[object]) -> None:
    with app.test_request_context("/"):
        assert render_template_string("{{ _('Mes tâches') }}") == "Mes tâches"
        with force_locale("en"):
            assert render_template_string("{{ _('Mes tâches') }}") == "My tasks"
        assert render_template_string("{{ _('Mes tâches') }}") == "Mes tâches"
        label = lazy_gettext("Mes tâches")
        assert str(label) == "Mes tâches"
        with force_locale("en"):
            assert str(label) == "My tasks"
    assert len(lookups) == 4  # each change of language looked up anew


def test_the_signed_in_actor_is_one_statement(app: Flask, world: World) -> None:
    seen: list[str] = []

    def note(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            seen.append(statement)

    engine = app.extensions["aiguillage"]
    event.listen(engine.database, "before_cursor_execute", note)
    try:
        with engine.sessions() as session:
            for who in (world.coordinator, world.operator, world.outsider):
                seen.clear()
                assert load_actor(session, who.user_id) == who  # the outsider: no membership
                assert len(seen) == 1
            with pytest.raises(NotFound):
                load_actor(session, 10**9)
    finally:
        event.remove(engine.database, "before_cursor_execute", note)
