"""The social worker's journey in a real browser: sign in, claim a step, submit a form with
an error, correct it, complete it, see the case advance on the diagram."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.persistence.models import Case, Organisation
from engine.services import parties
from engine.services.access import SYSTEM
from tests.e2e.conftest import ROOT, LiveApp, coordination_case, sign_in


def _orient_to_operator_a(live: LiveApp, reference: str) -> None:
    """Name operator A as the case's operator (the coordination's choice on the case page)."""
    built = live.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        case_id = session.scalar(select(Case.id).where(Case.reference == reference))
        operator_a = session.scalar(select(Organisation.id).where(
            Organisation.name.like("Association Relais%")))
        parties.set_party(session, built.clock, SYSTEM, case_id, "operator", operator_a,
                          "Orientation vers l'opérateur A")


def test_social_worker_completes_a_step_and_sees_the_case_advance(live_app: LiveApp,
                                                                  browser: Any) -> None:
    # the next step (C1_T05) goes to the operator the household is oriented to: operator A,
    # whose social worker holds the operator role there
    _, reference = coordination_case(live_app, 3)  # C1_T01, C1_T02, C1_T04
    _orient_to_operator_a(live_app, reference)
    page = browser.new_page()
    sign_in(page, live_app.url, "operateur-a@demo.test")
    assert page.title() == "Mes tâches — Aiguillage"
    row = page.locator("tr", has_text=reference)
    assert "Statuer sur l'orientation proposée" in row.inner_text()
    row.get_by_role("button", name="Prendre").click()
    assert "Vous avez pris en charge cette étape." in page.content()

    page.locator("tr", has_text=reference).get_by_role(
        "link", name="Statuer sur l'orientation proposée").click()
    page.get_by_label("Intervenant·e").fill("M. Intervenant Test")
    page.get_by_role("button", name="Terminer l'étape").click()  # no decision chosen
    summary = page.locator(".error-summary")
    assert summary.is_visible()
    assert "Ce champ est obligatoire." in page.locator(".field-error").first.inner_text()
    assert page.get_by_label("Intervenant·e").input_value() == "M. Intervenant Test"

    page.get_by_label("Orientation acceptée").check()
    page.get_by_label("Date de démarrage prévue").fill("2026-12-07")
    page.get_by_role("button", name="Terminer l'étape").click()
    assert "terminée pour le dossier" in page.content()

    page.goto(f"{live_app.url}/dossiers/")
    page.get_by_role("link", name=reference).click()
    steps = page.get_by_role("region", name="Étapes en cours").inner_text()
    assert "Réaliser le premier rendez-vous" in steps
    page.wait_for_selector("#diagramme[data-ready='true']", timeout=15000)
    assert page.locator(".djs-element.step-done[data-element-id='C1_T05']").count() == 1
    assert page.locator(".djs-element.step-current[data-element-id='C1_T06']").count() == 1
    page.screenshot(path=str(ROOT / "tests" / "e2e" / "last-case-page.png"), full_page=True)
