"""The administrators' integration pages in a real browser (issue #18): an API key created,
used by a client against the served app, renewed and revoked; an organisation subscribed to
webhooks, an event delivered to a local receiver that checks the signature, and the delivery
log saying « Livré (200) »."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import requests
from playwright.sync_api import Error as PlaywrightError

from engine.scheduler import run_once
from engine.webhook_sender import HttpSender
from tests.e2e.conftest import ISO_INSTANT, ROOT, LiveApp, coordination_case, sign_in
from tests.integration import webhook_receiver
from tests.integration.webhook_receiver import receiver

PLATFORM = "Plateforme Logement d'abord de Démoville"
FRENCH_DATE = r"\d{1,2}\s[a-zéû]+\.?\s\d{4}\sà\s\d{1,2}\sh\s\d{2}"  # « 7 déc. 2026 à 14 h 05 »


def documented_verifier() -> Callable[..., bool]:
    """The ``verify`` function of docs/webhooks.md, run as a receiver would copy it."""
    text = (ROOT / "docs" / "webhooks.md").read_text()
    [code] = re.findall(r"## Verifying a delivery.*?```python\n(.*?)```", text, re.S)
    scope: dict[str, Any] = {}
    exec(compile(code, "docs/webhooks.md", "exec"), scope)  # noqa: S102 - our own docs
    verify: Callable[..., bool] = scope["verify"]
    return verify


def _tasks(live: LiveApp, token: str) -> int:
    """The status of ``GET /api/v1/tasks`` with ``token``, as the organisation's software."""
    return requests.get(f"{live.url}/api/v1/tasks", timeout=10,
                        headers={"Authorization": f"Bearer {token}"}).status_code


def _row(page: Any, state: str) -> Any:
    """The key list's one row whose state starts with ``state``."""
    rows = page.locator("tbody tr").filter(has=page.locator(
        "td:nth-child(8)", has_text=re.compile(rf"^\s*{state}")))
    assert rows.count() == 1, page.inner_text("main")
    return rows


