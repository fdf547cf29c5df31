"""The directory of services (issue #13, item 1): read by every member of a territory, kept by
its coordination and by each organisation for its own entries; places with their history;
search in SQL; CSV export and import refused whole on one wrong line. SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.core.bundles import Role
from engine.core.bundles import Territory as TerritoryFile
from engine.errors import InvalidInput, NotFound, PermissionDenied
from engine.persistence.models import AuditEvent, DirectoryPlaceChange, DirectoryService
from engine.services import directory, directory_csv, directory_seed
from engine.services.access import SYSTEM, Actor
from engine.services.directory import Entry, EntryRefused, Filters
from engine.services.directory_csv import ImportRefused
from engine.services.territories import ensure_territory
from tests.integration.factories import make_org, make_user

ROLES = (Role("coordination", "Coordination"), Role("operateur", "Opérateur"))


@dataclass
class Place:
    territory_id: int
    relais: int
    horizon: int
    coordinator: Actor
    relais_worker: Actor
    horizon_worker: Actor
    avdl: int  # Relais's AVDL
    other_territory: int
    other_coordinator: Actor
    other_service: int


def _entry(organisation_id: int, **changes: object) -> Entry:
    base = Entry(organisation_id=organisation_id, measure="avdl", name="AVDL Relais",
                 description="Accompagnement vers le logement", domains=("housing",),
                 communes=("Démoville", "Bourg-Sud"), public="Ménages prioritaires",
                 capacity=10, places_available=3, phone="05 00 00 00 00",
                 email="avdl@relais.invalid", hours_walk_in="Lundi 9 h – 12 h",
                 languages="français")
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def place(session: Session, clock: FixedClock) -> Place:
    here = ensure_territory(session, clock, SYSTEM, TerritoryFile("ici", "Ici", ROLES)).id
    there = ensure_territory(session, clock, SYSTEM, TerritoryFile("la", "Là-bas", ROLES)).id
    relais = make_org(session, clock, here, "Association Relais")
    horizon = make_org(session, clock, here, "Association Horizon")
    elsewhere = make_org(session, clock, there, "Association Lointaine")
    coordinator = make_user(session, clock, "coord@ici.test", here, "coordination")
    relais_worker = make_user(session, clock, "relais@ici.test", here, "operateur",
                              organisation=relais)
    horizon_worker = make_user(session, clock, "horizon@ici.test", here, "operateur",
                               organisation=horizon)
    other = make_user(session, clock, "coord@la.test", there, "coordination")
    avdl = directory.create(session, clock, coordinator, here, _entry(relais))
    other_service = directory.create(session, clock, other, there,
                                     _entry(elsewhere, name="AVDL Lointain"))
    return Place(here, relais, horizon, coordinator, relais_worker, horizon_worker, avdl,
                 there, other, other_service)


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_every_member_reads_and_another_territory_is_not_found(session: Session,
                                                               place: Place) -> None:
    found = directory.search(session, place.horizon_worker, place.territory_id, Filters())
    assert [s.name for s in found.items] == ["AVDL Relais"]
    assert found.items[0].organisation == "Association Relais"
    shown = directory.get(session, place.horizon_worker, place.avdl)
    assert shown.entry.communes == ("Démoville", "Bourg-Sud") and not shown.may_edit
    with pytest.raises(NotFound):
        directory.get(session, place.coordinator, place.other_service)
    with pytest.raises(NotFound):
        directory.search(session, place.coordinator, place.other_territory, Filters())


def test_an_operator_edits_only_its_own_entries(session: Session, clock: FixedClock,
                                                place: Place) -> None:
    directory.update(session, clock, place.relais_worker, place.avdl,
                     _entry(place.relais, name="AVDL Relais — nord"))
    assert directory.get(session, place.coordinator, place.avdl).entry.name == "AVDL Relais — nord"
    before = _count(session, AuditEvent)
    with pytest.raises(PermissionDenied):
        directory.update(session, clock, place.horizon_worker, place.avdl,
                         _entry(place.relais, name="Pris par Horizon"))
    with pytest.raises(PermissionDenied):
        directory.update_places(session, clock, place.horizon_worker, place.avdl, 0, "essai")
    with pytest.raises(NotFound):
        directory.update(session, clock, place.other_coordinator, place.avdl,
                         _entry(place.relais, name="Pris d'ailleurs"))
    session.expire_all()
    row = session.get(DirectoryService, place.avdl)
    assert row is not None and row.name == "AVDL Relais — nord" and row.places_available == 3
    refused = session.scalars(select(AuditEvent.detail).where(
        AuditEvent.action == "directory.refused")).all()
    assert len(refused) == 3 and _count(session, AuditEvent) == before + 3
    # an operator cannot give its entry to another organisation, nor create or deactivate
    with pytest.raises(EntryRefused) as refusal:
        directory.update(session, clock, place.relais_worker, place.avdl,
                         _entry(place.horizon))
    assert "organisation_id" in refusal.value.errors
    with pytest.raises(PermissionDenied):
        directory.create(session, clock, place.relais_worker, place.territory_id,
                         _entry(place.relais))
    with pytest.raises(PermissionDenied):
        directory.set_active(session, clock, place.relais_worker, place.avdl, False)


def test_places_keep_their_history(session: Session, clock: FixedClock, place: Place) -> None:
    directory.update_places(session, clock, place.relais_worker, place.avdl, 1,
                            "Deux entrées cette semaine", waiting_list=4)
    clock.advance(timedelta(hours=2))
    directory.update_places(session, clock, place.coordinator, place.avdl, 2, "Une sortie")
    shown = directory.get(session, place.horizon_worker, place.avdl)
    assert shown.entry.places_available == 2
    assert [(h.before, h.after, h.comment) for h in shown.history] == [
        (1, 2, "Une sortie"), (3, 1, "Deux entrées cette semaine"),
        (None, 3, "Création du service")]
    assert shown.history[1].who == "Relais"
    with pytest.raises(EntryRefused) as refusal:
        directory.update_places(session, clock, place.relais_worker, place.avdl, 11, "trop")
    assert refusal.value.errors_in("fr") == {
        "places_available": ["plus de places disponibles que de places au total"]}
    assert _count(session, DirectoryPlaceChange) == 4  # three here, one for the other place


def test_search_filters_in_sql(session: Session, clock: FixedClock, place: Place) -> None:
    directory.create(session, clock, place.coordinator, place.territory_id, _entry(
        place.horizon, measure="asll", name="ASLL Horizon", domains=("finance",),
        communes=("Saint-Clair",), places_available=0, description="Aide budgétaire"))
    directory.create(session, clock, place.coordinator, place.territory_id, _entry(
        place.horizon, measure="iml", name="Location solidaire", communes=("Démoville",),
        places_available=None, capacity=None))

    def names(**filters: object) -> list[str]:
        page = directory.search(session, place.relais_worker, place.territory_id,
                                Filters(**filters))  # type: ignore[arg-type]
        return [s.name for s in page.items]

    assert names() == ["ASLL Horizon", "AVDL Relais", "Location solidaire"]
    assert names(text="budgetaire") == ["ASLL Horizon"]  # accents folded
    assert names(text="horizon") == ["ASLL Horizon", "Location solidaire"]  # organisation
    assert names(measure="iml") == ["Location solidaire"]
    assert names(domain="finance") == ["ASLL Horizon"]
    assert names(commune="demov") == ["AVDL Relais", "Location solidaire"]
    assert names(available_only=True) == ["AVDL Relais"]
    assert names(text="100%_") == []  # LIKE wildcards are plain text
    with pytest.raises(InvalidInput):
        names(measure="inconnue")
    with pytest.raises(InvalidInput):
        names(text="x" * 101)
    directory.set_active(session, clock, place.coordinator, place.avdl, False)
    assert "AVDL Relais" not in names()


def test_bad_values_are_refused_all_at_once(session: Session, clock: FixedClock,
                                            place: Place) -> None:
    with pytest.raises(EntryRefused) as refusal:
        directory.create(session, clock, place.coordinator, place.territory_id, _entry(
            place.relais, name=" ", measure="inconnue", domains=("nulle",),
            capacity=-1, email="pas-une-adresse", description="x" * 2001))
    assert set(refusal.value.errors) == {"name", "measure", "domains", "capacity", "email",
                                         "description", "places_available"}
    with pytest.raises(EntryRefused):  # an organisation of another territory
        directory.create(session, clock, place.coordinator, place.territory_id,
                         _entry(place.relais + 1000))
    assert _count(session, DirectoryService) == 2


def _csv(session: Session, clock: FixedClock, place: Place) -> str:
    rows = directory_csv.export_rows(session, clock, place.coordinator, place.territory_id)
    return "\n".join(";".join(f'"{c}"' for c in row) for row in rows) + "\n"


def test_csv_round_trip(session: Session, clock: FixedClock, place: Place) -> None:
    text = _csv(session, clock, place)
    assert text.splitlines()[0].startswith('"id";"structure_nom";"nom";"type_mesure"')
    assert "AVDL — Accompagnement vers et dans le logement" in text  # labels, not keys
    assert directory_csv.import_csv(session, clock, place.coordinator, place.territory_id,
                                text) == directory_csv.Imported(0, 0)
    changed = text.replace("AVDL Relais", "AVDL Relais modifié").replace('"3"', '"2"')
    added = changed + ('"";"Association Horizon";"ASLL Horizon";"asll";"Budget";'
                       '"Précarité financière | housing";"commune";"Bourg-Sud | Démoville";'
                       '"";"5";"1";"";"";"";"";"";"";"";"oui";"oui";""\n')
    assert directory_csv.import_csv(session, clock, place.coordinator, place.territory_id,
                                added) == directory_csv.Imported(1, 1)
    page = directory.search(session, place.coordinator, place.territory_id, Filters())
    assert [(s.name, s.places_available) for s in page.items] == [
        ("ASLL Horizon", 1), ("AVDL Relais modifié", 2)]
    shown = directory.get(session, place.coordinator, page.items[0].id)
    assert shown.entry.domains == ("finance", "housing")
    assert shown.entry.communes == ("Bourg-Sud", "Démoville")
    assert directory.get(session, place.coordinator, place.avdl).history[0].comment == \
        "Import CSV"


def test_a_bad_csv_is_refused_whole(session: Session, clock: FixedClock, place: Place) -> None:
    text = _csv(session, clock, place).replace("AVDL Relais", "Renommé")
    bad = text + ('"";"Organisation inconnue";"";"mesure inconnue";"";"Domaine inconnu";'
                  '"commune";"";"";"dix";"3";"";"";"pas-une-adresse";"";"";"";"";"peut-être";'
                  '"oui";""\n'
                  f'"{place.other_service}";"Association Relais";"Volé";"avdl";"";"";'
                  '"commune";"";"";"";"";"";"";"";"";"";"";"";"";"";""\n')
    with pytest.raises(ImportRefused) as refusal:
        directory_csv.import_csv(session, clock, place.coordinator, place.territory_id, bad)
    lines = refusal.value.lines_in("fr")
    assert "ligne 3, colonne « structure_nom » : organisation inconnue dans ce territoire" \
        in lines
    assert "ligne 3, colonne « nom » : à renseigner" in lines
    assert "ligne 3, colonne « capacite » : nombre entier attendu" in lines
    assert "ligne 3, colonne « charte_signee » : « oui » ou « non » attendu" in lines
    assert any(line.startswith("ligne 4, colonne « id » : aucun service n°") for line in lines)
    assert refusal.value.lines_in("en")[0].startswith("line 3, column")
    session.expire_all()
    assert directory.get(session, place.coordinator, place.avdl).entry.name == "AVDL Relais"
    assert _count(session, DirectoryService) == 2
    with pytest.raises(InvalidInput):
        directory_csv.import_csv(session, clock, place.coordinator, place.territory_id,
                             "nom;autre\nx;y\n")
    with pytest.raises(PermissionDenied):
        directory_csv.import_csv(session, clock, place.relais_worker, place.territory_id, text)
    with pytest.raises(PermissionDenied):
        directory_csv.export_rows(session, clock, place.relais_worker, place.territory_id)


def test_the_export_neutralised_formula_comes_back_as_typed(session: Session,
                                                            clock: FixedClock,
                                                            place: Place) -> None:
    directory.update(session, clock, place.coordinator, place.avdl,
                     _entry(place.relais, public="=SOMME(A1)"))
    text = _csv(session, clock, place).replace('"=SOMME(A1)"', "\"'=SOMME(A1)\"")
    directory_csv.import_csv(session, clock, place.coordinator, place.territory_id, text)
    assert directory.get(session, place.coordinator, place.avdl).entry.public == "=SOMME(A1)"


def test_the_demo_seed_and_bench_generation(session: Session, clock: FixedClock,
                                            place: Place) -> None:
    orgs = {part: place.relais for part in ("operator", "operator_b", "specialised",
                                             "referrer", "landlord", "platform")}
    assert directory_seed.seed_demo(session, clock, place.territory_id, orgs) == 15
    assert directory_seed.generate(session, clock, place.territory_id, 120) == 120
    page = directory.search(session, place.coordinator, place.territory_id,
                            Filters(measure="avdl", available_only=True))
    assert page.total > 0 and all(s.measure == "avdl" for s in page.items)


def test_a_place_is_taken_and_given_back_within_bounds(session: Session, clock: FixedClock,
                                                       place: Place) -> None:
    directory.update_places(session, clock, place.coordinator, place.avdl, 1, "Recompte")
    assert directory.take_place(session, clock, place.relais_worker, place.avdl,
                                "Orientation acceptée")
    assert not directory.take_place(session, clock, place.relais_worker, place.avdl, "Pleine")
    for _ in range(10):
        assert directory.give_back_place(session, clock, place.coordinator, place.avdl, "Fin")
    assert not directory.give_back_place(session, clock, place.coordinator, place.avdl, "Fin")
    shown = directory.get(session, place.coordinator, place.avdl)
    assert shown.entry.places_available == 10
    assert [h.after for h in shown.history[-3:]] == [0, 1, 3]
    with pytest.raises(PermissionDenied):
        directory.take_place(session, clock, place.horizon_worker, place.avdl, "forgé")
