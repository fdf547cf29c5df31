"""Sign-in through an OpenID Connect provider in a real browser (issue #18, item 5): the local
provider of ``tests/oidc_provider.py`` stands in for ProConnect; a click on « Se connecter
avec ProConnect » lands on « Mes tâches », and signing out goes through the provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.persistence.db import make_engine
from engine.persistence.migrate import upgrade
from tests.e2e.conftest import LiveApp, coordination_case, serving
from tests.oidc_provider import Provider, app_settings, running


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running() as started:
        yield started


@pytest.fixture
def oidc_live_app(tmp_path: Path, provider: Provider) -> Iterator[LiveApp]:
    """The real app on a local port, signing in through the local provider."""
    db = tmp_path / "e2e.sqlite"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    engine.dispose()
    yield from serving(db, **app_settings(provider, OIDC_TRUST_EMAIL=True))


def test_a_social_worker_signs_in_with_proconnect_and_out_again(
        oidc_live_app: LiveApp, provider: Provider, browser: Any, check_page: Any) -> None:
    coordination_case(oidc_live_app, 0)  # loads the demo territory and its accounts
    provider.user["email"] = "TS@demo.test"
    page = browser.new_context().new_page()
    page.goto(f"{oidc_live_app.url}/connexion")
    check_page(page, "connexion-avec-mot-de-passe")
    page.get_by_role("link", name="Se connecter avec ProConnect").click()
    page.wait_for_url(f"{oidc_live_app.url}/taches/")
    assert "Mes tâches" in page.title()
    check_page(page, "mes-taches")

    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(f"{oidc_live_app.url}/connexion*")
    [logout] = provider.logouts
    assert logout["id_token_hint"] and logout["post_logout_redirect_uri"].endswith("/connexion")
    page.goto(f"{oidc_live_app.url}/taches/")
    assert "Mes tâches" not in page.title()

    oidc_live_app.app.config["PASSWORD_SIGNIN"] = False  # type: ignore[attr-defined]
    page.goto(f"{oidc_live_app.url}/connexion")
    assert page.get_by_label("Mot de passe").count() == 0
    check_page(page, "connexion-sans-mot-de-passe")

    # another person at the provider (another subject): no account of theirs here
    provider.user.update(sub="agent-456", email="personne@ailleurs.test")
    page.get_by_role("link", name="Se connecter avec ProConnect").click()
    assert "Aucun compte Aiguillage n'est ouvert pour personne@ailleurs.test" in page.content()
    check_page(page, "compte-inconnu")
