"""The modeler's side panel in plain words (issue #14, item 6): a deadline is a number and a
unit, shown back as written, stored as before (dueIn / dueInWorkingDays); a typo is refused in
the panel in the words of the server's check; elements are listed by French kind and name.
The panel is photographed with a step, a choice, a flow and a timer selected
(``tests/e2e/last-modeler-*.png``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from engine.core.messages import render
from engine.services import demo
from tests.e2e.conftest import PASSWORD, ROOT, LiveApp, sign_in

SHOTS = Path(__file__).parent
STEP = "C2_T01"  # « Accueillir et écouter », dueInWorkingDays 2
TIMER = "C2_B_T02_relance"  # « Relance à 10 jours », on « Évaluer les besoins avec la personne »


def _open_modeler(live: LiveApp, page: Any, circuit: str = "Plateforme de mutualisation") -> None:
    built = live.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        demo.load(session, built.clock, ROOT, PASSWORD, cases_per_circuit=0)
    sign_in(page, live.url, "coord@demo.test")
    page.get_by_role("link", name="Circuits").click()
    section = page.get_by_role("region", name=circuit)
    section.get_by_role("button", name="Modifier le circuit").click()
    page.wait_for_selector("#modeleur[data-ready='true']", timeout=20000)
    page.wait_for_selector("#mp-problemes p")


def _xml(page: Any, tag: str, element_id: str) -> str:
    """The element as saved, read back from the server."""
    url = page.url.split("/circuits/")[0] + page.locator("#modeleur").get_attribute("data-src")
    data = page.request.get(url).json()
    match = re.search(rf'<bpmn:{tag} id="{element_id}".*?</bpmn:{tag}>', data["xml"], re.S)
    assert match, element_id
    return match.group(0)


def _deadline(page: Any, number: str, unit: str) -> None:
    page.get_by_label("Unité du délai").select_option(unit)
    page.get_by_label("Délai", exact=True).fill(number)
    page.get_by_label("Délai", exact=True).press("Tab")  # the change event checks and applies


def _panel(page: Any, element: str, shot: str) -> str:
    page.get_by_label("Élément").select_option(element)
    panel = page.locator(".modeler-panel")
    panel.screenshot(path=str(SHOTS / f"last-modeler-{shot}.png"))
    return str(panel.inner_text())


def test_a_deadline_in_days_and_plain_names(live_app: LiveApp, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _open_modeler(live_app, page)

    # the element list: French kinds and names, no BPMN type, no id
    options = page.locator("#mp-element option").all_inner_texts()
    for expected in ("Étape : Accueillir et écouter", "Choix : Canal d'entrée ?",
                     "Début : Saisine de la plateforme", "Fin : Relais droit commun"):
        assert expected in options
    assert any(o.startswith("Minuteur : Relance à 10 jours (sur « ") for o in options)
    assert any(o.startswith("Flux : Oui (") for o in options)
    for raw in ("UserTask", "SequenceFlow", "ExclusiveGateway", "C2_", "Flow_"):
        assert not any(raw in o for o in options), raw

    # shown back as written: 2 jours ouvrés
    text = _panel(page, STEP, "step")
    for jargon in ("dueIn", "ISO", "camunda", "P15D"):
        assert jargon not in text
    number, unit = page.get_by_label("Délai", exact=True), page.get_by_label("Unité du délai")
    assert number.input_value() == "2" and unit.input_value() == "working_days"

    # a typo, zero, too long: refused in the panel, named by the step, nothing written
    for typed, reason in (("quinze", "indiquez un nombre de jours"),
                          ("0", "indiquez au moins 1 jour"),
                          ("4000", "3650 jours au plus (dix ans)")):
        _deadline(page, typed, "days")
        error = page.locator("#mp-delai-erreur")
        assert error.is_visible()
        assert error.inner_text() == f"Délai de « Accueillir et écouter » : {reason}"
        assert number.get_attribute("aria-invalid") == "true"
        assert number.input_value() == typed  # never upper-cased
    # the panel's words are the check's words (engine/core/messages.py)
    texts = json.loads(page.locator("#modeleur-textes").inner_text())
    for key, words in texts["reasons"].items():
        assert words == render(f"deadline.{key}", "fr", {}), key

    _deadline(page, "15", "working_days")
    assert not page.locator("#mp-delai-erreur").is_visible()
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    page.wait_for_selector("#modeleur-etat:has-text('Brouillon enregistré')")
    xml = _xml(page, "userTask", STEP)
    assert '<spiffworkflow:property name="dueInWorkingDays" value="15"' in xml
    assert 'name="dueIn"' not in xml

    page.reload()
    page.wait_for_selector("#modeleur[data-ready='true']", timeout=20000)
    page.get_by_label("Élément").select_option(STEP)
    assert page.get_by_label("Délai", exact=True).input_value() == "15"
    assert page.get_by_label("Unité du délai").input_value() == "working_days"
    assert page.get_by_label("Unité du délai").locator("option:checked").inner_text() == \
        "jours ouvrés"

    # a choice, a flow, a timer: plain labels; the timer's delay with the same widget
    text = _panel(page, "C2_G0", "choice")
    assert "Chemins de ce choix" in text
    flow = page.evaluate("""() => [...document.querySelectorAll('#mp-element option')]
        .find(o => o.textContent.startsWith('Flux : Oui (')).value""")
    text = _panel(page, flow, "flow")
    assert "Condition pour prendre ce chemin" in text
    text = _panel(page, TIMER, "timer")
    assert "ISO" not in text and "P10D" not in text
    timer = page.get_by_label("Délai du minuteur")
    assert timer.input_value() == "10"
    timer.fill("sept")
    timer.press("Tab")
    assert page.locator("#mp-minuterie-erreur").inner_text() == \
        "Minuteur « Relance à 10 jours » : indiquez un nombre de jours"
    timer.fill("7")
    timer.press("Tab")
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    page.wait_for_selector("#modeleur-etat:has-text('Brouillon enregistré (révision 3)')")
    assert '"P7D"</bpmn:timeDuration>' in _xml(page, "boundaryEvent", TIMER)
    page.screenshot(path=str(SHOTS / "last-modeler-page.png"), full_page=True)
    assert errors == []


def test_a_deadline_counted_from_a_date_of_the_case(live_app: LiveApp, browser: Any) -> None:
    """« 7 jours avant la date d'audience » on « Préparer l'audience » (issue #15, item 1):
    chosen in plain words, written as dueRelative with the ordinary delay as the fallback,
    shown back after a reload."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _open_modeler(live_app, page, "Prévention des expulsions")
    step = "C4_T12"  # « Préparer l'audience »
    page.get_by_label("Élément").select_option(step)
    page.get_by_label("Délai compté").select_option("arrival")  # whatever the circuit says
    page.get_by_label("Délai compté").select_option("date")
    dates = page.locator("#mp-delai-date option").all_inner_texts()
    assert "Date d'audience (date_audience)" in dates  # the shortest of its forms' labels
    assert "Date de signature / renouvellement du bail (date_bail)" in dates
    number = page.get_by_label("Délai par rapport à la date")
    number.fill("sept")
    number.press("Tab")
    assert page.locator("#mp-delai-date-nombre-erreur").inner_text() == \
        "Délai de « Préparer l'audience » : indiquez un nombre de jours"
    page.get_by_label("Avant ou après la date").select_option("before")
    page.get_by_label("Date du dossier").select_option("date_audience")
    number.fill("7")
    number.press("Tab")
    assert not page.locator("#mp-delai-date-nombre-erreur").is_visible()
    fallback = page.get_by_label("Sinon (date pas encore saisie), délai à partir de l'arrivée "
                                 "de l'étape")
    fallback.fill("30")
    fallback.press("Tab")
    text = _panel(page, step, "relative")
    for jargon in ("dueRelative", "-7D", "dueIn"):
        assert jargon not in text
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    page.wait_for_selector("#modeleur-etat:has-text('Brouillon enregistré')")
    xml = _xml(page, "userTask", step)
    assert '<spiffworkflow:property name="dueRelative" value="-7D:date_audience"' in xml
    assert '<spiffworkflow:property name="dueIn" value="P30D"' in xml

    page.reload()
    page.wait_for_selector("#modeleur[data-ready='true']", timeout=20000)
    page.get_by_label("Élément").select_option(step)
    assert page.get_by_label("Délai compté").input_value() == "date"
    assert page.get_by_label("Délai par rapport à la date").input_value() == "7"
    assert page.locator("#mp-delai-date-nombre-unite option:checked").inner_text() == "jours"
    assert page.locator("#mp-delai-sens option:checked").inner_text() == "avant"
    assert page.get_by_label("Date du dossier").input_value() == "date_audience"
    assert page.locator("#mp-delai").input_value() == "30"

    # back to « from the step's arrival »: the date is dropped, the ordinary delay stays
    page.get_by_label("Délai compté").select_option("arrival")
    assert page.get_by_label("Délai", exact=True).input_value() == "30"
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    page.wait_for_selector("#modeleur-etat:has-text('Brouillon enregistré (révision 3)')")
    xml = _xml(page, "userTask", step)
    assert "dueRelative" not in xml and '"P30D"' in xml
    assert errors == []
