"""The directory pages (/annuaire): list with search and filters, an entry's page with its
places and history, the entry and places forms, deactivation, CSV export and import; rights
(another territory 404, an operator edits only its own entries, a forged POST is refused and
changes nothing) and bad input (NUL bytes, 30-digit ids, over-long text: never a 500)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.clock import FixedClock
from engine.core.bundles import Role
from engine.core.bundles import Territory as TerritoryFile
from engine.persistence.models import AuditEvent, DirectoryPlaceChange, DirectoryService
from engine.services import directory
from engine.services.access import SYSTEM
from engine.services.directory import Entry
from engine.services.territories import ensure_territory
from tests.integration.factories import PASSWORD, make_org, make_user

ROLES = (Role("coordination", "Coordination"), Role("operateur", "Opérateur"))


@dataclass
class Place:
    app: Flask
    territory_id: int
    relais: int
    horizon: int
    avdl: int  # run by Relais
    asll: int  # run by Horizon
    other_service: int  # of another territory


def _entry(organisation_id: int, name: str, measure: str = "avdl", places: int = 3,
           capacity: int = 10) -> Entry:
    return Entry(organisation_id=organisation_id, measure=measure, name=name,
                 description="Accompagnement", domains=("housing",),
                 communes=("Démoville",), capacity=capacity, places_available=places,
                 phone="05 00 00 00 00", hours_walk_in="Lundi 9 h – 12 h")


@pytest.fixture
def place(any_app: Flask, clock: FixedClock) -> Place:
    with any_app.extensions["aiguillage"].sessions() as session:
        here = ensure_territory(session, clock, SYSTEM, TerritoryFile("ici", "Ici", ROLES)).id
        there = ensure_territory(session, clock, SYSTEM, TerritoryFile("la", "Là", ROLES)).id
        relais = make_org(session, clock, here, "Association Relais")
        horizon = make_org(session, clock, here, "Association Horizon")
        far = make_org(session, clock, there, "Association Lointaine")
        make_user(session, clock, "coord@ici.test", here, "coordination")
        make_user(session, clock, "relais@ici.test", here, "operateur", organisation=relais)
        make_user(session, clock, "horizon@ici.test", here, "operateur", organisation=horizon)
        make_user(session, clock, "coord@la.test", there, "coordination")
        avdl = directory.create(session, clock, SYSTEM, here, _entry(relais, "AVDL Relais"))
        asll = directory.create(session, clock, SYSTEM, here,
                                _entry(horizon, "ASLL Horizon", "asll", places=0))
        other = directory.create(session, clock, SYSTEM, there, _entry(far, "AVDL Lointain"))
    return Place(any_app, here, relais, horizon, avdl, asll, other)


def _client(place: Place, email: str) -> FlaskClient:
    client = place.app.test_client()
    assert client.post("/connexion", data={"email": email, "password": PASSWORD}
                       ).status_code == 302
    return client


def _row(place: Place, service_id: int) -> DirectoryService:
    with place.app.extensions["aiguillage"].sessions() as session:
        row = session.get(DirectoryService, service_id)
        assert row is not None
        return row


def _count(place: Place, model: type, **where: object) -> int:
    with place.app.extensions["aiguillage"].sessions() as session:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return session.scalar(query) or 0


def test_a_member_searches_and_reads_labels_not_codes(place: Place) -> None:
    client = _client(place, "horizon@ici.test")
    page = client.get("/annuaire/")
    assert page.status_code == 200
    assert ">Annuaire</a>" in page.text  # the navigation link
    assert "AVDL Relais" in page.text and "ASLL Horizon" in page.text
    assert "AVDL Lointain" not in page.text
    assert "3 places disponibles sur 10" in page.text
    assert "Aucune place disponible sur 10" in page.text
    assert "AVDL — Accompagnement vers et dans le logement" in page.text
    assert ">avdl<" not in page.text
    assert "Ajouter un service" not in page.text  # coordination only
    only = client.get("/annuaire/?places=1&mesure=avdl&domaine=housing&commune=demo")
    assert "AVDL Relais" in only.text and "ASLL Horizon" not in only.text
    shown = client.get(f"/annuaire/{place.avdl}")
    assert shown.status_code == 200 and "Lundi 9 h – 12 h" in shown.text
    assert "Accès et maintien dans le logement" in shown.text
    assert "Mettre à jour les places" not in shown.text  # not Horizon's entry
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", shown.text)  # no ISO timestamps


def test_another_territory_is_not_found(place: Place) -> None:
    client = _client(place, "coord@la.test")
    for url in (f"/annuaire/{place.avdl}", f"/annuaire/{place.avdl}/modifier"):
        assert client.get(url).status_code == 404
    assert client.post(f"/annuaire/{place.avdl}/places",
                       data={"places": "0", "comment": "x"}).status_code == 404
    assert client.post(f"/annuaire/{place.avdl}/etat").status_code == 404
    assert _row(place, place.avdl).places_available == 3
    listed = client.get(f"/annuaire/?territoire={place.territory_id}")
    assert "AVDL Relais" not in listed.text and "AVDL Lointain" in listed.text


def test_an_operator_updates_its_own_places_with_history(place: Place) -> None:
    client = _client(place, "relais@ici.test")
    answer = client.post(f"/annuaire/{place.avdl}/places",
                         data={"places": "1", "waiting_list": "4",
                               "comment": "Deux entrées cette semaine"})
    assert answer.status_code == 302
    shown = client.get(f"/annuaire/{place.avdl}").text
    assert "1 place disponible sur 10" in shown and "4 ménages en liste d’attente" in shown
    assert "Deux entrées cette semaine" in shown and "Relais" in shown
    # every required box is enforced on the server
    missing = client.post(f"/annuaire/{place.avdl}/places", data={"places": "2"})
    assert missing.status_code == 422 and "Ce champ est à renseigner." in missing.text
    over = client.post(f"/annuaire/{place.avdl}/places", data={"places": "11", "comment": "x"})
    assert over.status_code == 422
    assert "plus de places disponibles que de places au total" in over.text
    assert _row(place, place.avdl).places_available == 1


def test_a_forged_post_on_another_organisation_is_refused_and_audited(place: Place) -> None:
    client = _client(place, "relais@ici.test")
    before = _count(place, DirectoryPlaceChange)
    assert client.post(f"/annuaire/{place.asll}/places",
                       data={"places": "5", "comment": "forgé"}).status_code == 403
    assert client.post(f"/annuaire/{place.asll}/modifier", data={
        "organisation_id": place.relais, "measure": "asll", "name": "Volé"}).status_code == 403
    assert client.get(f"/annuaire/{place.asll}/modifier").status_code == 403
    assert client.post(f"/annuaire/{place.asll}/etat").status_code == 403
    assert client.post("/annuaire/nouveau", data={
        "organisation_id": place.relais, "measure": "avdl", "name": "Nouveau"}).status_code == 403
    row = _row(place, place.asll)
    assert (row.name, row.places_available, row.active) == ("ASLL Horizon", 0, True)
    assert _count(place, DirectoryPlaceChange) == before
    assert _count(place, AuditEvent, action="directory.refused") == 4  # and the creation


def test_the_coordinator_creates_edits_and_deactivates(place: Place) -> None:
    client = _client(place, "coord@ici.test")
    form = client.get(f"/annuaire/nouveau?territoire={place.territory_id}")
    assert form.status_code == 200 and "obligatoire" in form.text
    empty = client.post("/annuaire/nouveau", data={"name": ""})
    assert empty.status_code == 422 and "Le service n’a pas été enregistré" in empty.text
    assert 'aria-describedby="name-erreur"' in empty.text
    created = client.post("/annuaire/nouveau", data={
        "organisation_id": place.horizon, "measure": "iml", "name": "IML Horizon",
        "domains": ["housing", "finance"], "communes": "Démoville\nBourg-Sud",
        "capacity": "8", "places_available": "2", "charter_signed": "y"})
    assert created.status_code == 302
    new_id = int(created.headers["Location"].rsplit("/", 1)[1])
    row = _row(place, new_id)
    assert (row.measure, row.communes, row.domains) == ("iml", ["Démoville", "Bourg-Sud"],
                                                       ["housing", "finance"])
    edited = client.post(f"/annuaire/{new_id}/modifier", data={
        "organisation_id": place.horizon, "measure": "iml", "name": "IML Horizon",
        "capacity": "8", "places_available": "1", "comment": "Une entrée"})
    assert edited.status_code == 302
    assert "Une entrée" in client.get(f"/annuaire/{new_id}").text
    assert client.post(f"/annuaire/{new_id}/etat").status_code == 302
    assert not _row(place, new_id).active
    assert "IML Horizon" not in client.get("/annuaire/").text
    assert "IML Horizon" in client.get("/annuaire/?inactifs=1").text
    assert client.post(f"/annuaire/{new_id}/etat", data={"actif": "1"}).status_code == 302
    assert _row(place, new_id).active


def test_csv_export_then_import_round_trip(place: Place) -> None:
    client = _client(place, "coord@ici.test")
    exported = client.get("/annuaire/export.csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    text = exported.get_data().decode("utf-8-sig")
    assert text.startswith("id;structure_nom;nom;type_mesure;presentation_resume")
    changed = text.replace("AVDL Relais", "AVDL Relais (nord)")
    answer = client.post("/annuaire/import", data={
        "file": (io.BytesIO(changed.encode("utf-8-sig")), "annuaire.csv")},
        content_type="multipart/form-data")
    assert answer.status_code == 302
    assert _row(place, place.avdl).name == "AVDL Relais (nord)"
    assert "1 modifié" in client.get("/annuaire/").text


def test_a_bad_csv_is_refused_whole_with_its_lines(place: Place) -> None:
    client = _client(place, "coord@ici.test")
    text = client.get("/annuaire/export.csv").get_data().decode("utf-8-sig")
    bad = text.replace("AVDL Relais", "Renommé") + \
        ";Inconnue;;avdl;;;commune;;;;;;;;;;;;;;\n"
    answer = client.post("/annuaire/import", data={
        "file": (io.BytesIO(bad.encode()), "annuaire.csv")}, content_type="multipart/form-data")
    assert answer.status_code == 422
    assert "Le fichier contient des erreurs (2)" in answer.text
    assert "ligne 4, colonne « structure_nom » : organisation inconnue" in answer.text
    assert "ligne 4, colonne « nom » : à renseigner" in answer.text
    assert _row(place, place.avdl).name == "AVDL Relais"
    assert _count(place, DirectoryService) == 3
    binary = client.post("/annuaire/import", data={
        "file": (io.BytesIO(b"\xff\xfe\x00"), "x.csv")}, content_type="multipart/form-data")
    assert binary.status_code in (400, 422)
    operator = _client(place, "relais@ici.test")
    assert operator.get("/annuaire/export.csv").status_code == 403
    assert operator.post("/annuaire/import", data={
        "file": (io.BytesIO(text.encode()), "a.csv")},
        content_type="multipart/form-data").status_code == 403
    assert _count(place, AuditEvent, action="directory.refused") == 1  # the import
    assert _row(place, place.avdl).name == "AVDL Relais"


@pytest.mark.parametrize("url", [
    "/annuaire/?q=a%00b", "/annuaire/?commune=%00", "/annuaire/1%00",
])
def test_a_nul_byte_is_a_400(place: Place, url: str) -> None:
    assert _client(place, "coord@ici.test").get(url).status_code in (400, 404)


def test_bad_input_is_refused_never_a_500(place: Place) -> None:
    client = _client(place, "coord@ici.test")
    huge = "9" * 30
    assert client.get(f"/annuaire/{huge}").status_code == 404
    assert client.post(f"/annuaire/{huge}/places", data={"places": "1"}).status_code == 404
    assert client.get(f"/annuaire/?page={huge}").status_code == 400
    assert client.get("/annuaire/?mesure=inconnue").status_code == 400
    assert client.get("/annuaire/?q=" + "x" * 101).status_code == 422
    long_name = client.post(f"/annuaire/{place.avdl}/modifier", data={
        "organisation_id": place.relais, "measure": "avdl", "name": "x" * 201})
    assert long_name.status_code == 422
    big_number = client.post(f"/annuaire/{place.avdl}/places",
                             data={"places": huge, "comment": "x"})
    assert big_number.status_code == 422
    nul = client.post(f"/annuaire/{place.avdl}/places", data={"places": "1",
                                                               "comment": "a\x00b"})
    assert nul.status_code == 400
    unknown_org = client.post(f"/annuaire/{place.avdl}/modifier", data={
        "organisation_id": huge, "measure": "avdl", "name": "x"})
    assert unknown_org.status_code == 422
    assert _row(place, place.avdl).name == "AVDL Relais"
