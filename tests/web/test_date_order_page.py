"""A hearing date in the past is refused on the step's page in French, and nothing is stored
(issue #15 « Bad input », ``x-aiguillage-not-before``)."""

from __future__ import annotations

import html
import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.clock import FixedClock
from engine.persistence.models import HumanTask
from engine.services import cases
from tests.integration.factories import make_world
from tests.unit.test_relative_timers import DATES
from tests.web.conftest import AuthActions


def test_a_hearing_date_in_the_past_is_refused_and_nothing_stored(
        app: Flask, client: FlaskClient, auth: AuthActions, clock: FixedClock) -> None:
    with app.extensions["aiguillage"].sessions() as session:
        world = make_world(session, clock, DATES)
        case = cases.start(session, clock, world.coordinator, world.circuit.id,
                           {"nom_menage": "Ménage Daté", "date_audience": "2026-03-10"})
        step = session.scalar(select(HumanTask.id).where(
            HumanTask.case_id == case.id, HumanTask.bpmn_id == "corriger"))
    auth.login()
    page = client.post(f"/taches/{step}", data={"date_audience": "2026-01-02"})
    assert page.status_code == 422
    assert "La date d'audience ne peut pas être dans le passé." in html.unescape(page.text)
    with app.extensions["aiguillage"].sessions() as session:
        assert session.scalar(select(HumanTask.status).where(HumanTask.id == step)) == "open"
    done = client.post(f"/taches/{step}", data={"date_audience": "2026-03-17"})
    assert done.status_code == 302


def test_the_dry_run_says_what_timers_count_from(app: Flask, client: FlaskClient,
                                                 auth: AuthActions, clock: FixedClock) -> None:
    """Issue #15 item 5: « dû le … (7 jours avant « Date d'audience ») », and « dépend de
    « Date d'audience », non renseignée » while the date is not answered."""
    with app.extensions["aiguillage"].sessions() as session:
        world = make_world(session, clock, DATES)
    auth.login()
    opened = client.post(f"/circuits/{world.circuit.id}/modifier")
    url = opened.headers["Location"] + "/essai"
    started = client.post(url, data={"action": "commencer", "nom_menage": "Essai"}).text
    text = html.unescape(started)
    assert "Rappel 7 jours avant l'audience — dépend de « Date d'audience », non renseignée" \
        in text
    carried = {k: html.unescape(v) for k, v in
               re.findall(r'name="(start|data|steps)" value="([^"]*)"', started)}
    answered = html.unescape(client.post(url, data={
        **carried, "action": "terminer", "task": "corriger",
        "date_audience": "2026-03-10"}).text)
    assert "Rappel 7 jours avant l'audience — dû le 03/03/2026 23:59 (7 jours avant " \
        "« Date d'audience »)" in answered
    assert "non renseignée" not in answered
