"""The social worker's journey in a real browser: sign in, claim a step, submit a form with
an error, correct it, complete it, see the case advance on the diagram."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import ROOT, LiveApp, coordination_case, sign_in


def test_social_worker_completes_a_step_and_sees_the_case_advance(live_app: LiveApp,
                                                                  browser: Any,
                                                                  check_page: Any) -> None:
    # the next step (C1_T05) goes to the operator the household is oriented to: C1_T04
    # orients it to operator A's service, whose social worker holds the operator role there
    _, reference = coordination_case(live_app, 3)  # C1_T01, C1_T02, C1_T04
    page = browser.new_page()
    sign_in(page, live_app.url, "operateur-a@demo.test")
    assert page.title() == "Mes tâches — Aiguillage"
    check_page(page, "mes-taches")
    row = page.locator("tr", has_text=reference)
    assert "Statuer sur l'orientation proposée" in row.inner_text()
    row.get_by_role("button", name="Prendre").click()
    assert "Vous avez pris en charge cette étape." in page.content()
    taken = page.locator("tr", has_text=reference)
    assert "row-mine" in (taken.get_attribute("class") or "")
    assert "Ne plus prendre en charge" in taken.inner_text()
    check_page(page, "etape-prise")

    page.locator("tr", has_text=reference).get_by_role(
        "link", name="Statuer sur l'orientation proposée").click()
    check_page(page, "page-etape")
    page.get_by_label("Intervenant·e").fill("M. Intervenant Test")
    page.get_by_role("button", name="Terminer l'étape").click()  # no decision chosen
    summary = page.locator(".error-summary")
    assert summary.is_visible()
    assert "Ce champ est obligatoire." in page.locator(".field-error").first.inner_text()
    assert page.get_by_label("Intervenant·e").input_value() == "M. Intervenant Test"
    check_page(page, "etape-erreurs")

    page.get_by_label("Orientation acceptée").check()
    page.get_by_label("Date de démarrage prévue").fill("2026-12-07")
    page.get_by_role("button", name="Terminer l'étape").click()
    assert "terminée pour le dossier" in page.content()
    check_page(page, "apres-etape")

    page.goto(f"{live_app.url}/dossiers/")
    check_page(page, "dossiers")
    page.get_by_role("link", name=reference).click()
    steps = page.get_by_role("region", name="Étapes en cours").inner_text()
    assert "Réaliser le premier rendez-vous" in steps
    page.wait_for_selector("#diagramme[data-ready='true']", timeout=15000)
    assert page.locator(".djs-element.step-done[data-element-id='C1_T05']").count() == 1
    assert page.locator(".djs-element.step-current[data-element-id='C1_T06']").count() == 1
    check_page(page, "page-dossier")
    page.goto(f"{live_app.url}/dossiers/nouveau")
    check_page(page, "nouvelle-saisine")
    page.goto(f"{live_app.url}/annuaire/")
    check_page(page, "annuaire")
    page.screenshot(path=str(ROOT / "tests" / "e2e" / "last-case-page.png"), full_page=True)
