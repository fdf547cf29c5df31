"""The statistics page in a real browser (issue #16 item 1): the demo's coordinator opens
« Statistiques » from the navigation, reads each indicator as a chart with its table, asks
for a period written in French, is told in French when it ends before it starts, and
downloads the CSV; a social worker has no link and is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.services import demo
from tests.e2e.conftest import PASSWORD, ROOT, LiveApp, sign_in


def _demo(live: LiveApp) -> None:
    built = live.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        demo.load(session, built.clock, ROOT, PASSWORD, cases_per_circuit=6)


def test_the_statistics_page(live_app: LiveApp, browser: Any, check_page: Any) -> None:
    _demo(live_app)
    accounts = demo.DemoAccounts()
    page = browser.new_page()
    sign_in(page, live_app.url, accounts.coordinator)
    page.get_by_role("link", name="Statistiques").click()
    check_page(page, "statistiques")
    sections = page.locator("section.stat")
    assert sections.count() == 12
    assert page.locator("section.stat svg[role=img]").count() >= 8
    assert "< 5" in page.inner_text("main")
    page.get_by_label("Du", exact=True).fill("31/12/2026")
    page.get_by_label("Au", exact=True).fill("01/01/2026")
    page.get_by_role("button", name="Afficher").click()
    check_page(page, "statistiques-periode-inversee")
    assert "se termine le 01/01/2026 avant de commencer le 31/12/2026" in \
        page.get_by_role("alert").inner_text()
    page.get_by_label("Du", exact=True).fill("01/01/2020")
    page.get_by_label("Au", exact=True).fill("")
    page.get_by_role("button", name="Afficher").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger les chiffres (CSV)").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert text.startswith("Période;01/01/2020;")
    assert "Demandes par canal d'entrée" in text
    other = browser.new_page()
    sign_in(other, live_app.url, accounts.social_worker)
    assert other.get_by_role("link", name="Statistiques").count() == 0
    answer = other.goto(f"{live_app.url}/statistiques/")
    assert answer is not None and answer.status == 403
