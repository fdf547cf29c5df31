"""The rights of the person (issue #16, item 3): what is held about a household, exported
for its coordination, lists every place its data lives; a correction of its identity is
made everywhere the case holds it and journalled with its reason, never with the values.
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.core.consent import CATEGORIES
from engine.errors import FormInvalid, InvalidInput, NotFound, PermissionDenied
from engine.persistence.db import Base
from engine.persistence.models import AuditEvent, Case, Household, Orientation
from engine.services import answer_links, cases, households, subject_access
from engine.services.subject_access import SOURCES, SubjectFile
from tests.integration.factories import give_consent, make_party
from tests.integration.orientation_world import (
    Oriented,
    answer,
    new_case,
    open_step,
    orient,
    oriented_world,
)
from tests.integration.test_households import Place, household_circuit, place  # noqa: F401

# the rows a household's data lives in: a key to a case, a household or an orientation
KEYS = {"case.id", "household.id", "orientation.id"}
# the records themselves and the answers, shown in the document's first part
ITSELF = {"household", "case", "case_state"}


def _holding_tables() -> set[str]:
    """Every table with a foreign key to a case, a household or an orientation."""
    found = set()
    for table in Base.metadata.tables.values():
        for column in table.columns:
            if any(f"{fk.column.table.name}.{fk.column.name}" in KEYS
                   for fk in column.foreign_keys):
                found.add(table.name)
    return found | ITSELF


def _sources(file: SubjectFile) -> set[str]:
    found = {t.source for t in file.tables} | ITSELF
    for case in file.cases:
        found |= {t.source for t in case.tables}
    return found


@pytest.fixture
def oriented(session: Session, clock: FixedClock, tmp_path: Path) -> Oriented:
    return oriented_world(session, clock, tmp_path)


def _lived(session: Session, clock: FixedClock, where: Oriented) -> int:
    """A case that went through most of what a case can hold: a referrer party and its
    consent, an orientation refused, a link sent, a second accepted, a referent."""
    case_id = new_case(session, clock, where, "Ménage Export")
    give_consent(session, clock, case_id, "operator", CATEGORIES)
    orient(session, clock, where, case_id, where.free)
    orientation = session.scalar(select(Orientation.id).where(Orientation.case_id == case_id))
    assert orientation is not None and open_step(session, case_id, "decision")
    answer_links.send(session, clock, where.world.coordinator, orientation, "service@alpha.test")
    answer(session, clock, where.worker_a, case_id, decision="refusee",
           motifs_refus=["hors_secteur"])
    cases.get(session, clock, where.partner, case_id)  # a read by the referrer, journalled
    return case_id


def test_every_table_holding_a_households_data_is_a_source() -> None:
    """A new table keyed to a case, a household or an orientation must be said in the
    export (add it to ``subject_access.SOURCES`` and to the export)."""
    assert _holding_tables() <= set(SOURCES), _holding_tables() - set(SOURCES)
    assert all(SOURCES[key].strip() for key in SOURCES)


def test_the_export_lists_every_place_the_households_data_lives(
        session: Session, clock: FixedClock, oriented: Oriented) -> None:
    case_id = _lived(session, clock, oriented)
    record_id = session.scalar(select(Case.household_id).where(Case.id == case_id))
    assert record_id is not None
    held = subject_access.export(session, clock, oriented.world.coordinator, record_id)
    assert _holding_tables() <= _sources(held)
    [case] = held.cases
    assert held.name == "Ménage Export" and case.reference and case.circuit
    tables = {t.source: t for t in case.tables}
    # each place holds this household's rows, in words
    assert any(row[0] == "Analyser la demande" for row in tables["human_task"].rows)
    assert {row[0] for row in tables["case_party"].rows} >= {"Structure qui oriente"}
    assert {row[1] for row in tables["case_consent"].rows} == {"Accompagnement"}
    assert [row[2] for row in tables["orientation"].rows] == ["Refusée"]
    assert [row[1] for row in tables["answer_link"].rows] == ["service@alpha.test"]
    assert [row[3] for row in tables["orientation_event"].rows][-1] == "Refusée"
    readers = {(row[1], row[2]) for row in tables["audit_event"].rows}
    assert ("Ccas", "Lecture du dossier") in readers
    assert dict(case.facts)["Nom du ménage"] == "Ménage Export"
    # the export itself is journalled on the case, then the JSON tells the same
    assert session.scalar(select(AuditEvent.id).where(
        AuditEvent.case_id == case_id, AuditEvent.action == "household.export")) is not None
    data = subject_access.as_json(held)
    text = json.dumps(data, ensure_ascii=False)
    assert data["menage"]["nom"] == "Ménage Export" and "service@alpha.test" in text
    assert {s["source"] for s in data["ou_sont_les_donnees"]} == set(SOURCES)
    assert "aiguillage_seq" not in text and "token" not in text


def test_a_merged_households_cases_are_all_in_the_export(
        session: Session, clock: FixedClock, oriented: Oriented) -> None:
    first = new_case(session, clock, oriented, "Ménage Double")
    second = new_case(session, clock, oriented, "Ménage Double")
    [match] = households.duplicates(session, clock, oriented.world.coordinator,
                                    oriented.world.territory.id).items
    households.merge(session, clock, oriented.world.coordinator, match.id)
    kept = session.scalar(select(Case.household_id).where(Case.id == first))
    assert kept is not None
    held = subject_access.export(session, clock, oriented.world.coordinator, kept)
    assert {c.id for c in held.cases} == {first, second}
    merged_table = {t.source: t for t in held.tables}["household_match"]
    assert [row[3] for row in merged_table.rows] == ["Fusionné"]


def test_only_the_coordination_exports(session: Session, clock: FixedClock,
                                       oriented: Oriented) -> None:
    case_id = new_case(session, clock, oriented, "Ménage Secret")
    record_id = session.scalar(select(Case.household_id).where(Case.id == case_id))
    assert record_id is not None
    with pytest.raises(PermissionDenied):  # the referrer reads the case, may not export
        subject_access.export(session, clock, oriented.partner, record_id)
    with pytest.raises(NotFound):  # an operator with no part in it: no such household
        subject_access.export(session, clock, oriented.worker_b, record_id)
    with pytest.raises(NotFound):  # another territory's coordination
        subject_access.export(session, clock, oriented.world.outsider, record_id)
    for wrong in (0, -1, 2**31, 10**30, record_id + 1000):
        with pytest.raises(NotFound):
            subject_access.export(session, clock, oriented.world.coordinator, wrong)
    assert session.scalar(select(AuditEvent.id).where(
        AuditEvent.action == "household.export")) is None


# --------------------------------------------------------------------------- rectification


def test_identity_is_corrected_everywhere_and_journalled_without_values(
        session: Session, place: Place) -> None:  # noqa: F811
    case_id = place.open(session, "Ménage Dupont", 1980, "Démoville")
    form = subject_access.identity_form(session, place.clock, place.world.coordinator, case_id)
    assert [f.name for f in form.spec.fields] == [
        "nom_menage", "annee_naissance", "commune", subject_access.REASON_FIELD]
    assert form.values == {"nom_menage": "Ménage Dupont", "annee_naissance": 1980,
                           "commune": "Démoville"}
    changed = subject_access.correct_identity(
        session, place.clock, place.world.coordinator, case_id,
        {"nom_menage": "Ménage Dupond", "annee_naissance": 1981, "commune": "Démoville"},
        "Nom mal orthographié à la saisine")
    assert changed == ["Nom du ménage", "Année de naissance (personne de référence)"]
    session.expire_all()
    case = session.get(Case, case_id)
    assert case is not None and case.household_name == "Ménage Dupond"
    record = session.get(Household, case.household_id)
    assert record is not None
    assert (record.name, record.name_key, record.birth_year) == ("Ménage Dupond", "dupond", 1981)
    detail = cases.get(session, place.clock, place.world.coordinator, case_id)
    assert dict(detail.facts)["Nom du ménage"] == "Ménage Dupond"
    # (the facts are the data the next step reads: the corrected answer)
    event = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "case.identity_corrected")).one()
    assert event.detail["reason"] == "Nom mal orthographié à la saisine"
    assert "Dupon" not in json.dumps(event.detail) and "1980" not in json.dumps(event.detail)


def test_a_wrong_correction_changes_nothing(session: Session, place: Place) -> None:  # noqa: F811
    case_id = place.open(session, "Ménage Durand", 1975)
    coordinator = place.world.coordinator
    before = session.scalar(select(Case.version).where(Case.id == case_id))
    with pytest.raises(FormInvalid) as refused:
        subject_access.correct_identity(session, place.clock, coordinator, case_id,
                                        {"nom_menage": "Ménage Durant"}, "  ")
    assert subject_access.REASON_FIELD in refused.value.errors
    with pytest.raises(FormInvalid) as refused:
        subject_access.correct_identity(session, place.clock, coordinator, case_id,
                                        {"annee_naissance": 2999}, "Erreur de saisie")
    assert "annee_naissance" in refused.value.errors
    with pytest.raises(FormInvalid):
        subject_access.correct_identity(session, place.clock, coordinator, case_id,
                                        {"nom_menage": "x" * 5000}, "Erreur de saisie")
    with pytest.raises(InvalidInput):  # not an identity answer
        subject_access.correct_identity(session, place.clock, coordinator, case_id,
                                        {"motif_demande": "autre"}, "Erreur de saisie")
    with pytest.raises(PermissionDenied):  # a partner of the case may read it, not correct it
        make_party(session, place.clock, case_id, "referrer", place.referrer)
        give_consent(session, place.clock, case_id, "referrer", CATEGORIES)
        subject_access.correct_identity(session, place.clock, place.partner, case_id,
                                        {"nom_menage": "Ménage Durant"}, "Erreur de saisie")
    with pytest.raises(NotFound):
        subject_access.correct_identity(session, place.clock, coordinator, 2**31,
                                        {"nom_menage": "Ménage Durant"}, "Erreur de saisie")
    # the same values: nothing written, nothing journalled
    assert subject_access.correct_identity(session, place.clock, coordinator, case_id,
                                           {"nom_menage": "Ménage Durand"}, "Vérifié") == []
    session.expire_all()
    assert session.scalar(select(Case.version).where(Case.id == case_id)) == before
    assert session.scalar(select(Case.household_name).where(Case.id == case_id)) == \
        "Ménage Durand"
    assert session.scalar(select(AuditEvent.id).where(
        AuditEvent.action == "case.identity_corrected")) is None
