"""The fixed Python cost of a page: what every request does once, not once per use
(issue #17, item 5; the figures are in docs/performance.md)."""

from __future__ import annotations

from html import unescape
from typing import Any

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from flask_babel import force_locale

from tests.integration.factories import World
from tests.web.conftest import AuthActions
from webapp import i18n


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every lookup of the translations by the templates' ``_()``."""
    seen: list[object] = []
    original = i18n.get_translations

    def counted() -> Any:
        found = original()
        seen.append(found)
        return found

    monkeypatch.setattr(i18n, "get_translations", counted)
    return seen


def test_a_page_looks_its_translations_up_once(client: FlaskClient, auth: AuthActions,
                                               world: World, lookups: list[object]) -> None:
    auth.login()
    lookups.clear()
    page = unescape(client.get("/taches/").text)
    assert "Mes tâches" in page and "Se déconnecter" in page and "Aller au contenu" in page
    assert len(lookups) == 1  # about 60 calls of _() on this page: one lookup
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
    assert len(lookups) == 3  # French, English, French again: each change looked up anew
