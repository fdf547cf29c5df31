"""The coordinator's journey in a real browser: open the modeler, change a deadline in the
side panel (a wrong one refused there), see the check (an error marked on its step, deploy
disabled, then fixed), deploy,
see the diff, start a case on the new version while an older case stays on its version."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from engine.persistence.models import Case
from engine.services import cases
from engine.services.access import SYSTEM
from tests.e2e.conftest import SCENARIO, LiveApp, coordination_case, sign_in

STEP = "C1_T04"  # « Analyser la demande et proposer une orientation », dueIn P10D


def _set_deadline(page: Any, unit: str, value: str) -> None:
    page.get_by_label("Unité du délai").select_option(unit)
    page.get_by_label("Délai", exact=True).fill(value)
    page.get_by_label("Délai", exact=True).press("Tab")  # the change event checks and applies it


def test_coordinator_changes_a_deadline_and_deploys(live_app: LiveApp, browser: Any,
                                                    check_page: Any) -> None:
    circuit_id, older = coordination_case(live_app, 2)  # v1, waiting at C1_T04
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_app.url, "coord@demo.test")
    check_page(page, "mes-taches")
    page.get_by_role("link", name="Circuits").click()
    check_page(page, "circuits")
    section = page.get_by_role("region", name="Plateforme de coordination")
    section.get_by_role("button", name="Modifier le circuit").click()
    page.wait_for_selector("#modeleur[data-ready='true']", timeout=20000)
    assert page.locator(".bjs-powered-by").is_visible()  # the bpmn.io notice stays
    page.wait_for_selector("#mp-problemes p")
    check_page(page, "modeleur")

    page.get_by_label("Élément").select_option(STEP)  # keyboard-usable element picker
    assert page.get_by_label("Nom", exact=True).input_value() == \
        "Analyser la demande et proposer une orientation"
    assert page.get_by_label("Délai", exact=True).input_value() == "10"
    assert page.get_by_label("Unité du délai").input_value() == "days"
    _set_deadline(page, "working_days", "0")  # out of range: the panel refuses it
    assert page.locator("#mp-delai-erreur").inner_text() == (
        "Délai de « Analyser la demande et proposer une orientation » : indiquez au moins "
        "1 jour ouvré")
    instructions = page.get_by_label("Consignes pour la personne")
    written = instructions.input_value()
    instructions.fill("{% include 'autre' %}")  # a refused template: the check says so
    instructions.press("Tab")
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    page.wait_for_selector(f".djs-element.probleme-erreur[data-element-id='{STEP}']")
    assert "Consignes refusées" in page.locator("#mp-problemes").inner_text()
    assert page.get_by_role("button", name="Déployer une nouvelle version").is_disabled()

    page.get_by_label("Élément").select_option(STEP)
    page.get_by_label("Consignes pour la personne").fill(written)
    page.get_by_label("Consignes pour la personne").press("Tab")
    _set_deadline(page, "working_days", "8")
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    page.wait_for_selector("#mp-problemes .flash-success, #mp-problemes ul:not(:has(.problem-error))")
    assert page.locator(".probleme-erreur").count() == 0
    assert page.get_by_role("button", name="Déployer une nouvelle version").is_enabled()

    page.get_by_label("Note de version").fill("Analyse en 8 jours ouvrés")
    page.get_by_role("button", name="Déployer une nouvelle version").click()
    page.wait_for_selector("#diff-nouveau[data-ready='true']", timeout=20000)
    text = page.locator("main").inner_text()
    assert "Version 2 déployée" in text
    assert ("Étape « Analyser la demande et proposer une orientation » : délai 10 j → "
            "8 j ouvrés") in text
    assert f"1 dossier en cours de la version 1 est à cette étape : {older}" in text
    assert page.locator(f"#diff-nouveau .djs-element.diff-changed[data-element-id='{STEP}']"
                        ).count() == 1
    check_page(page, "version-deployee")

    built = live_app.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    scenario = json.loads(SCENARIO.read_text())
    with built.sessions() as session:
        newer = cases.start(session, built.clock, SYSTEM, circuit_id, scenario["data"])
        numbers = dict(session.execute(select(Case.reference, Case.circuit_version_id)).all())
    assert numbers[older] != numbers[newer.reference]
    page.goto(f"{live_app.url}/dossiers/{newer.id}")
    assert "(version 2)" in page.locator("main").inner_text()
    check_page(page, "page-dossier")
    page.goto(f"{live_app.url}/dossiers/")
    page.get_by_role("link", name=older).click()
    assert "(version 1)" in page.locator("main").inner_text()
    page.goto(f"{live_app.url}/dossiers/nouveau")
    check_page(page, "nouvelle-saisine")
    page.goto(f"{live_app.url}/annuaire/")
    check_page(page, "annuaire")
    assert errors == []


def test_side_panel_writes_timers_conditions_lanes_and_instructions(live_app: LiveApp,
                                                                    browser: Any) -> None:
    circuit_id, _ = coordination_case(live_app, 2)  # v1, waiting at C1_T04
    page = browser.new_page()
    sign_in(page, live_app.url, "coord@demo.test")
    page.goto(f"{live_app.url}/circuits/")
    page.get_by_role("region", name="Plateforme de coordination").get_by_role(
        "button", name="Modifier le circuit").click()
    page.wait_for_selector("#modeleur[data-ready='true']", timeout=20000)
    picker = page.get_by_label("Élément")
    picker.select_option("C1_B05E")  # expiry timer, "P30D"
    assert page.get_by_label("Délai du minuteur").input_value() == "30"
    assert page.get_by_label("Unité", exact=True).input_value() == "days"
    page.get_by_label("Délai du minuteur").fill("12")
    page.get_by_label("Délai du minuteur").press("Tab")
    picker.select_option("F_C1_G0_C1_T00")
    page.get_by_label("Condition pour prendre ce chemin").fill("canal in ['personne', 'proche']")
    page.get_by_label("Condition pour prendre ce chemin").press("Tab")
    picker.select_option("C1_T02")
    page.get_by_label("Consignes pour la personne").fill("Vérifiez la demande sous 48 h.")
    page.get_by_label("Consignes pour la personne").press("Tab")
    page.get_by_label("Couloir (rôle)").select_option(label="Partenaire orienteur")
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    page.wait_for_selector("#modeleur-etat:has-text('Brouillon enregistré')")

    from engine.persistence.models import CircuitDraft
    built = live_app.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        draft = session.scalar(select(CircuitDraft).where(CircuitDraft.circuit_id == circuit_id))
        xml = draft.bpmn_files[draft.main_file]  # type: ignore[union-attr]
    assert '"P12D"' in xml and "canal in ['personne', 'proche']" in xml
    assert "Vérifiez la demande sous 48 h." in xml
    lane = xml[xml.index('name="Partenaire orienteur"'):]
    assert "<bpmn:flowNodeRef>C1_T02</bpmn:flowNodeRef>" in lane[:lane.index("</bpmn:lane>")]
    assert "spiffworkflow:property" in xml  # untouched properties survive the round trip


def test_the_lane_panel_gives_a_lane_s_steps_to_a_part_of_the_case(live_app: LiveApp,
                                                                   browser: Any) -> None:
    circuit_id, _ = coordination_case(live_app, 0)
    page = browser.new_page()
    sign_in(page, live_app.url, "coord@demo.test")
    page.goto(f"{live_app.url}/circuits/")
    page.get_by_role("region", name="Plateforme de coordination").get_by_role(
        "button", name="Modifier le circuit").click()
    page.wait_for_selector("#modeleur[data-ready='true']", timeout=20000)
    picker = page.get_by_label("Élément")
    part = page.get_by_label("Partie du dossier qui reçoit ses étapes")
    picker.select_option("Lane_C1_operateur")  # bound to the operator in the reference
    assert part.locator("option:checked").inner_text() == "Opérateur d'accompagnement"
    part.select_option(label="Aucune (tout le territoire)")
    picker.select_option("Lane_C1_siao")
    part.select_option(label="SIAO")
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    page.wait_for_selector("#modeleur-etat:has-text('Brouillon enregistré')")

    from engine.persistence.models import CircuitDraft
    built = live_app.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        draft = session.scalar(select(CircuitDraft).where(CircuitDraft.circuit_id == circuit_id))
        xml = draft.bpmn_files[draft.main_file]  # type: ignore[union-attr]

    def lane(lane_id: str) -> str:
        start = xml.index(f'<bpmn:lane id="{lane_id}"')
        return xml[start:xml.index("</bpmn:lane>", start)]

    assert 'name="part" value="siao"' in lane("Lane_C1_siao")
    assert 'name="part"' not in lane("Lane_C1_operateur")
    assert 'name="part" value="referrer"' in lane("Lane_C1_orienteur")  # untouched
