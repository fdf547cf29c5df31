"""The territory's periods authored in the modeler's side panel (issue #15): « Pendant la
période « Trêve hivernale » : ne rien changer / décaler / suspendre » for a step's deadline and
a timer counted from a date of the case, written as the ``period`` property
(``shift:treve_hivernale``), shown back after a reload and accepted by the check
(``tests/e2e/last-modeler-period.png``,
``last-modeler-period-timer.png``)."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import LiveApp
from tests.e2e.test_modeler_panel import SHOTS, _open_modeler, _panel, _xml

STEP = "C4_T12"  # « Préparer l'audience », 7 jours avant la date d'audience, no period
SHIFTED = "C4_T22"  # « Préparer le relogement… », shift:treve_hivernale in the demo
TIMER = "C4_B_T22_rappel"  # « Rappel 45 jours après le commandement », shift:treve_hivernale
LEGEND = "Pendant la période « Trêve hivernale » (du 1er novembre au 31 mars)"


def _chosen(page: Any) -> str:
    return str(page.locator("#mp-periode-0 input:checked + label").inner_text())


def _save(page: Any, revision: int) -> None:
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    page.wait_for_selector(f"#modeleur-etat:has-text('Brouillon enregistré (révision "
                           f"{revision})')")


def _problems_of(page: Any, name: str) -> list[str]:
    """The check's errors on the element, and anything it says about a period rule (the
    demo's own warnings, a hearing date that may be past, left aside)."""
    return [line for line in page.locator("#mp-problemes").inner_text().splitlines()
            if name in line and (line.startswith("Erreur") or "Période" in line)]


def test_a_period_rule_chosen_saved_and_shown_back(live_app: LiveApp, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _open_modeler(live_app, page, "Prévention des expulsions")

    # the demo's rules are shown back, for a step and for a timer
    page.get_by_label("Élément").select_option(SHIFTED)
    assert page.locator("#mp-periode-0 legend").inner_text() == LEGEND
    assert _chosen(page) == "décaler l'échéance après la période"
    text = _panel(page, TIMER, "period-timer")
    assert page.get_by_label("Déclenchement du minuteur").input_value() == "relative"
    assert _chosen(page) == "décaler le déclenchement après la période"
    assert "treve_hivernale" not in text and "shift" not in text

    # a step without one: « ne rien changer », then « décaler »
    text = _panel(page, STEP, "period")
    assert _chosen(page) == "ne rien changer"
    for jargon in ("treve_hivernale", "shift", "suspend:", "period", "11-01"):
        assert jargon not in text, jargon
    page.get_by_label("décaler l'échéance après la période").check()
    _save(page, 2)
    xml = _xml(page, "userTask", STEP)
    assert '<spiffworkflow:property name="period" value="shift:treve_hivernale"' in xml
    assert '<spiffworkflow:property name="dueRelative" value="-7D:date_audience"' in xml
    assert not _problems_of(page, "Préparer l'audience")  # the check accepts it

    page.reload()
    page.wait_for_selector("#modeleur[data-ready='true']", timeout=20000)
    page.get_by_label("Élément").select_option(STEP)
    assert _chosen(page) == "décaler l'échéance après la période"
    page.get_by_label("suspendre le décompte du délai pendant la période").check()
    _save(page, 3)
    xml = _xml(page, "userTask", STEP)
    assert '<spiffworkflow:property name="period" value="suspend:treve_hivernale"' in xml
    assert not _problems_of(page, "Préparer l'audience")
    page.locator(".modeler-panel").screenshot(path=str(SHOTS / "last-modeler-period.png"))

    # « ne rien changer » removes the rule
    page.get_by_label("ne rien changer").check()
    _save(page, 4)
    assert 'name="period"' not in _xml(page, "userTask", STEP)

    # a timer leaving « selon une date du dossier » loses its period rule with it
    page.get_by_label("Élément").select_option(TIMER)
    page.get_by_label("Déclenchement du minuteur").select_option("duration")
    page.get_by_label("Délai du minuteur").fill("45")
    page.get_by_label("Délai du minuteur").press("Tab")
    _save(page, 5)
    xml = _xml(page, "boundaryEvent", TIMER)
    assert "period" not in xml and "timerRelative" not in xml
    assert not _problems_of(page, "Rappel 45 jours")
    assert errors == []
