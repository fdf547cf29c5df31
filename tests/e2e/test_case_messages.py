"""An outside answer in a real browser (issue #18, item 4): a coordination case waits for the
SIAO's answer beside its orientation; the case page says so in French, since when, and the
coordination records the answer by hand through its form."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.persistence.models import Case
from tests.e2e.conftest import SHOTS, LiveApp, coordination_case, sign_in


def test_the_coordination_records_the_siao_answer(live_app: LiveApp, browser: Any,
                                                  check_page: Any) -> None:
    _, reference = coordination_case(live_app, 2)  # informed the SIAO, waits at C1_T04
    built = live_app.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        case_id = session.scalar(select(Case.id).where(Case.reference == reference))
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_app.url, "coord@demo.test")
    page.goto(f"{live_app.url}/dossiers/{case_id}")
    section = page.get_by_role("region", name="En attente d'une réponse extérieure")
    text = section.inner_text()
    assert "Réponse du SIAO — attendue depuis le " in text and "envoyée par : SIAO" in text
    section.scroll_into_view_if_needed()
    section.screenshot(path=str(SHOTS / "test_the_coordination_records_the_siao_answer"
                                / "00-section-reponses.png"))
    check_page(page, "dossier-en-attente")
    section.get_by_role("link", name="Enregistrer la réponse").click()
    check_page(page, "formulaire-reponse")
    page.get_by_role("button", name="Enregistrer la réponse").click()
    assert "Le formulaire contient 1 erreur" in page.inner_text("main")
    check_page(page, "formulaire-reponse-erreur")
    page.get_by_label("Proposition d'hébergement").check()
    page.get_by_label("Précisions du SIAO").fill("Place en CHRS à partir du 1er février.")
    page.get_by_role("button", name="Enregistrer la réponse").click()
    main = page.inner_text("main")
    assert "« Réponse du SIAO » enregistrée pour le dossier" in main
    assert "En attente d'une réponse extérieure" not in main
    assert "Réponse extérieure enregistrée : Réponse du SIAO" in main
    check_page(page, "dossier-reponse-enregistree")
    assert not errors, errors


def test_the_modeler_panel_shows_an_awaited_answer(live_app: LiveApp, browser: Any) -> None:
    """The CAF's answer in the modeler's panel: the message's name, its form and who sends
    it, chosen in plain words and saved as the spiff properties the check reads."""
    from tests.e2e.test_modeler_panel import _open_modeler, _panel, _xml
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _open_modeler(live_app, page, "Prévention des expulsions")
    text = _panel(page, "C4_R06c", "message")
    assert "Réponse extérieure attendue : Réponse de la CAF" in text
    assert "Message attendu : « reponse_caf »" in text
    assert page.get_by_label("Formulaire de la réponse").input_value() == "c4-reponse-caf.json"
    sent_by = page.get_by_label("Envoyée par (rôle)")
    assert sent_by.input_value() == "caf"
    assert sent_by.locator("option:checked").inner_text() == "CAF / MSA"
    sent_by.select_option("partenaire")
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    page.wait_for_selector("#modeleur-etat:has-text('Brouillon enregistré')")
    assert '<spiffworkflow:property name="from" value="partenaire"' in \
        _xml(page, "receiveTask", "C4_R06c")
    assert errors == []
