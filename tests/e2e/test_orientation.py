"""Orienting through the directory in a real browser (issue #13, « Done when »).

A referrer opens a case; the coordination orients the household to operator A's service,
picked from the directory with its free places shown; A refuses with a coded reason; the
referrer reads the reason on the case page; the coordination orients again, to operator B's
service; B accepts and a place is taken (the directory shows one place fewer). A second
household's orientation expires by the circuit's 30-day timer: its case was opened 31 days
ago, and the scheduler's tick (the app's clock) fires the timer.

The long request form (C1_T01) and the admissibility check (C1_T02) go through the services,
as the referrer and the coordination; every orientation step is done in the browser.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from engine.clock import FixedClock
from engine.persistence.models import Case, HumanTask, User
from engine.persistence.models.human_task import TaskStatus
from engine.scheduler import run_once
from engine.services import tasks
from engine.services.access import load_actor
from tests.e2e.conftest import ROOT, SCENARIO, LiveApp, coordination_case, sign_in

HOUSEHOLD = "Ménage Orientation Fictif"
RELAIS = "AVDL Relais — secteur nord · Association Relais (opérateur A)"
HORIZON = "AVDL Horizon — secteur sud · Association Horizon (opérateur B)"
SHOTS = ROOT / "tests" / "e2e"


def _open_step(live: LiveApp, reference: str, bpmn_id: str) -> int:
    built = live.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        found = session.scalar(select(HumanTask.id).join(Case, Case.id == HumanTask.case_id)
                               .where(Case.reference == reference, HumanTask.bpmn_id == bpmn_id,
                                      HumanTask.status == TaskStatus.OPEN))
    assert found is not None, f"{bpmn_id} is not open on {reference}"
    return found


def _case_id(live: LiveApp, reference: str) -> int:
    built = live.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        found = session.scalar(select(Case.id).where(Case.reference == reference))
    assert found is not None
    return found


def _complete_as(live: LiveApp, email: str, task_id: int, data: dict[str, Any]) -> None:
    built = live.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        user_id = session.scalar(select(User.id).where(User.email == email))
        assert user_id is not None
        tasks.complete(session, built.clock, load_actor(session, user_id), task_id, data)


def _orient(page: Any, url: str, service: str, places: str, argument: str) -> None:
    """The coordination's orientation step, in the browser: the service picked from the
    directory, its free places read in the choice."""
    page.goto(url)
    page.get_by_label("Orienter vers un service de l'annuaire").check()
    choice = page.get_by_label(re.compile("^" + re.escape(service)))
    assert places in page.locator(f"label[for='{choice.get_attribute('id')}']").inner_text()
    choice.check()
    page.get_by_label("Argumentaire de l'orientation").fill(argument)
    page.get_by_role("button", name="Terminer l'étape").click()
    assert "terminée pour le dossier" in page.content(), page.locator("main").inner_text()


def _places(page: Any, url: str, word: str) -> str:
    """The directory's list, searched for ``word``: the text of its first result."""
    page.goto(f"{url}/annuaire/?q={word}")
    return str(page.locator("main").inner_text())