def test_an_administrator_creates_uses_renews_and_revokes_an_api_key(
        live_app: LiveApp, browser: Any, check_page: Any) -> None:
    coordination_case(live_app, 0)  # the demo territory, no case needed
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_app.url, "admin@demo.test")
    page.get_by_role("link", name="Supervision").first.click()
    page.get_by_role("link", name="Clés d’API").click()
    assert "Aucune clé d’API pour le moment." in page.inner_text("main")
    check_page(page, "cles-vide")

    page.get_by_role("link", name="Créer une clé").click()
    page.get_by_role("button", name="Créer la clé").click()  # nothing filled in
    main = page.inner_text("main")
    assert "La clé n’a pas été créée" in main and "Cochez au moins un rôle." in main
    check_page(page, "cle-erreurs")
    page.get_by_label("Nom du logiciel").fill("Logiciel SI-SIAO")
    page.get_by_label("Organisation").select_option(label=PLATFORM)
    page.get_by_label("Coordination de la plateforme").check()
    page.get_by_label("SIAO", exact=True).check()
    page.get_by_label("lecture et écriture").check()
    circuits = page.get_by_role("group", name=re.compile("^Circuits"))
    first_circuit = circuits.get_by_role("checkbox").first
    circuit_title = circuits.locator("label").first.inner_text().strip()
    first_circuit.check()
    page.get_by_role("button", name="Créer la clé").click()
    assert "Copiez cette clé maintenant : elle ne sera plus affichée." in page.inner_text("main")
    check_page(page, "cle-affichee")
    token = page.locator("#cle").inner_text().strip()  # what the administrator copies
    assert re.fullmatch(r"agl_\w+_\S+", token), token
    assert _tasks(live_app, token) == 200

    page.get_by_role("link", name="J’ai copié la clé : retour à la liste").click()
    main = page.inner_text("main")
    assert token not in page.content()  # shown once
    row = _row(page, "active")
    text = row.inner_text()
    assert "Logiciel SI-SIAO" in text and PLATFORM in text
    assert "Coordination de la plateforme" in text and "SIAO" in text
    assert "lecture et écriture" in text and circuit_title in text
    assert re.search(r"à l’instant|il y a \d+ min", text), text  # used just now
    check_page(page, "cles-une-active")
    with pytest.raises(PlaywrightError, match="ERR_CACHE_MISS"):
        page.go_back()  # the token page (no-store) is not kept by the browser's cache
    page.wait_for_url(re.compile("^chrome-error:"))  # « Confirmer le nouvel envoi du formulaire »
    page.goto(f"{live_app.url}/supervision/cles-api/")

    _row(page, "active").get_by_role("link", name="Renouveler").click()
    check_page(page, "cle-renouveler")
    assert page.get_by_label("tout de suite").is_checked()
    page.get_by_role("button", name="Renouveler la clé").click()
    assert "Nouvelle clé pour « Logiciel SI-SIAO »" in page.inner_text("main")
    check_page(page, "cle-renouvelee")
    renewed = page.locator("#cle").inner_text().strip()
    assert renewed != token
    assert _tasks(live_app, token) == 401  # the old one stops at once
    assert _tasks(live_app, renewed) == 200

    page.get_by_role("link", name="J’ai copié la clé : retour à la liste").click()
    _row(page, "active").get_by_role("link", name="Révoquer").click()
    assert "Cette action est définitive." in page.inner_text("main")
    check_page(page, "cle-revoquer")
    page.get_by_role("button", name="Révoquer la clé").click()
    main = page.inner_text("main")
    assert "Clé « Logiciel SI-SIAO » révoquée : elle ne fonctionne plus." in main
    assert _tasks(live_app, renewed) == 401
    states = [r.locator("td:nth-child(8)").inner_text().strip()
              for r in page.locator("tbody tr").all()]
    # the new key revoked, the old one replaced by it (at once): which replaced which shows
    assert len(states) == 2 and re.fullmatch(f"révoquée le {FRENCH_DATE}", states[0]) \
        and re.fullmatch(f"remplacée le {FRENCH_DATE} par la clé agl_[0-9a-f]{{12}}",
                         states[1]), states
    assert not ISO_INSTANT.search(main)
    assert "Renouveler" not in page.locator("tbody").inner_text()  # nothing left to act on
    check_page(page, "cles-revoquees")
    assert not errors, errors


