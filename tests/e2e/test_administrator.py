"""The administrator's journey in a real browser: time moves past a deadline, the step
appears on the supervision dashboard, the administrator gives it to someone, and the overdue
notice is delivered once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from engine.clock import FixedClock
from engine.mail import LogSender
from engine.scheduler import run_once
from tests.e2e.conftest import LiveApp, coordination_case, sign_in


def _overdue_case(live: LiveApp) -> str:
    """A coordination case whose second step became due twenty days ago."""
    built = live.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    past = FixedClock(built.clock.now() - timedelta(days=20))
    return coordination_case(live, 1, past)[1]


def test_administrator_sees_the_overdue_step_reassigns_it_and_one_notice_goes(
        live_app: LiveApp, browser: Any, check_page: Any) -> None:
    reference = _overdue_case(live_app)
    built = live_app.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    sender = LogSender()
    run_once(built.sessions, built.clock, "e2e", sender=sender)  # the scheduler's tick
    overdue = [m for m in sender.sent if m.message_id.startswith("overdue:")]
    assert len(overdue) == 2  # the step's role, and the territory's coordination
    assert all(reference in m.subject for m in overdue)

    page = browser.new_page()
    sign_in(page, live_app.url, "admin@demo.test")
    assert page.url.endswith("/supervision/")  # an administrator lands on their work
    check_page(page, "supervision")
    page.get_by_role("link", name="Supervision").click()
    assert "1 étape en retard" in page.content()
    row = page.locator("tr", has_text=reference)
    assert "Vérifier la recevabilité de la demande" in row.inner_text()
    row.get_by_role("link", name="Vérifier la recevabilité de la demande").click()
    check_page(page, "page-etape")
    page.get_by_label("Confier à").select_option(label="Camille Coordination")
    page.get_by_role("button", name="Confier l'étape").click()
    assert "L'étape a été confiée." in page.content()

    page.get_by_role("link", name="Supervision").click()
    assert "Camille Coordination" in page.locator("tr", has_text=reference).inner_text()
    page.goto(f"{live_app.url}/supervision/?vue=echeances")
    check_page(page, "supervision-7-jours")
    page.goto(f"{live_app.url}/supervision/utilisateurs")
    check_page(page, "utilisateurs")
    page.goto(f"{live_app.url}/supervision/journal")
    check_page(page, "journal")
    page.goto(f"{live_app.url}/supervision/journal?action=case.start")
    opened = page.locator("tbody tr", has_text=reference).inner_text()
    assert "champs : " in opened and "Nom du ménage" in opened  # the form's labels
    check_page(page, "journal-dossiers-ouverts")  # and no raw key (« nom_menage »)
    page.goto(f"{live_app.url}/dossiers/")
    page.get_by_role("link", name=reference).click()
    check_page(page, "page-dossier")
    again = LogSender()
    run_once(built.sessions, built.clock, "e2e", sender=again)  # a later tick, or a restart
    assert [m for m in again.sent if m.message_id.startswith("overdue:")] == []
