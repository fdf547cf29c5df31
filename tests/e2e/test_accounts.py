"""Accounts in a real browser: an administrator gives a social worker a temporary password,
shown once; the social worker signs in with it, must choose a new one before anything else,
then works with it; a cookie kept from before is worthless afterwards."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.conftest import PASSWORD, LiveApp, coordination_case, sign_in

NEW_PASSWORD = "un-nouveau-mot-de-passe-solide"


def _sign_in_with(page: Any, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()


def test_a_temporary_password_is_shown_once_then_changed_at_first_sign_in(
        live_app: LiveApp, browser: Any) -> None:
    coordination_case(live_app, 0)  # loads the demo territory and its accounts
    worker = browser.new_context()
    before = worker.new_page()
    sign_in(before, live_app.url, "ts@demo.test")
    assert "Mes tâches" in before.content()

    admin = browser.new_page()
    sign_in(admin, live_app.url, "admin@demo.test")
    admin.goto(f"{live_app.url}/supervision/utilisateurs")
    row = admin.locator("tr", has_text="ts@demo.test")
    row.get_by_role("button", name="Nouveau mot de passe").click()
    shown = admin.locator("code.secret").inner_text()
    assert re.fullmatch(r"\S{12,}", shown)
    admin.goto(f"{live_app.url}/supervision/utilisateurs")
    assert shown not in admin.content()  # once, never again

    before.goto(f"{live_app.url}/taches/")  # the session opened before the reset is over
    assert "Connexion" in before.content() and "Mes tâches" not in before.title()

    page = browser.new_context().new_page()
    _sign_in_with(page, live_app.url, "ts@demo.test", shown)
    assert "Votre mot de passe est provisoire" in page.content()
    page.goto(f"{live_app.url}/dossiers/")  # no other page until the password is changed
    assert "Votre mot de passe est provisoire" in page.content()
    page.get_by_label("Mot de passe actuel").fill(shown)
    page.get_by_label("Nouveau mot de passe (12 caractères au moins)").fill(NEW_PASSWORD)
    page.get_by_label("Nouveau mot de passe, une seconde fois").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Changer mon mot de passe").click()
    assert "Votre mot de passe a été changé" in page.content()
    page.goto(f"{live_app.url}/dossiers/")
    assert "Votre mot de passe est provisoire" not in page.content()

    again = browser.new_context().new_page()
    _sign_in_with(again, live_app.url, "ts@demo.test", PASSWORD)  # the old one is gone
    assert "Adresse e-mail ou mot de passe incorrect." in again.content()
