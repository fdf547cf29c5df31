"""An anonymised case through the pages (issue #16, item 2): the coordination still opens
it, reads when it was anonymised, and is no longer offered to correct an identity that is
gone (the correction page refuses in French)."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

from flask import Flask
from flask.testing import FlaskClient

from engine.clock import FixedClock
from engine.core.retention import Rule, Rules, parse_duration
from engine.persistence.models import Case, Territory
from engine.services import cases, retention
from tests.integration.factories import World
from tests.web.conftest import AuthActions
from tests.web.helpers import open_case


def test_an_anonymised_case_still_opens_and_says_so(
        app: Flask, client: FlaskClient, auth: AuthActions, clock: FixedClock,
        world: World) -> None:
    case_id, _ = open_case(app, clock, world)
    with app.extensions["aiguillage"].sessions() as session:
        territory = session.get(Territory, world.territory.id)
        assert territory is not None
        territory.retention = Rules(Rule(parse_duration("6M"))).as_json()
        session.commit()
        cases.close(session, clock, world.coordinator, case_id, "Fin de l'accompagnement")
        clock.advance(timedelta(days=200))
        assert retention.anonymise(session, clock, case_id)
        anonymised = session.get(Case, case_id)
        assert anonymised is not None and anonymised.anonymised_at is not None
        day = anonymised.anonymised_at.strftime("%d/%m/%Y")
    auth.login()
    page = client.get(f"/dossiers/{case_id}")
    text = unescape(page.text)
    assert page.status_code == 200
    assert f"Dossier anonymisé le {day}" in text and "Ménage anonymisé" in text
    assert "Ménage Test Matrice" not in text
    assert "Autre action" not in text  # the history names the act
    assert f"/dossiers/{case_id}/identite" not in text
    refused = client.get(f"/dossiers/{case_id}/identite")
    assert refused.status_code == 409 and "dossier anonymisé" in unescape(refused.text)
