"""A timer counted from a date of the case, authored in the modeler's side panel (issue #15,
item 6): « Déclenchement du minuteur : selon une date du dossier », a number, a unit,
avant / après and the date among the circuit's form date fields; written as timerRelative with
an empty timeDate, shown back after a reload (``tests/e2e/last-modeler-timer-date.png``)."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import LiveApp
from tests.e2e.test_modeler_panel import SHOTS, _open_modeler, _panel, _xml

TIMER = "C4_B_T03_relance"  # « Relance à 5 jours » on the first contact


def test_a_timer_counted_from_a_date_of_the_case(live_app: LiveApp, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _open_modeler(live_app, page, "Prévention des expulsions")
    page.get_by_label("Élément").select_option(TIMER)
    kinds = page.locator("#mp-minuterie-type option").all_inner_texts()
    assert "Selon une date du dossier" in kinds
    page.get_by_label("Déclenchement du minuteur").select_option("relative")
    dates = page.locator("#mp-minuterie-rel-date option").all_inner_texts()
    assert "Date d'audience (date_audience)" in dates
    number = page.get_by_label("Délai par rapport à la date")
    number.fill("sept")
    number.press("Tab")
    assert page.locator("#mp-minuterie-rel-date-nombre-erreur").inner_text() == \
        "Minuteur « Relance à 5 jours » : indiquez un nombre de jours"
    page.get_by_label("Avant ou après la date").select_option("before")
    page.get_by_label("Date du dossier").select_option("date_audience")
    number.fill("7")
    number.press("Tab")
    assert not page.locator("#mp-minuterie-rel-date-nombre-erreur").is_visible()
    text = _panel(page, TIMER, "timer-date")
    for jargon in ("timerRelative", "-7D", "timeDate"):
        assert jargon not in text
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    page.wait_for_selector("#modeleur-etat:has-text('Brouillon enregistré')")
    xml = _xml(page, "boundaryEvent", TIMER)
    assert '<spiffworkflow:property name="timerRelative" value="-7D:date_audience"' in xml
    assert "<bpmn:timeDate" in xml and "timeDuration" not in xml

    page.reload()
    page.wait_for_selector("#modeleur[data-ready='true']", timeout=20000)
    page.get_by_label("Élément").select_option(TIMER)
    assert page.get_by_label("Déclenchement du minuteur").input_value() == "relative"
    assert page.get_by_label("Délai par rapport à la date").input_value() == "7"
    assert page.locator("#mp-minuterie-rel-sens option:checked").inner_text() == "avant"
    assert page.get_by_label("Date du dossier").input_value() == "date_audience"
    # the check accepts it; it warns that a hearing date in the past would fire it at once
    lines = [line for line in page.locator("#mp-problemes").inner_text().splitlines()
             if "Minuteur « Relance à 5 jours »" in line]
    assert lines and all(line.startswith("Avertissement") for line in lines), lines
    assert "compté 7 jours avant « Date d'audience »" in lines[0]

    # back to « after a delay »: the date rule is dropped
    page.get_by_label("Déclenchement du minuteur").select_option("duration")
    page.get_by_label("Délai du minuteur").fill("5")
    page.get_by_label("Délai du minuteur").press("Tab")
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    page.wait_for_selector("#modeleur-etat:has-text('Brouillon enregistré (révision 3)')")
    xml = _xml(page, "boundaryEvent", TIMER)
    assert "timerRelative" not in xml and '"P5D"</bpmn:timeDuration>' in xml
    page.screenshot(path=str(SHOTS / "last-modeler-timer-date-page.png"), full_page=True)
    assert errors == []
