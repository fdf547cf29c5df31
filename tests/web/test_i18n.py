"""Languages: French by default, English from the footer's switch, back to French; the English
catalogue is complete and in step with the source."""

from __future__ import annotations

import os
from html import unescape
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from engine.clock import FixedClock
from tests.integration.factories import World
from tests.web.conftest import AuthActions
from tests.web.helpers import open_case

WEBAPP = Path(__file__).resolve().parents[2] / "webapp"
CATALOGUE = WEBAPP / "translations" / "en" / "LC_MESSAGES" / "messages.po"


@pytest.fixture(autouse=True)
def compiled() -> None:
    """The English pages need the compiled catalogue (built by ``make setup``, not committed)."""
    mo = CATALOGUE.with_suffix(".mo")
    assert mo.exists() and mo.stat().st_mtime >= CATALOGUE.stat().st_mtime, \
        "compile the catalogue first: make setup (or .venv/bin/pybabel compile -d webapp/translations)"


def _english(client: FlaskClient, next_url: str = "/connexion") -> str:
    return unescape(client.post("/langue", data={"lang": "en", "next": next_url},
                                follow_redirects=True).text)


def test_french_is_the_default(client: FlaskClient, auth: AuthActions, world: World) -> None:
    page = unescape(client.get("/connexion").text)
    assert '<html lang="fr">' in page and "<title>Connexion — Aiguillage</title>" in page
    assert "Se connecter" in page and "Adresse e-mail" in page and "Sign in" not in page
    auth.login()
    tasks = unescape(client.get("/taches/").text)
    assert "Mes tâches" in tasks and "Nouvelle saisine" in tasks and "My tasks" not in tasks


def test_sign_in_page_in_english(client: FlaskClient, world: World) -> None:
    page = _english(client)
    assert '<html lang="en">' in page and "<title>Sign in — Aiguillage</title>" in page
    assert "Email address" in page and "Password" in page and "Skip to content" in page
    assert "Se connecter" not in page and "Adresse e-mail" not in page
    assert 'lang="fr">Français</button>' in page  # the way back, named in its own language
    wrong = client.post("/connexion", data={"email": "coord@demo.test", "password": "faux"})
    assert "Incorrect email address or password." in unescape(wrong.text)


def test_task_list_and_case_page_in_english(app: Flask, client: FlaskClient, auth: AuthActions,
                                            clock: FixedClock, world: World) -> None:
    case_id, _ = open_case(app, clock, world, analysed=True)
    _, task_id = open_case(app, clock, world)
    _english(client)
    auth.login()  # the language chosen before signing in survives the fresh session
    tasks = unescape(client.get("/taches/").text)
    assert "<title>My tasks — Aiguillage</title>" in tasks and '<html lang="en">' in tasks
    for text in ("New referral", "Cases", "Due date", "Waiting since", "Household", "Claim",
                 "Oldest first", "Offered to my roles", "Sign out"):
        assert text in tasks, text
    assert "Mes tâches" not in tasks and "Échéance" not in tasks
    claimed = client.post(f"/taches/{task_id}/prendre", data={"next": "/taches/"},
                          follow_redirects=True)
    assert "You have claimed this step." in unescape(claimed.text)

    case = unescape(client.get(f"/dossiers/{case_id}").text)
    for text in ("Current steps", "History", "Circuit diagram",
                 "Step completed: Analyser la demande", "Close the case", "Reason"):
        assert text in case, text
    assert "Historique" not in case and "Étapes en cours" not in case
    assert "Statuer sur l'orientation" in case  # the circuit's own texts are not translated
    referral = unescape(client.get(f"/dossiers/nouveau?circuit={world.circuit.id}").text)
    assert "Referral:" in referral and "Create the case" in referral
    missing = client.get("/nulle-part")
    assert missing.status_code == 404 and "Page not found" in unescape(missing.text)


def test_a_refusal_reads_in_the_readers_language(app: Flask, client: FlaskClient,
                                                 auth: AuthActions, clock: FixedClock,
                                                 world: World) -> None:
    """Services refuse with a message code; the page says it in English, not in French."""
    case_id, _ = open_case(app, clock, world)
    auth.login()
    assert client.post(f"/dossiers/{case_id}/cloturer", data={"reason": "Relogé"}).status_code == 302
    again = client.post(f"/dossiers/{case_id}/cloturer", data={"reason": "Relogé"})
    assert again.status_code == 409 and "le dossier n'est pas en cours" in unescape(again.text)
    _english(client, f"/dossiers/{case_id}")
    again = client.post(f"/dossiers/{case_id}/cloturer", data={"reason": "Rehoused"})
    page = unescape(again.text)
    assert again.status_code == 409 and "the case is not open" in page
    assert "pas en cours" not in page


def test_form_errors_read_in_the_readers_language(app: Flask, client: FlaskClient,
                                                  auth: AuthActions, clock: FixedClock,
                                                  world: World) -> None:
    _, task_id = open_case(app, clock, world)  # « Analyser la demande », mesure required
    auth.login()
    french = client.post(f"/taches/{task_id}", data={"mesure": ""})
    assert french.status_code == 422 and "Ce champ est obligatoire." in unescape(french.text)
    _english(client, f"/taches/{task_id}")
    english = client.post(f"/taches/{task_id}", data={"mesure": ""})
    page = unescape(english.text)
    assert english.status_code == 422 and "This field is required." in page
    assert "Ce champ est obligatoire." not in page


def test_switching_back_to_french(client: FlaskClient, auth: AuthActions, world: World) -> None:
    _english(client)
    auth.login()
    assert "My tasks" in unescape(client.get("/taches/").text)
    signed_out = unescape(client.post("/deconnexion", follow_redirects=True).text)
    assert "You are signed out." in signed_out and "Sign in" in signed_out
    back = unescape(client.post("/langue", data={"lang": "fr", "next": "/connexion"},
                                follow_redirects=True).text)
    assert '<html lang="fr">' in back and "Se connecter" in back and "Sign in" not in back
    assert 'lang="en">English</button>' in back


def test_english_catalogue_is_complete_and_up_to_date() -> None:
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    untranslated = [m.id for m in catalogue if m.id and (m.fuzzy or not all(
        m.string if isinstance(m.string, tuple) else (m.string,)))]
    assert untranslated == []
    with (WEBAPP / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    in_source = {msgid if isinstance(msgid, str) else msgid[0]
                 for _, _, msgid, *_ in extract_from_dir(
                     str(WEBAPP), method_map, options_map,
                     keywords={"_": None, "gettext": None, "ngettext": (1, 2),
                               "lazy_gettext": None},
                     directory_filter=lambda path: not os.path.basename(path).startswith((".", "_")))}
    in_catalogue = {m.id if isinstance(m.id, str) else m.id[0] for m in catalogue if m.id}
    assert in_source - in_catalogue == set(), "run pybabel extract and update (webapp/babel.cfg)"
    assert in_catalogue - in_source == set(), "obsolete messages in the English catalogue"
