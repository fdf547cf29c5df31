"""The new-case page describes each circuit in the referrer's words (issue #14, item 10): the
sentence comes from the territory file, is deployed as the process's documentation (stored
with each version: no new column) and no circuit is chosen in advance."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from engine.clock import FixedClock
from engine.services import demo
from tests.web.conftest import AuthActions

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "mot-de-passe-demo-2026"


def test_the_new_case_page_describes_each_circuit(app: Flask, client: FlaskClient,
                                                   auth: AuthActions, clock: FixedClock) -> None:
    with app.extensions["aiguillage"].sessions() as session:
        demo.load(session, clock, ROOT, PASSWORD, cases_per_circuit=0)
    declared = json.loads((ROOT / "processes" / "reference" / "territory.json").read_text())
    auth.login("ts@demo.test", PASSWORD)
    page = unescape(client.get("/dossiers/nouveau").text)
    for circuit in declared["circuits"]:
        assert circuit["title"] in page
        assert circuit["description"] in page
    assert "accompagnement : la plateforme évalue la demande" in page
    assert " checked" not in page  # no circuit chosen for the person
    radios = re.findall(r'<input type="radio"[^>]*>', page)
    assert len(radios) == 4 and all("aria-describedby" in r for r in radios)
