"""The eviction-prevention circuit in a real browser (issue #15, item 2): a référent records
a hearing date in « Enregistrer un acte de la procédure », « Préparer l'audience » appears in
Mes tâches due 7 days before the hearing, in French; the référent corrects the hearing date
and the due date follows."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from engine.persistence.db import transaction
from engine.persistence.models import Case, Circuit, Membership, User
from engine.services import cases, demo, parties, tasks
from engine.services.access import SYSTEM
from tests.e2e.conftest import PASSWORD, ROOT, LiveApp, sign_in

SCENARIO = ROOT / "tests" / "scenarios" / "reference" / "expulsions" / "relais-droit-commun.json"
REFERENT = "operateur-a@demo.test"  # Lou Relais: operator A's référente de parcours
RECORD, PREPARE = "Enregistrer un acte de la procédure", "Préparer l'audience"


def _eviction_case(live: LiveApp) -> str:
    """A C4 case supported by operator A, walked to the diagnosis (C4_T02 to C4_T05): the
    procedure branch is open. Its reference."""
    built = live.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    clock = built.clock
    scenario = json.loads(SCENARIO.read_text())
    with built.sessions() as session:
        territory_id = demo.load(session, clock, ROOT, PASSWORD, cases_per_circuit=0)
        circuit = session.scalar(select(Circuit).where(Circuit.territory_id == territory_id,
                                                       Circuit.key == "expulsions"))
        operator = session.scalar(select(Membership.organisation_id).join(
            User, User.id == Membership.user_id).where(
            User.email == REFERENT, Membership.territory_id == territory_id))
        summary = cases.start(session, clock, SYSTEM, circuit.id, scenario["data"])
        case = session.get(Case, summary.id)
        with transaction(session):
            parties.record(session, clock, SYSTEM, case, "operator", operator,
                           "Accompagnement confié à l'opérateur A")
        for step in scenario["steps"][:4]:  # C4_T02, C4_T03, C4_T04 (consent), C4_T05
            [task] = [t for t in tasks.my_tasks(session, clock, SYSTEM).items
                      if t.case_id == summary.id and t.bpmn_id == step["task"]]
            tasks.complete(session, clock, SYSTEM, task.id, step["data"])
        return summary.reference


def _fr(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _open_step(page: Any, reference: str, name: str) -> None:
    page.locator("tr", has_text=reference).filter(has_text=name).get_by_role(
        "link", name=name).click()


def test_a_hearing_recorded_then_corrected_moves_the_preparation_due_date(
        live_app: LiveApp, browser: Any, check_page: Any) -> None:
    reference = _eviction_case(live_app)
    today = date.today()
    summons, hearing, moved = (today - timedelta(days=10), today + timedelta(days=40),
                               today + timedelta(days=61))
    page = browser.new_page(viewport={"width": 1300, "height": 1000}, locale="fr-FR")
    sign_in(page, live_app.url, REFERENT)
    rows = page.locator("tr", has_text=reference)
    assert RECORD in " ".join(rows.all_inner_texts())
    assert PREPARE not in " ".join(rows.all_inner_texts())
    check_page(page, "mes-taches-avant")

    _open_step(page, reference, RECORD)
    check_page(page, "acte-formulaire")
    page.get_by_label("Un nouvel acte de la procédure").check()
    page.get_by_label("Assignation (audience fixée)").check()
    page.get_by_label("Date de l'assignation").fill(summons.isoformat())
    # a hearing before the summons: refused, in French, nothing recorded
    page.get_by_label("Date d'audience").fill((summons - timedelta(days=3)).isoformat())
    page.get_by_role("button", name="Terminer l'étape").click()
    error = page.locator(".field-error").first.inner_text()
    assert "ne peut pas être antérieure à la date de l'assignation" in error
    assert _fr(summons) in error
    check_page(page, "acte-audience-avant-assignation")
    page.get_by_label("Date d'audience").fill(hearing.isoformat())
    page.get_by_role("button", name="Terminer l'étape").click()
    assert "terminée pour le dossier" in page.content()

    page.goto(f"{live_app.url}/taches/")
    rows = page.locator("tr", has_text=reference)
    preparation = rows.filter(has_text=PREPARE)
    assert preparation.count() == 1
    assert _fr(hearing - timedelta(days=7)) in preparation.inner_text()
    assert RECORD in " ".join(rows.all_inner_texts())  # still available for the next act
    check_page(page, "mes-taches-audience")

    _open_step(page, reference, RECORD)
    page.get_by_label("La correction d'une date déjà enregistrée").check()
    # the form shows what was recorded: the act and its dates
    assert page.get_by_label("Assignation (audience fixée)").is_checked()
    assert page.get_by_label("Date de l'assignation").input_value() == summons.isoformat()
    assert page.get_by_label("Date d'audience").input_value() == hearing.isoformat()
    page.get_by_label("Date d'audience").fill(moved.isoformat())
    check_page(page, "acte-correction")
    page.get_by_role("button", name="Terminer l'étape").click()
    assert "terminée pour le dossier" in page.content()

    page.goto(f"{live_app.url}/taches/")
    preparation = page.locator("tr", has_text=reference).filter(has_text=PREPARE)
    assert preparation.count() == 1  # the correction moved it, it made no second one
    assert _fr(moved - timedelta(days=7)) in preparation.inner_text()
    assert _fr(hearing - timedelta(days=7)) not in preparation.inner_text()
    check_page(page, "mes-taches-corrigee")

    _open_step(page, reference, PREPARE)
    assert _fr(moved - timedelta(days=7)) in page.inner_text("main")
    check_page(page, "preparer-audience")

    page.goto(f"{live_app.url}/dossiers/")
    page.get_by_role("link", name=reference).click()
    steps = page.get_by_role("region", name="Étapes en cours").inner_text()
    assert PREPARE in steps and RECORD in steps
    page.wait_for_selector("#diagramme[data-ready='true']", timeout=15000)
    assert page.locator(".djs-element.step-current[data-element-id='C4_T12']").count() == 1
    check_page(page, "page-dossier")
