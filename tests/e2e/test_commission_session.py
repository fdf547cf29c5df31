"""A monthly commission session in a real browser (issue #15, item 3): the secretariat plans
the session, puts three situations on its agenda (two of the commission's own circuit, one
sent by the coordination circuit through its call activity), sends the files, a member of
the commission reads one file as far as the household's consent goes, the secretariat records
a decision for each situation and each case's own circuit resumes at its next step; once the
session is closed, the member reads nothing more."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from engine.persistence.models import Case, Circuit, HumanTask
from engine.services import cases, demo, tasks
from engine.services.access import SYSTEM
from tests.e2e.conftest import PASSWORD, ROOT, LiveApp, sign_in
from tests.e2e.test_modeler_panel import _open_modeler, _panel

SCENARIOS = ROOT / "tests" / "scenarios" / "reference"
SECRETARIAT = "coord@demo.test"  # Camille Coordination also holds the commission's secretariat
MEMBER = "membre@demo.test"
PLACE = "Salle de la commission"
STORIES = (("commission", "commission/e1-orientee-vers-dispositif.json"),
           ("commission", "commission/e4-situation-stabilisee.json"),
           ("coordination", "coordination/e6-transmise-en-commission.json"))


def _three_cases(live: LiveApp) -> list[str]:
    """Three cases waiting at « Inscrire à l'ordre du jour »: their references."""
    built = live.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    clock = built.clock
    references = []
    with built.sessions() as session:
        territory_id = demo.load(session, clock, ROOT, PASSWORD, cases_per_circuit=0)
        for key, file in STORIES:
            story = json.loads((SCENARIOS / file).read_text())
            circuit = session.scalar(select(Circuit.id).where(
                Circuit.territory_id == territory_id, Circuit.key == key))
            summary = cases.start(session, clock, SYSTEM, circuit, story["data"])
            for step in story["steps"]:
                if step["task"] == "C3_T03":
                    break
                task = session.scalar(select(HumanTask.id).where(
                    HumanTask.case_id == summary.id, HumanTask.bpmn_id == step["task"],
                    HumanTask.status == "open"))
                tasks.complete(session, clock, SYSTEM, task,
                               demo.with_demo_services(session, territory_id, step["data"]))
            references.append(summary.reference)
    return references


def _open_steps(live: LiveApp, reference: str) -> list[str]:
    built = live.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        return list(session.scalars(select(HumanTask.bpmn_id).join(
            Case, Case.id == HumanTask.case_id).where(Case.reference == reference,
                                                      HumanTask.status == "open")))


def _decide(page: Any, reference: str, decision: str, extra: dict[str, str]) -> None:
    page.locator("tr", has_text=reference).get_by_role(
        "link", name="Enregistrer la décision").click()
    page.get_by_label("Membres présents").fill("SIAO, Conseil départemental, CMP, bailleur.")
    page.get_by_label(decision, exact=True).check()
    for label, value in extra.items():
        if value == "check":
            page.get_by_label(label, exact=True).check()
        else:
            page.get_by_label(label).fill(value)
    page.get_by_label("Motivation de la décision").fill("Décision prise après échange.")
    page.get_by_role("button", name="Enregistrer la décision").click()


def test_a_monthly_session_gathers_three_cases_and_resumes_each(
        live_app: LiveApp, browser: Any, check_page: Any) -> None:
    references = _three_cases(live_app)
    day = date.today() + timedelta(days=20)
    page = browser.new_page(viewport={"width": 1300, "height": 1000}, locale="fr-FR")
    sign_in(page, live_app.url, SECRETARIAT)
    page.get_by_role("link", name="Séances de la commission").click()
    check_page(page, "seances")
    page.get_by_label("Jour de la séance").fill(day.isoformat())
    page.get_by_label("Heure").fill("14:00")
    page.get_by_label("Lieu").fill(PLACE)
    page.get_by_role("button", name="Planifier la séance").click()
    assert "planifiée" in page.content()
    check_page(page, "seance-planifiee")
    session_url = page.url

    for number, reference in enumerate(references):
        page.goto(f"{live_app.url}/taches/")
        page.locator("tr", has_text=reference).get_by_role(
            "link", name="Inscrire à l'ordre du jour").click()
        page.get_by_label(PLACE, exact=False).check()
        if number == 0:
            check_page(page, "inscrire-a-l-ordre-du-jour")
        page.get_by_role("button", name="Terminer l'étape").click()
        assert "terminée pour le dossier" in page.content(), page.inner_text("main")
        assert _open_steps(live_app, reference) == ["C3_T04"]  # held by the session

    page.goto(session_url)
    for reference in references:
        assert page.locator("tr", has_text=reference).count() == 1
    check_page(page, "ordre-du-jour")
    page.get_by_role("button", name="Diffuser l’ordre du jour et les dossiers maintenant").click()
    assert "diffusés aux membres" in page.content()
    check_page(page, "dossiers-diffuses")
    for reference in references:
        assert _open_steps(live_app, reference) == ["C3_T05"]

    member = browser.new_page(viewport={"width": 1300, "height": 1000}, locale="fr-FR")
    sign_in(member, live_app.url, MEMBER)
    member.get_by_role("link", name="Séances de la commission").click()
    member.get_by_role("link", name=PLACE and "à 14 h").first.click()
    member.get_by_role("link", name=references[0]).click()
    text = member.inner_text("main")
    assert "Question posée à la commission" in text and "Nom non partagé" in text
    check_page(member, "membre-lit-un-dossier")

    _decide(page, references[0], "Orientation vers un dispositif",
            {"Un Chez Soi d'Abord": "check"})
    assert "son circuit reprend" in page.content()
    check_page(page, "decision-enregistree")
    _decide(page, references[1], "Plan d'accompagnement partagé", {
        "Engagements des partenaires (partenaire, action, échéance)":
            "CCAS : accompagnement budgétaire, fin du mois.",
        "Suivi par le·la référent·e dans le circuit d'origine": "check"})
    _decide(page, references[2], "Plan d'accompagnement partagé", {
        "Engagements des partenaires (partenaire, action, échéance)":
            "CMP : rendez-vous sous quinze jours.",
        "Revue en commission dans 3 mois": "check"})
    check_page(page, "trois-decisions")
    # each case's own circuit resumed: C3 alone, and C3 inside the coordination circuit
    assert _open_steps(live_app, references[0]) == ["C3_T07"]  # Informer la personne
    assert _open_steps(live_app, references[1]) == ["C3_T06"]  # Confirmer l'engagement
    assert _open_steps(live_app, references[2]) == ["C3_T06"]

    page.get_by_role("button", name="Clore la séance").click()
    assert "Séance close" in page.content()
    check_page(page, "seance-close")
    member.goto(session_url)
    assert references[0] not in member.inner_text("main")
    answer = member.goto(f"{session_url}/dossiers/1")
    assert answer is not None and answer.status == 404


def test_the_modeler_says_the_monthly_sessions_in_words(live_app: LiveApp, browser: Any,
                                                        check_page: Any) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _open_modeler(live_app, page, "Commission des situations complexes")
    text = _panel(page, "C3_S3", "seances")
    assert "Séances de la commission planifiées chaque premier mardi du mois à 14 h, 12 fois" \
        in text, text
    check_page(page, "modeleur-seances")
    assert not errors, errors
