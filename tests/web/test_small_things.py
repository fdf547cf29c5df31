"""The small things of issue #14 (item 10) that add up, as the pages show them."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from lxml import html

from engine.clock import FixedClock
from tests.integration.factories import World, make_user
from tests.web.conftest import AuthActions
from tests.web.helpers import open_case


def test_favicon_answers_with_an_icon(client: FlaskClient) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/vnd.microsoft.icon"
    assert icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_an_administrator_lands_on_supervision_a_worker_on_tasks(
        app: Flask, client: FlaskClient, auth: AuthActions, clock: FixedClock,
        world: World) -> None:
    with app.extensions["aiguillage"].sessions() as session:
        make_user(session, clock, "chef@demo.test", world.territory.id, "admin")
    assert auth.login("chef@demo.test").location.endswith("/supervision/")  # on signing in
    assert client.get("/").location.endswith("/supervision/")
    auth.logout()
    assert auth.login("op@demo.test").location.endswith("/taches/")
    assert client.get("/").location.endswith("/taches/")


def test_a_step_taken_stands_out_and_is_given_back_in_words(
        app: Flask, client: FlaskClient, auth: AuthActions, clock: FixedClock,
        world: World) -> None:
    case_id, task_id = open_case(app, clock, world)
    clock.set(clock.now() + timedelta(days=2))  # « Analyser » is due in two working days
    auth.login()
    page = client.get("/taches/").text
    assert "Bientôt due" in page and "Bientôt dû" not in page
    assert "Prendre" in page and "row-mine" not in page
    taken = client.post(f"/taches/{task_id}/prendre", data={"next": "/taches/"})
    assert taken.status_code == 302
    page = client.get("/taches/").text
    row = html.fromstring(page).get_element_by_id(f"tache-{task_id}")
    assert "row-mine" in row.get("class", "")
    text = row.text_content()
    assert "Prise en charge par vous" in text and "Ne plus prendre en charge" in text
    assert "Rendre" not in text
    assert html.fromstring(page).xpath(f'//tr[@id="tache-{task_id}"]/td[@class="ref"]')
    assert f'value="/taches/?#tache-{task_id}"' in page  # back on the row, highlighted


def test_the_case_history_says_who_did_what(app: Flask, client: FlaskClient,
                                            auth: AuthActions, clock: FixedClock,
                                            world: World) -> None:
    case_id, task_id = open_case(app, clock, world, analysed=True)
    auth.login()
    page = html.fromstring(client.get(f"/dossiers/{case_id}").text)
    lines = [" ".join(li.text_content().split()) for li in page.xpath('//ol[@class="timeline"]/li')]
    assert any("Coord — Dossier ouvert" in line for line in lines), lines
    assert any("Coord — Étape terminée : Analyser la demande" in line for line in lines), lines
    assert not any("task." in line or "case." in line for line in lines)
    steps = page.text_content()
    assert "échéance —" not in steps and "Sans échéance" not in steps


def test_an_overdue_case_shows_its_date_marked_late(app: Flask, client: FlaskClient,
                                                    auth: AuthActions, clock: FixedClock,
                                                    world: World) -> None:
    case_id, _ = open_case(app, clock, world)
    clock.set(clock.now() + timedelta(days=40))
    auth.login()
    row = html.fromstring(client.get("/dossiers/").text).xpath(
        f'//tr[td/a[@href="/dossiers/{case_id}"]]')[0]
    assert "/01/2026" in row.text_content() and "En retard" in row.text_content()
    page = client.get(f"/dossiers/{case_id}").text
    assert "En retard" in page


def test_the_new_case_page_preselects_no_circuit(client: FlaskClient, auth: AuthActions,
                                                 world: World) -> None:
    auth.login()
    page = html.fromstring(client.get("/dossiers/nouveau").text)
    radios = page.xpath('//input[@name="circuit"]')
    assert radios and not any(r.get("checked") is not None for r in radios)
