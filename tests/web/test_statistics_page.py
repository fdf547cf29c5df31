"""The statistics page and its CSV through the Flask client (issue #16 item 1): a territory
of 3 households never shows its 3, on the page, in the charts or in the CSV; bad periods and
forged territories get French refusals, never a 500."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient

from engine.persistence.models import Case, CaseFact
from tests.integration.factories import World
from tests.web.conftest import AuthActions

SMALL_CELL = re.compile(r">\s*[1-4](?:,\d)?\s*(?:jours|%)?\s*<")


def _three_households(app: Flask, world: World) -> None:
    with app.extensions["aiguillage"].sessions() as session:
        for n in range(3):
            at = datetime(2025, 12, 1 + n, 9, 0, tzinfo=UTC)
            case = Case(reference=f"T-{n}", territory_id=world.territory.id,
                        circuit_id=world.circuit.id,
                        circuit_version_id=world.circuit.active_version_id,
                        household_name=f"Ménage Trois {n}", status="open", created_at=at)
            session.add(case)
            session.flush()
            for kind, value, label in (("entry_route", "siao", "Demande transmise par le SIAO"),
                                       ("need", "legal", "Problématiques juridiques")):
                session.add(CaseFact(territory_id=world.territory.id, case_id=case.id,
                                     kind=kind, value=value, label=label,
                                     detail="sans_service" if kind == "need" else "",
                                     recorded_at=at))
        session.commit()


def test_three_households_show_as_fewer_than_five(app: Flask, world: World,
                                                   client: FlaskClient,
                                                   auth: AuthActions) -> None:
    _three_households(app, world)
    auth.login()
    page = client.get("/statistiques/")
    assert page.status_code == 200
    html = page.text
    assert "Aucun chiffre inférieur à 5 n’est montré" in html
    assert "&lt; 5" in html and "Ménage Trois" not in html
    assert not SMALL_CELL.findall(html), SMALL_CELL.findall(html)
    export = client.get("/statistiques/export.csv")
    assert export.status_code == 200
    text = export.get_data(as_text=True).lstrip("\ufeff")
    cells = [c for row in csv.reader(io.StringIO(text), delimiter=";") for c in row]
    assert "< 5" in cells and "Demandes par canal d'entrée" in cells
    assert not {"1", "2", "3", "4"} & set(cells)


def test_bad_periods_and_forged_territories(world: World, client: FlaskClient,
                                            auth: AuthActions) -> None:
    auth.login()
    reversed_ = client.get("/statistiques/?debut=31/12/2025&fin=01/12/2025")
    assert reversed_.status_code == 422
    assert "se termine le 01/12/2025 avant de commencer le 31/12/2025" in reversed_.text
    assert client.get("/statistiques/?debut=31/02/2025").status_code == 422
    assert "JJ/MM/AAAA" in client.get("/statistiques/?fin=demain").text
    assert client.get("/statistiques/export.csv?debut=02/01/2026&fin=01/01/2026"
                      ).status_code == 422
    other = world.outsider.territories()[0]
    assert client.get(f"/statistiques/?territoire={other}").status_code == 403
    assert client.get("/statistiques/?territoire=2147483648").status_code == 400
    assert client.get("/statistiques/?territoire=abc").status_code == 400
    assert client.get(f"/statistiques/?territoire={world.territory.id}").status_code == 200
