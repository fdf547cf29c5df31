"""The « Consentement de la personne » section of the case page (issue #12, item 4): the
decisions in words, the forms to record and withdraw, refusals in French with nothing
stored, forged POSTs refused and audited, and a withdrawal read by the very next page.
SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.clock import FixedClock
from engine.core.bundles import load_territory
from engine.persistence.models import AuditEvent, CaseConsent, HumanTask
from engine.services import cases, parties, territories, users
from engine.services.access import SYSTEM
from tests.integration.factories import MINI, PASSWORD, ROOT, World, make_user, make_world

HOUSEHOLD = "Ménage Lefèvre-Consenti"


@dataclass
class Place:
    app: Flask
    world: World
    case_id: int


@pytest.fixture
def place(any_app: Flask, clock: FixedClock, tmp_path: Path) -> Place:
    """The small circuit with parts and a consent field on the analysis; a case opened by
    the CCAS (referrer) and oriented to operator A; people of A and B (SQLite, then
    PostgreSQL)."""
    app = any_app
    folder = tmp_path / "mini"
    shutil.copytree(MINI, folder)
    saisine = folder / "forms" / "mini-saisine.json"
    schema = json.loads(saisine.read_text(encoding="utf-8"))
    schema["properties"]["nom_menage"]["x-aiguillage-category"] = "identity"
    saisine.write_text(json.dumps(schema), encoding="utf-8")
    analyse = folder / "forms" / "mini-analyse.json"
    schema = json.loads(analyse.read_text(encoding="utf-8"))
    schema["properties"]["partage_operateur"] = {
        "type": "boolean", "title": "Partage avec l'opérateur",
        "x-aiguillage-consent": {"parts": ["operator"], "purpose": "support",
                                 "categories": ["identity", "assessment"]}}
    analyse.write_text(json.dumps(schema), encoding="utf-8")
    settings = json.loads((folder / "territory.json").read_text(encoding="utf-8"))
    settings["parts"] = [{"key": p.key, "label": p.label}
                         for p in load_territory(ROOT / "processes" / "reference").parts]
    (folder / "territory.json").write_text(json.dumps(settings), encoding="utf-8")
    with app.extensions["aiguillage"].sessions() as session:
        world = make_world(session, clock, folder)
        territory_id = world.territory.id
        orgs = {name: territories.create_organisation(session, clock, SYSTEM, territory_id,
                                                      name, kind).id
                for name, kind in (("CCAS de Test", "ccas"), ("Plateforme Test", "plateforme"),
                                   ("Association A", "association"),
                                   ("Association B", "association"))}
        for email, role, org in (("orienteur@demo.test", "orienteur", "CCAS de Test"),
                                 ("operateur-a@demo.test", "operateur", "Association A"),
                                 ("operateur-b@demo.test", "operateur", "Association B")):
            person = make_user(session, clock, email)
            assert person.user_id is not None
            users.add_membership(session, clock, SYSTEM, person.user_id, territory_id, role,
                                 orgs[org])
        from engine.services.access import load_actor
        referrer = load_actor(session, _user(session, "orienteur@demo.test"))
        case_id = cases.start(session, clock, referrer, world.circuit.id,
                              {"nom_menage": HOUSEHOLD}).id
        parties.set_party(session, clock, world.coordinator, case_id, "operator",
                          orgs["Association A"], "Orientation vers A")
    return Place(app, world, case_id)


def _user(session: object, email: str) -> int:
    from engine.persistence.models import User
    found = session.scalar(select(User.id).where(User.email == email))  # type: ignore[attr-defined]
    assert found is not None
    return int(found)


def _client(app: Flask, email: str = "coord@demo.test") -> FlaskClient:
    client = app.test_client()
    assert client.post("/connexion", data={"email": email,
                                           "password": PASSWORD}).status_code == 302
    return client


def _rows(app: Flask, active: bool = False) -> int:
    with app.extensions["aiguillage"].sessions() as session:
        query = select(func.count()).select_from(CaseConsent)
        if active:
            query = query.where(CaseConsent.withdrawn_at.is_(None))
        return session.scalar(query) or 0


def _refused(app: Flask) -> int:
    with app.extensions["aiguillage"].sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "consent.refused")) or 0


def _page(client: FlaskClient, case_id: int) -> str:
    answer = client.get(f"/dossiers/{case_id}")
    assert answer.status_code == 200
    return unescape(answer.text)


GOOD = {"parts": ["operator", "referrer"], "purpose": "support",
        "categories": ["identity", "assessment"], "basis": "oral",
        "witness": "Mme Témoin, CCAS", "valid_until": "2026-06-30"}


def test_a_coordinator_records_then_withdraws_and_the_operator_sees_it_at_once(
        place: Place) -> None:
    app, case_id = place.app, place.case_id
    worker_a = _client(app, "operateur-a@demo.test")
    before = _page(worker_a, case_id)
    assert HOUSEHOLD not in before  # no consent yet: the minimal view
    assert "Aucun consentement en cours" in before and "Mme Témoin" not in before
    coordinator = _client(app)
    page = _page(coordinator, case_id)
    assert "Consentement de la personne" in page and "Recueillir le consentement" in page
    assert "Aucun consentement recueilli sur ce dossier" in page
    answer = coordinator.post(f"/dossiers/{case_id}/consentement", data=GOOD)
    assert answer.status_code == 302 and answer.location.endswith("#consentement-titre")
    page = unescape(coordinator.get(answer.location).text)
    assert "Consentement de la personne enregistré." in page
    for words in ("Opérateur d'accompagnement", "Structure qui oriente", "Accompagnement",
                  "Identité et coordonnées, Évaluation sociale", "Accord oral devant témoin",
                  "témoin : Mme Témoin, CCAS", "le 09/01/2026 par Coord",
                  "En cours, jusqu'au 30/06/2026", "Page du dossier"):
        assert words in page, words
    shown = re.sub(r"<[^>]*>", " ", page)  # the words a reader sees, not the attributes
    assert not re.search(r"\d{4}-\d{2}-\d{2}", shown)  # no ISO date shown
    assert 'value="support"' in page and ">support<" not in page  # labels, not keys
    assert _rows(app) == 4
    after = _page(worker_a, case_id)
    assert HOUSEHOLD in after and "Recueillir le consentement" not in after
    answer = coordinator.post(f"/dossiers/{case_id}/consentement/retrait", data={
        "part": "operator", "reason": "La personne retire son accord"},
        follow_redirects=True)
    page = unescape(answer.text)
    assert answer.status_code == 200
    assert "Retrait du consentement enregistré" in page
    assert "Retiré le 09/01/2026 par Coord" in page and "La personne retire son accord" in page
    assert _rows(app, active=True) == 2  # the referrer's rows stay
    assert HOUSEHOLD not in _page(worker_a, case_id)  # the very next page: minimal again


@pytest.mark.parametrize(("change", "field", "message", "status"), [
    ({"purpose": "marketing"}, "purpose", "Finalité inconnue", 422),
    ({"parts": ["locataire"]}, "parts", "Partie inconnue pour le consentement", 422),
    ({"parts": []}, "parts", "Partie inconnue pour le consentement", 422),
    ({"categories": ["religion"]}, "categories", "Choisissez au moins une catégorie", 422),
    ({"basis": "form"}, "basis", "Indiquez comment l'accord a été recueilli", 422),
    ({"witness": "  "}, "witness", "Un accord oral se recueille devant un témoin", 422),
    ({"witness": "x" * 201}, "witness", "Nom du témoin trop long", 422),
    ({"valid_until": "2026-01-08"}, "valid_until", "déjà passée", 422),
    ({"valid_until": "30/06/2026"}, "valid_until", "Date de fin de validité invalide", 422),
    ({"valid_until": "2026-02-30"}, "valid_until", "Date de fin de validité invalide", 422),
])
def test_bad_consents_are_refused_in_french_beside_their_field_and_nothing_is_stored(
        place: Place, change: dict[str, object], field: str, message: str,
        status: int) -> None:
    coordinator = _client(place.app)
    answer = coordinator.post(f"/dossiers/{place.case_id}/consentement",
                              data={**GOOD, **change})
    page = unescape(answer.text)
    assert answer.status_code == status
    assert message in page
    assert f'id="consent-{field}-erreur"' in page  # tied to its field
    assert "Mme Témoin" in page or field == "witness"  # what was typed is kept
    assert _rows(place.app) == 0


def test_a_withdrawal_needs_a_reason_and_a_stale_one_is_refused(place: Place) -> None:
    coordinator = _client(place.app)
    url = f"/dossiers/{place.case_id}/consentement"
    assert coordinator.post(url, data=GOOD).status_code == 302
    answer = coordinator.post(f"{url}/retrait", data={"part": "operator", "reason": " "})
    assert answer.status_code == 422 and "Indiquez le motif du retrait" in unescape(
        answer.text)
    assert _rows(place.app, active=True) == 4
    ok = coordinator.post(f"{url}/retrait", data={"part": "operator", "reason": "Retrait"})
    assert ok.status_code == 302
    stale = coordinator.post(f"{url}/retrait", data={"part": "operator", "reason": "Encore"})
    assert stale.status_code == 409
    assert "la page n'était plus à jour" in unescape(stale.text)
    assert coordinator.post(f"{url}/retrait", data={"part": "locataire",
                                                    "reason": "m"}).status_code == 422
    assert _rows(place.app, active=True) == 2


def test_forged_posts_are_refused_audited_and_change_nothing(place: Place) -> None:
    app, case_id = place.app, place.case_id
    url = f"/dossiers/{case_id}/consentement"
    _client(app).post(url, data=GOOD)
    stored = _rows(app, active=True)
    worker_b = _client(app, "operateur-b@demo.test")  # another organisation: no part in it
    assert worker_b.post(url, data=GOOD).status_code == 404
    assert worker_b.post(f"{url}/retrait", data={"part": "operator",
                                                 "reason": "m"}).status_code == 404
    assert worker_b.get(f"/dossiers/{case_id}").status_code == 404
    worker_a = _client(app, "operateur-a@demo.test")  # a party: reads, may not record
    assert worker_a.post(url, data=GOOD).status_code == 403
    assert worker_a.post(f"{url}/retrait", data={"part": "operator",
                                                 "reason": "m"}).status_code == 403
    outsider = _client(app, "autre@demo.test")  # another territory
    assert outsider.post(url, data=GOOD).status_code == 404
    assert app.test_client().post(url, data=GOOD).status_code == 302  # to sign in
    assert _client(app).post("/dossiers/999999/consentement", data=GOOD).status_code == 404
    assert _rows(app, active=True) == stored and _rows(app) == stored
    assert _refused(app) == 5


def test_the_referrer_records_and_a_minimal_reader_sees_only_which_parts_agreed(
        place: Place) -> None:
    app, case_id = place.app, place.case_id
    referrer = _client(app, "orienteur@demo.test")
    assert "Recueillir le consentement" in _page(referrer, case_id)
    answer = referrer.post(f"/dossiers/{case_id}/consentement", data={
        **GOOD, "parts": ["referrer"], "basis": "signed", "witness": "", "valid_until": ""})
    assert answer.status_code == 302
    page = _page(_client(app), case_id)
    assert "Formulaire signé" in page and "En cours, sans date de fin" in page
    minimal = _page(_client(app, "operateur-a@demo.test"), case_id)
    assert ("La personne a donné son accord au partage de certaines informations avec : "
            "Structure qui oriente.") in minimal
    assert "Formulaire signé" not in minimal and "Retirer" not in minimal


def test_answering_a_consent_field_of_a_step_records_it(place: Place) -> None:
    app, case_id = place.app, place.case_id
    with app.extensions["aiguillage"].sessions() as session:
        step = session.scalar(select(HumanTask.id).where(HumanTask.case_id == case_id,
                                                         HumanTask.bpmn_id == "analyse"))
    coordinator = _client(app)
    answer = coordinator.post(f"/taches/{step}", data={"mesure": "avdl",
                                                       "partage_operateur": "1"})
    assert answer.status_code == 302
    page = _page(coordinator, case_id)
    assert "Recueilli à une étape du circuit" in page
    assert "Étape « Analyser la demande »" in page
    assert HOUSEHOLD in _page(_client(app, "operateur-a@demo.test"), case_id)