def test_an_administrator_subscribes_an_organisation_and_sees_the_delivery(
        live_app: LiveApp, browser: Any, check_page: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, reference = coordination_case(live_app, 0)  # the platform is party to the case
    monkeypatch.setenv("AIGUILLAGE_WEBHOOKS_ALLOW_PRIVATE", "1")  # the receiver is local
    monkeypatch.setattr(webhook_receiver, "verify", documented_verifier())
    built = live_app.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    with receiver("") as (url, got):
        sign_in(page, live_app.url, "admin@demo.test")
        page.get_by_role("link", name="Supervision").first.click()
        page.get_by_role("link", name="Notifications web").click()
        assert "Aucun abonnement pour le moment." in page.inner_text("main")
        check_page(page, "webhooks-vide")
        page.get_by_role("combobox", name="Organisation").select_option(label=PLATFORM)
        page.get_by_label("Adresse de réception").fill(url)
        page.get_by_label("Dossier clos").check()
        page.get_by_role("button", name="Créer l’abonnement").click()
        main = page.inner_text("main")
        assert f"Abonnement créé pour « {PLATFORM} »" in main
        check_page(page, "webhooks-abonnement-cree")
        got.secret = page.locator("#secret").inner_text().strip()  # copied to the receiver
        assert got.secret.startswith("whsec_")
        row = page.locator("tbody tr", has_text=url)
        assert "Dossier clos" in row.inner_text() and "Actif" in row.inner_text()

        # the coordination closes the case in its own browser
        other = browser.new_context().new_page()
        sign_in(other, live_app.url, "coord@demo.test")
        other.goto(f"{live_app.url}/dossiers/")
        other.get_by_role("link", name=reference).click()
        closing = other.get_by_role("region", name="Clôturer le dossier")
        closing.get_by_label("Motif").fill("Le ménage a trouvé un logement par ses propres moyens.")
        closing.get_by_role("button", name="Clôturer", exact=True).click()
        assert "Dossier clôturé." in other.inner_text("main")
        other.context.close()

        # a tick of the scheduler (the e2e server runs none), with the real HTTP sender
        tick = run_once(built.sessions, built.clock, "e2e", webhook_sender=HttpSender())
        assert tick.webhooks == 1
        [(delivery_id, body, signed)] = got.requests
        assert signed, "the documented verifier accepts the signature"
        assert reference.encode() in body and b"case.closed" in body

    page.reload()  # the secret is not shown again
    assert got.secret not in page.content()
    page.locator("tbody tr", has_text=url).get_by_role("link", name="Journal des envois").click()
    main = page.inner_text("main")
    assert f"Journal des envois — {PLATFORM}" in main
    line = page.locator("#journal ~ table tbody tr").first.inner_text()
    assert "Dossier clos" in line and "Livré (200)" in line and delivery_id in line, line
    assert re.search(FRENCH_DATE, line), line
    assert "Renvoyer maintenant" not in main
    check_page(page, "webhooks-journal")
    assert not errors, errors


def test_a_key_renewed_with_an_overlap_works_a_day_and_two_tabs_revoke_it_once(
        live_app: LiveApp, browser: Any, check_page: Any) -> None:
    coordination_case(live_app, 0)
    context = browser.new_context()  # one administrator, two tabs
    page = context.new_page()
    sign_in(page, live_app.url, "admin@demo.test")
    page.goto(f"{live_app.url}/supervision/cles-api/nouvelle")
    page.get_by_label("Nom du logiciel").fill("Logiciel du bailleur")
    page.get_by_label("Organisation").select_option(label="Démo Habitat (bailleur social)")
    page.get_by_label("Bailleur social").check()
    page.get_by_role("button", name="Créer la clé").click()
    token = page.locator("#cle").inner_text().strip()
    page.get_by_role("link", name="J’ai copié la clé : retour à la liste").click()
    assert "tous les circuits" in _row(page, "active").inner_text()
    assert "jamais" in _row(page, "active").inner_text()  # not used yet

    _row(page, "active").get_by_role("link", name="Renouveler").click()
    page.get_by_label("dans 24 heures (le temps d’installer la nouvelle)").check()
    page.get_by_role("button", name="Renouveler la clé").click()
    renewed = page.locator("#cle").inner_text().strip()
    assert _tasks(live_app, token) == 200 and _tasks(live_app, renewed) == 200  # both, a day
    page.get_by_role("link", name="J’ai copié la clé : retour à la liste").click()
    replaced = _row(page, "remplacée").locator("td:nth-child(8)").inner_text().strip()
    assert re.fullmatch(f"remplacée par la clé agl_[0-9a-f]{{12}}, fonctionne jusqu’au "
                        f"{FRENCH_DATE}", replaced), replaced
    assert "Renouveler" not in _row(page, "remplacée").inner_text()  # renewed already
    check_page(page, "cles-remplacee")

    # the old key's confirmation open in two tabs: the second one refuses, in words
    link = _row(page, "remplacée").get_by_role("link", name="Révoquer").get_attribute("href")
    other = context.new_page()
    other.goto(f"{live_app.url}{link}")
    page.goto(f"{live_app.url}{link}")
    page.get_by_role("button", name="Révoquer la clé").click()
    assert "révoquée : elle ne fonctionne plus." in page.inner_text("main")
    assert _tasks(live_app, token) == 401 and _tasks(live_app, renewed) == 200
    other.get_by_role("button", name="Révoquer la clé").click()
    flash = other.locator(".flash-error").inner_text().strip()
    assert flash == "Cette clé d'API est déjà révoquée.", flash
    check_page(other, "cle-deja-revoquee")
    assert _tasks(live_app, renewed) == 200  # the other key is left alone