def test_refused_then_reoriented_then_accepted_and_another_one_expires(
        live_app: LiveApp, browser: Any) -> None:
    coordination_case(live_app, 0)  # the demo territory, its directory and accounts
    scenario = json.loads(SCENARIO.read_text())
    steps = {s["task"]: s["data"] for s in scenario["steps"] if "task" in s}
    url = live_app.url

    # the referrer opens the case in the browser
    referrer = browser.new_page()
    sign_in(referrer, url, "orienteur@demo.test")
    referrer.goto(f"{url}/dossiers/nouveau")
    referrer.get_by_label("Plateforme de coordination").check()
    referrer.get_by_role("button", name="Continuer").click()
    referrer.get_by_label("Nom du ménage").fill(HOUSEHOLD)
    referrer.get_by_label("Saisine par un partenaire").check()
    referrer.get_by_label("Commune de résidence").fill("Démoville")
    referrer.get_by_role("button", name="Créer le dossier").click()
    reference = referrer.locator(".flash-success").inner_text().split("Dossier ")[1].split(
        " créé")[0]
    case_url = f"{url}/dossiers/{_case_id(live_app, reference)}"
    _complete_as(live_app, "orienteur@demo.test", _open_step(live_app, reference, "C1_T01"),
                 steps["C1_T01"])
    _complete_as(live_app, "coord@demo.test", _open_step(live_app, reference, "C1_T02"),
                 steps["C1_T02"])

    # the coordination orients to operator A's service, its places shown in the choice
    coord = browser.new_page()
    sign_in(coord, url, "coord@demo.test")
    _orient(coord, f"{url}/taches/{_open_step(live_app, reference, 'C1_T04')}", RELAIS,
            "3 places libres", "Appui à l'accès au logement, secteur nord.")

    # A's worker refuses with a coded reason, a message and what the household is told
    a = browser.new_page()
    sign_in(a, url, "operateur-a@demo.test")
    a.goto(f"{url}/taches/{_open_step(live_app, reference, 'C1_T05')}")
    a.get_by_label("Orientation refusée").check()
    a.get_by_role("button", name="Terminer l'étape").click()  # no reason: refused, kept
    assert a.locator(".error-summary").is_visible()
    assert "Orientation refusée" in a.locator("input:checked + label").first.inner_text()
    a.get_by_label("Hors du secteur d'intervention").check()
    a.get_by_label("Message à la structure qui oriente").fill(
        "Le ménage habite hors de notre secteur.")
    a.get_by_label("Ce qui sera dit à la personne").fill(
        "Ce service ne peut pas vous accompagner ; la plateforme cherche une autre solution.")
    a.get_by_role("button", name="Terminer l'étape").click()
    assert "terminée pour le dossier" in a.content(), a.locator("main").inner_text()

    # the referrer reads the reason and the message on the case page, and is asked to tell
    # the household what the operator proposes to say
    referrer.goto(case_url)
    section = referrer.get_by_role("region", name="Orientations").inner_text()
    assert "Refusée" in section and "Hors du secteur d'intervention" in section
    assert "Le ménage habite hors de notre secteur." in section
    assert "hors_secteur" not in section and "refusee" not in section
    referrer.goto(f"{url}/taches/{_open_step(live_app, reference, 'C1_T15')}")
    assert "la plateforme cherche une autre solution" in referrer.locator("main").inner_text()
    referrer.get_by_label("Oui").check()
    referrer.get_by_label("Date à laquelle elle a été informée").fill("2026-12-07")
    referrer.get_by_role("button", name="Terminer l'étape").click()
    assert "terminée pour le dossier" in referrer.content()

    # the coordination orients again, to operator B's service; B accepts; a place is taken
    assert "5 places disponibles sur 35" in _places(coord, url, "horizon")
    _orient(coord, f"{url}/taches/{_open_step(live_app, reference, 'C1_T04')}", HORIZON,
            "5 places libres", "Service du secteur sud avec des places libres.")
    b = browser.new_page()
    sign_in(b, url, "operateur-b@demo.test")
    b.goto(f"{url}/taches/{_open_step(live_app, reference, 'C1_T05')}")
    b.get_by_label("Orientation acceptée").check()
    b.get_by_label("Date de démarrage prévue").fill("2026-12-14")
    b.get_by_label("Intervenant·e").fill("Sam Horizon")
    b.get_by_role("button", name="Terminer l'étape").click()
    assert "terminée pour le dossier" in b.content(), b.locator("main").inner_text()
    assert "4 places disponibles sur 35" in _places(coord, url, "horizon")
    coord.goto(case_url)
    section = coord.get_by_role("region", name="Orientations").inner_text()
    assert "Acceptée" in section and "Refusée" in section
    assert "Une place du service est prise" in section
    facts = coord.get_by_role("region", name="Situation du ménage").inner_text()
    assert "Orientation acceptée" in facts and "Sam Horizon" in facts
    assert "Hors du secteur" not in facts  # the answer replaced the refusal's fields
    coord.screenshot(path=str(SHOTS / "last-orientations.png"), full_page=True)

    # a second household, oriented 31 days ago to A's service: the timer expires it
    built = live_app.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    past = FixedClock(built.clock.now() - timedelta(days=31))
    _, other = coordination_case(live_app, 3, clock=past)  # C1_T01, C1_T02, C1_T04 (A)
    run_once(built.sessions, built.clock, "e2e")  # the scheduler's tick
    coord.goto(f"{url}/dossiers/{_case_id(live_app, other)}")
    section = coord.get_by_role("region", name="Orientations").inner_text()
    assert "Expirée" in section
    coord.get_by_text("Historique de l’orientation").click()
    history = coord.get_by_role("region", name="Orientations").inner_text()
    assert "Orientation expirée" in history  # the circuit's event, in the log
    steps_now = coord.get_by_role("region", name="Étapes en cours").inner_text()
    assert "Analyser la demande et proposer une orientation" in steps_now
    assert "Statuer sur l'orientation proposée" not in steps_now


def test_the_modeler_shows_and_writes_the_effect_on_the_orientation(live_app: LiveApp,
                                                                     browser: Any) -> None:
    circuit_id, _ = coordination_case(live_app, 0)
    page = browser.new_page()
    sign_in(page, live_app.url, "coord@demo.test")
    page.goto(f"{live_app.url}/circuits/")
    page.get_by_role("region", name="Plateforme de coordination").get_by_role(
        "button", name="Modifier le circuit").click()
    page.wait_for_selector("#modeleur[data-ready='true']", timeout=20000)
    picker = page.get_by_label("Élément")
    effect = page.get_by_label("Effet sur l'orientation")
    picker.select_option("C1_N05E")  # « Orientation expirée »
    assert effect.locator("option:checked").inner_text() == "l'orientation en attente expire"
    picker.select_option("C1_N05")  # the reminder: no effect; give it one
    assert effect.locator("option:checked").inner_text() == "aucun"
    effect.select_option(label="l'orientation en attente expire")
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    page.wait_for_selector("#modeleur-etat:has-text('Brouillon enregistré')")

    from engine.persistence.models import CircuitDraft
    built = live_app.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        draft = session.scalar(select(CircuitDraft).where(CircuitDraft.circuit_id == circuit_id))
        xml = draft.bpmn_files[draft.main_file]  # type: ignore[union-attr]
    reminder = xml[xml.index('id="C1_N05"'):]
    reminder = reminder[:reminder.index("</bpmn:intermediateThrowEvent>")]
    assert 'name="orientation" value="expire"' in reminder
