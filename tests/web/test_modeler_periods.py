"""The modeler's side panel offers the territory's periods (the winter truce) for a step's
deadline and a timer (issue #15): the draft data carries them, key and French label, as the
territory's files gave them; none when the territory defines none."""

from __future__ import annotations

import json
import re

from flask import Flask
from flask.testing import FlaskClient

from engine.persistence.models import Territory
from tests.integration.factories import World
from tests.web.conftest import AuthActions
from tests.web.test_circuits import _draft

TRUCE = {"key": "treve_hivernale", "label": "Trêve hivernale", "from": "11-01", "to": "03-31"}


def _set_periods(app: Flask, world: World, periods: list[dict[str, str]]) -> None:
    with app.extensions["aiguillage"].sessions() as session:  # type: ignore[attr-defined]
        territory = session.get(Territory, world.territory.id)
        assert territory is not None
        territory.periods = periods
        session.commit()


def test_the_draft_data_carries_the_territorys_periods(client: FlaskClient, auth: AuthActions,
                                                       app: Flask, world: World) -> None:
    auth.login()
    draft = _draft(client, world)
    assert client.get(f"/circuits/brouillons/{draft}/donnees").get_json()["periods"] == []
    _set_periods(app, world, [TRUCE])
    data = client.get(f"/circuits/brouillons/{draft}/donnees").get_json()
    assert data["periods"] == [TRUCE]
    # a step's rule naming it is then accepted by the check
    xml = data["xml"].replace(
        '<spiffworkflow:property name="dueInWorkingDays" value="2" />',
        '<spiffworkflow:property name="dueInWorkingDays" value="2" />'
        '<spiffworkflow:property name="period" value="suspend:treve_hivernale" />')
    assert "suspend:treve_hivernale" in xml
    saved = client.post(f"/circuits/brouillons/{draft}/enregistrer",
                        json={"revision": data["revision"], "xml": xml}).get_json()
    assert not [p for p in saved["problems"] if "Période" in p["message"]], saved["problems"]
    # an unknown one is refused, naming the step
    wrong = client.post(f"/circuits/brouillons/{draft}/enregistrer", json={
        "revision": saved["revision"], "xml": xml.replace("suspend:treve_hivernale",
                                                          "shift:treve")}).get_json()
    assert any("« treve »" in p["message"] and p["severity"] == "error"
               for p in wrong["problems"]), wrong["problems"]


def test_the_modeler_page_says_the_period_choices_in_french(client: FlaskClient,
                                                            auth: AuthActions,
                                                            world: World) -> None:
    auth.login()
    page = client.get(f"/circuits/brouillons/{_draft(client, world)}").text
    found = re.search(r'id="modeleur-textes">(.*?)</script>', page, re.S)
    assert found
    words = json.loads(found[1])
    assert words["periodNothing"] == "ne rien changer"
    assert words["periodShiftStep"] == "décaler l'échéance après la période"
    assert words["periodSuspendTimer"] == "suspendre le décompte pendant la période"
    assert words["months"][10] == "novembre"
