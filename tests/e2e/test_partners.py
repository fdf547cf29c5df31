"""Partners in a real browser (issue #12): the referrer opens a case, the platform orients the
household to operator A, A's worker gets the step and completes it, B's worker sees nothing
of it; the household withdraws its consent for the operator and A's next page of the case
shows only the minimal view (the reference and the steps, no name).

In the reference circuit C1 the orientation (« Analyser la demande et proposer une
orientation », C1_T04, form c1-orientation with ``service_oriente``, a directory service
whose organisation becomes the operator) is the coordination's step: the referrer opens the case and
files the request (C1_T01, with the household's consent), the coordination checks it and
orients; the operator's decision (C1_T05) sits in the operator lane, bound to that part.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select

from engine.mail import LogSender, Mail
from engine.persistence.models import Case, HumanTask, User
from engine.persistence.models.human_task import TaskStatus
from engine.services import notices, tasks
from engine.services.access import load_actor
from tests.e2e.conftest import ROOT, SCENARIO, LiveApp, coordination_case, sign_in

HOUSEHOLD = "Ménage Partenaires Fictif"
OPERATOR_A = "Association Relais (opérateur A)"


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


def _immediate(live: LiveApp, email: str) -> None:
    built = live.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        user_id = session.scalar(select(User.id).where(User.email == email))
        assert user_id is not None
        notices.set_notice_mode(session, built.clock, load_actor(session, user_id),
                                notices.IMMEDIATE)


def _notices(live: LiveApp) -> list[Mail]:
    """What the scheduler's notice pass sends now (new steps; no digest before 7:00)."""
    built = live.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    sender = LogSender()
    with built.sessions() as session:
        notices.scan_new_steps(session, built.clock)
        notices.deliver(session, built.clock, sender)
    return sender.sent


def _complete_as(live: LiveApp, email: str, task_id: int, data: dict[str, Any]) -> None:
    built = live.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        user_id = session.scalar(select(User.id).where(User.email == email))
        assert user_id is not None
        tasks.complete(session, built.clock, load_actor(session, user_id), task_id, data)


