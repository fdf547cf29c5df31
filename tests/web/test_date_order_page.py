"""A hearing date in the past is refused on the step's page in French, and nothing is stored
(issue #15 « Bad input », ``x-aiguillage-not-before``)."""

from __future__ import annotations

import html

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
