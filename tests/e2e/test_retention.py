"""An anonymised case in a real browser (issue #16, item 2): a demo coordination case,
closed, anonymised 25 months later; the coordinator opens it from the list and reads
« Dossier anonymisé le … », its steps and its history, no name."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from engine.clock import FixedClock
from engine.persistence.models import Case
from engine.services import cases, retention
from engine.services.access import SYSTEM
from tests.e2e.conftest import LiveApp, coordination_case, sign_in


def test_the_coordinator_opens_an_anonymised_case(live_app: LiveApp, browser: Any,
                                                 check_page: Any) -> None:
    _, reference = coordination_case(live_app, 3)
    built = live_app.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        name = case.household_name
        cases.close(session, built.clock, SYSTEM, case.id, "La personne a déménagé")
        later = FixedClock(built.clock.now() + timedelta(days=25 * 31))
        assert retention.anonymise(session, later, case.id)
        case_id = case.id
    page = browser.new_page()
    sign_in(page, live_app.url, "coord@demo.test")
    page.goto(f"{live_app.url}/dossiers/{case_id}")
    check_page(page, "dossier-anonymise")
    text = page.inner_text("main")
    assert "Dossier anonymisé le" in text and "Ménage anonymisé" in text
    assert name not in text
    assert "Historique" in text and "Autre action" not in text
