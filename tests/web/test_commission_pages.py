"""The commission's session pages (issue #15, item 3): who sees the list, a session, its
agenda, a case's file and the decision form; planning by hand; bad input answered in French
with nothing stored; a member's reading window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.clock import FixedClock
from engine.persistence.models import CommissionSession, HumanTask, SessionCase
from engine.services import commission_sessions
from tests.integration.factories import PASSWORD, make_user
from tests.integration.test_commission_sessions import DECISION, Hall, _drive, _hall, _join


@dataclass
class Site:
    app: Flask
    hall: Hall
    session_id: int
    case_id: int
    clients: dict[str, FlaskClient]

    def get(self, who: str, url: str) -> tuple[int, str]:
        answer = self.clients[who].get(url)
        page = answer.get_data().decode()
        answer.close()
        return answer.status_code, page

    def post(self, who: str, url: str, data: dict[str, str]) -> tuple[int, str]:
        answer = self.clients[who].post(url, data=data)
        page = answer.get_data().decode()
        answer.close()
        return answer.status_code, page

    def count(self) -> tuple[int, int]:
        with self.app.extensions["aiguillage"].sessions() as session:
            return (session.scalar(select(func.count()).select_from(CommissionSession)) or 0,
                    session.scalar(select(func.count()).select_from(SessionCase).where(
                        SessionCase.decided_at.is_not(None))) or 0)


PEOPLE = ("secr", "membre", "coord", "pres")


@pytest.fixture
def site(app: Flask, clock: FixedClock, tmp_path: Path) -> Site:
    app.config["WTF_CSRF_ENABLED"] = False
    with app.extensions["aiguillage"].sessions() as session:
        hall = _hall(session, clock, tmp_path)
        make_user(session, clock, "ailleurs@demo.test")
        sid = commission_sessions.plan(session, clock, hall.secretariat, hall.territory_id,
                                       clock.now() + timedelta(days=12), "Salle 2").id
        case_id = _drive(session, clock, "commission/e1-orientee-vers-dispositif.json",
                         hall.commission)
        _join(session, clock, hall.secretariat, case_id, sid)
    clients = {}
    for who in (*PEOPLE, "ailleurs"):
        client = app.test_client()
        answer = client.post("/connexion", data={"email": f"{who}@demo.test",
                                                 "password": PASSWORD})
        assert answer.status_code == 302, who
        clients[who] = client
    return Site(app, hall, sid, case_id, clients)


def test_who_sees_the_sessions_and_the_files(site: Site) -> None:
    sid, case = site.session_id, site.case_id
    base = f"/commission/seances/{sid}"
    expected_list = {"secr": 200, "membre": 200, "coord": 200, "pres": 403, "ailleurs": 403}
    for who, status in expected_list.items():
        code, page = site.get(who, "/commission/seances/")
        assert code == status, who
        if code == 200:
            assert "Salle 2" in page and "Séances de la commission" in page
    # before the files are sent: the member sees the session, not its agenda nor the file
    code, page = site.get("membre", base)
    assert code == 200 and "Nom non partagé" not in page and "vous seront diffusés" in page
    assert site.get("membre", f"{base}/dossiers/{case}")[0] == 404
    assert site.get("pres", base)[0] == 404 and site.get("ailleurs", base)[0] == 404
    code, page = site.get("secr", base)
    assert code == 200 and "Nom non partagé" in page  # no identity consent for the commission
    assert "Question posée à la commission" in page  # the assessment is covered
    # the files go out: the member reads the file, the decision is the secretariat's
    code, _ = site.post("secr", f"{base}/diffuser", {})
    assert code == 302
    code, page = site.get("membre", f"{base}/dossiers/{case}")
    assert code == 200 and "Question posée à la commission" in page
    assert "Ménage Test Klein" not in page
    assert site.get("membre", f"{base}/decision/{case}")[0] == 403
    assert site.get("pres", f"{base}/dossiers/{case}")[0] == 404
    code, page = site.get("secr", f"{base}/decision/{case}")
    assert code == 200 and "Enregistrer la décision" in page


def test_a_decision_resumes_the_case_and_closing_ends_the_reading(site: Site) -> None:
    sid, case = site.session_id, site.case_id
    base = f"/commission/seances/{sid}"
    site.post("secr", f"{base}/diffuser", {})
    # bad input: an empty decision, an unknown choice, a forged case
    code, page = site.post("secr", f"{base}/decision/{case}", {})
    assert code == 422 and "Décision" in page
    code, _ = site.post("secr", f"{base}/decision/{case}", {**DECISION,
                                                          "decision_commission": "tirage"})
    assert code == 422
    assert site.post("secr", f"{base}/decision/{2**31 - 1}", DECISION)[0] == 404
    assert site.post("secr", f"{base}/decision/{2**31}", DECISION)[0] in (400, 404)
    assert site.post("membre", f"{base}/decision/{case}",
                     {**DECISION, "decision_commission": "ajournement"})[0] == 403
    assert site.count() == (1, 0)
    code, _ = site.post("secr", f"{base}/decision/{case}", {
        **DECISION, "decision_commission": "orientation", "dispositif_retenu": "iml"})
    assert code == 302
    with site.app.extensions["aiguillage"].sessions() as session:
        assert session.scalar(select(HumanTask.bpmn_id).where(
            HumanTask.case_id == case, HumanTask.status == "open")) == "C3_T07"
    # double submit: already recorded, nothing changes
    code, _ = site.post("secr", f"{base}/decision/{case}", {
        **DECISION, "decision_commission": "orientation", "dispositif_retenu": "iml"})
    assert code in (302, 404) and site.count() == (1, 1)
    code, page = site.get("secr", base)
    assert "Orientation vers un dispositif" in page
    assert site.post("secr", f"{base}/clore", {})[0] == 302
    assert site.get("membre", f"{base}/dossiers/{case}")[0] == 404
    assert "Nom non partagé" not in site.get("membre", base)[1]


def test_planning_by_hand(site: Site, clock: FixedClock) -> None:
    day = (clock.now() + timedelta(days=30)).date().isoformat()
    for who in ("membre", "pres"):
        assert site.post(who, "/commission/seances/planifier",
                         {"jour": day, "heure": "14:00", "lieu": "Salle"})[0] == 403
    for bad in ({"jour": "", "heure": "14:00", "lieu": "Salle"},
                {"jour": "2026-02-30", "heure": "14:00", "lieu": "Salle"},
                {"jour": "2025-01-01", "heure": "14:00", "lieu": "Salle"},
                {"jour": day, "heure": "25:00", "lieu": "Salle"},
                {"jour": day, "heure": "14:00", "lieu": ""},
                {"jour": day, "heure": "14:00", "lieu": "x" * 201}):
        code, page = site.post("secr", "/commission/seances/planifier", bad)
        assert code == 422, bad
        assert 'role="alert"' in page
    assert site.count() == (1, 0)
    code, _ = site.post("coord", "/commission/seances/planifier",
                        {"jour": day, "heure": "14:00", "lieu": "Salle du conseil"})
    assert code == 302 and site.count() == (2, 0)
    code, page = site.get("secr", "/commission/seances/")
    assert "Salle du conseil" in page and "à 14 h" in page


def test_a_step_held_by_the_session_is_refused_on_its_own_page(site: Site) -> None:
    with site.app.extensions["aiguillage"].sessions() as session:
        task_id = session.scalar(select(HumanTask.id).where(
            HumanTask.case_id == site.case_id, HumanTask.bpmn_id == "C3_T04"))
    code, page = site.post("secr", f"/taches/{task_id}", {"dossiers_diffuses": "true"})
    assert code == 409 and "page de la séance" in page