def test_operator_a_gets_the_step_b_sees_nothing_and_withdrawal_hides_the_name(
        live_app: LiveApp, browser: Any) -> None:
    coordination_case(live_app, 0)  # the demo territory, its organisations and accounts
    scenario = json.loads(SCENARIO.read_text())
    steps = {s["task"]: s["data"] for s in scenario["steps"] if "task" in s}

    # A's worker chooses, on Mon compte, an e-mail at each new step
    a = browser.new_page()
    sign_in(a, live_app.url, "operateur-a@demo.test")
    a.goto(f"{live_app.url}/compte/")
    a.get_by_label("à chaque étape").check()
    a.get_by_role("button", name="Enregistrer ce choix").click()
    assert "Votre choix est enregistré" in a.content()
    assert a.get_by_label("à chaque étape").is_checked()
    _immediate(live_app, "operateur-b@demo.test")  # B's worker too: B must get nothing

    # the referrer opens the case (saisine) in the browser
    referrer = browser.new_page()
    sign_in(referrer, live_app.url, "orienteur@demo.test")
    referrer.goto(f"{live_app.url}/dossiers/nouveau")
    referrer.get_by_label("Plateforme de coordination").check()
    referrer.get_by_role("button", name="Continuer").click()
    referrer.get_by_label("Nom du ménage").fill(HOUSEHOLD)
    referrer.get_by_label("Saisine par un partenaire").check()
    referrer.get_by_role("button", name="Créer le dossier").click()
    flash = referrer.locator(".flash-success").inner_text()
    reference = flash.split("Dossier ")[1].split(" créé")[0]
    # the request with the household's consent (a long form: through the service, as the
    # referrer), then the coordination's admissibility check
    _complete_as(live_app, "orienteur@demo.test", _open_step(live_app, reference, "C1_T01"),
                 steps["C1_T01"])
    _complete_as(live_app, "coord@demo.test", _open_step(live_app, reference, "C1_T02"),
                 steps["C1_T02"])

    # the coordination orients the household to operator A, in the browser
    coord = browser.new_page()
    sign_in(coord, live_app.url, "coord@demo.test")
    coord.goto(f"{live_app.url}/taches/{_open_step(live_app, reference, 'C1_T04')}")
    coord.get_by_label("Orienter vers un service de l'annuaire").check()
    coord.get_by_label(re.compile(r"^AVDL Relais — secteur nord · " + re.escape(OPERATOR_A))
                       ).check()
    coord.get_by_label("Argumentaire de l'orientation").fill("Appui à l'accès au logement.")
    coord.get_by_role("button", name="Terminer l'étape").click()
    assert "terminée pour le dossier" in coord.content(), coord.locator("main").inner_text()

    # one e-mail of the new step, to A's worker alone, without the household's name
    mails = [m for m in _notices(live_app) if "nouvelle étape" in m.subject]
    assert [m.to for m in mails] == [("operateur-a@demo.test",)]
    assert reference in mails[0].subject and "Statuer sur l'orientation proposée" in (
        mails[0].body)
    assert HOUSEHOLD not in mails[0].subject + mails[0].body

    # A's worker finds the operator's decision in Mes tâches, with the household's name
    a.goto(f"{live_app.url}/taches/")
    row = a.locator("tr", has_text=reference)
    assert "Statuer sur l'orientation proposée" in row.inner_text()
    assert HOUSEHOLD in row.inner_text()  # the consent covers the operator's identity
    step_url = f"{live_app.url}/taches/{_open_step(live_app, reference, 'C1_T05')}"
    case_url = f"{live_app.url}/dossiers/{_case_id(live_app, reference)}"

    # B's worker, while the step is open: not in Mes tâches, not in the list, and the case's
    # and the step's addresses answer 404
    b = browser.new_page()
    sign_in(b, live_app.url, "operateur-b@demo.test")
    assert "Mes tâches" in b.title() and reference not in b.locator("main").inner_text()
    b.goto(f"{live_app.url}/dossiers/")
    assert reference not in b.locator("main").inner_text()
    for url in (case_url, step_url):
        answer = b.goto(url)
        assert answer is not None and answer.status == 404, url
        assert HOUSEHOLD not in b.content() and reference not in b.content()

    # A's worker completes it and reads the case
    row.get_by_role("link", name="Statuer sur l'orientation proposée").click()
    a.get_by_label("Orientation acceptée").check()
    a.get_by_label("Date de démarrage prévue").fill("2026-12-07")
    a.get_by_label("Intervenant·e").fill("Lou Relais")
    a.get_by_role("button", name="Terminer l'étape").click()
    assert "terminée pour le dossier" in a.content(), a.locator("main").inner_text()
    a.goto(f"{live_app.url}/dossiers/")
    a.get_by_role("link", name=reference).click()
    assert a.url == case_url
    assert HOUSEHOLD in a.locator("main").inner_text()

    # the household withdraws its consent for the operator (the coordination records it)
    coord.goto(case_url)
    section = coord.get_by_role("region", name="Consentement de la personne")
    section.get_by_text("Retirer un consentement").click()  # the withdrawals are folded
    section.get_by_label("Motif du retrait pour « Opérateur d'accompagnement »").fill(
        "La personne retire son accord par téléphone.")
    section.get_by_role(
        "button", name="Retirer le consentement de « Opérateur d'accompagnement »").click()
    assert "La personne retire son accord" in coord.locator("main").inner_text()

    # A's next page of the case: the minimal view, the reference without the name
    answer = a.goto(case_url)
    assert answer is not None and answer.status == 200
    text = a.locator("main").inner_text()
    assert reference in text and HOUSEHOLD not in text
    a.screenshot(path=str(ROOT / "tests" / "e2e" / "last-partner-minimal.png"), full_page=True)
    a.goto(f"{live_app.url}/dossiers/")
    assert reference in a.locator("main").inner_text()  # still a party: listed, unnamed
    assert HOUSEHOLD not in a.locator("main").inner_text()
    answer = b.goto(case_url)
    assert answer is not None and answer.status == 404
