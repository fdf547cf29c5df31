"""Who reads what of a case, decided in ``access`` and applied by every service that shows
case data; a GET needs the same right as its POST (issue #10, finding 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.errors import NotFound, PermissionDenied
from engine.persistence.models import AuditEvent
from engine.services import cases, circuits, tasks
from engine.services.access import (
    FULL,
    MINIMAL,
    SYSTEM,
    Actor,
    case_reading,
    readable,
    reading_of,
)
from tests.integration.two_territories import Place, make_two

NO_FOLDER = Path("/nonexistent")  # refused before any reference circuit is read


@pytest.fixture
def two(session: Session, clock: FixedClock, tmp_path: Path) -> tuple[Place, Place]:
    return make_two(session, clock, tmp_path)


def _actor(territory: int, *roles: str) -> Actor:
    return Actor(user_id=1, roles={territory: frozenset(roles)})


@pytest.mark.parametrize(("roles", "consent", "expected"), [
    (("orienteur",), None, MINIMAL),
    (("orienteur",), False, MINIMAL),
    (("orienteur",), "oui", MINIMAL),  # only a real True is consent
    (("orienteur",), True, FULL),
    (("orienteur", "operateur"), None, FULL),  # also works for the platform
    (("operateur",), None, FULL),
    (("coordination",), None, FULL),
    (("admin",), None, FULL),
    ((), True, MINIMAL),  # no role there: never more than minimal
])
def test_case_reading_is_decided_in_one_place(roles: tuple[str, ...], consent: object,
                                              expected: str) -> None:
    assert case_reading(_actor(7, *roles), 7, {"orienteur"}, consent) == expected
    assert case_reading(SYSTEM, 7, {"orienteur"}, None) == FULL


def test_a_minimal_reader_reads_only_whether_consent_was_given() -> None:
    data = {"nom_menage": "X", "nb_enfants": 3, "accord_partage": False, "partage_sante": False}
    assert readable(MINIMAL, data) == {"accord_partage": False, "partage_sante": False}
    assert readable(FULL, data) == data


def test_step_instructions_show_no_case_data_to_a_partner_without_consent(
        session: Session, clock: FixedClock, two: tuple[Place, Place]) -> None:
    a, _ = two
    partner = a.people["partner"]
    assert reading_of(session, partner, a.territory_id, {"accord_partage": None}) == MINIMAL
    page = tasks.details(session, clock, partner, a.task_id)
    assert page.minimal and "7" not in page.instructions and "enfants" in page.instructions
    read = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.read")
                           .order_by(AuditEvent.id.desc())).first()
    assert read is not None and read.detail["minimal"] is True  # the journal says so
    assert "7 enfants" in tasks.details(session, clock, a.people["worker"],
                                        a.task_id).instructions
    agreed = tasks.details(session, clock, partner, a.consent_task_id)
    assert not agreed.minimal and "5 enfants" in agreed.instructions


def test_form_values_are_not_prefilled_for_a_minimal_reader(
        session: Session, clock: FixedClock, two: tuple[Place, Place]) -> None:
    a, _ = two
    # a first refusal sends the case back to the first step, its answer (``mesure``) kept
    tasks.complete(session, clock, a.people["worker"], a.decision_task_id,
                   {"decision": "refusee"})
    [step] = [t for t in cases.get(session, clock, SYSTEM, a.decision_case_id).open_tasks]
    assert tasks.details(session, clock, a.people["coordinator"], step.id).values == {
        "mesure": "avdl"}
    assert tasks.details(session, clock, a.people["partner"], step.id).values == {}


def test_the_diagram_is_refused_to_a_minimal_reader(session: Session, clock: FixedClock,
                                                    two: tuple[Place, Place]) -> None:
    a, _ = two
    partner = a.people["partner"]
    with pytest.raises(NotFound):
        cases.diagram(session, clock, partner, a.case_id)
    xml, current, _ = cases.diagram(session, clock, partner, a.consent_case_id)
    assert "analyse" in current and xml.startswith("<?xml")
    assert cases.diagram(session, clock, a.people["worker"], a.case_id)[1] == ["analyse"]


def test_the_case_page_timeline_and_steps_are_kept_from_a_minimal_reader(
        session: Session, clock: FixedClock, two: tuple[Place, Place]) -> None:
    a, _ = two
    detail = cases.get(session, clock, a.people["partner"], a.case_id)
    assert detail.minimal and detail.data == {} and detail.facts == []
    assert detail.timeline == [] and detail.completed_steps == [] and detail.timers == []
    assert detail.open_tasks  # the step to act on stays visible
    assert not cases.get(session, clock, a.people["partner"], a.consent_case_id).minimal


def test_repairing_a_case_is_for_its_administrators_only_also_to_look(
        session: Session, clock: FixedClock, two: tuple[Place, Place]) -> None:
    a, b = two
    for role in ("worker", "partner", "coordinator"):
        with pytest.raises(PermissionDenied):
            cases.repair_page(session, clock, a.people[role], a.decision_case_id)
    with pytest.raises(NotFound):
        cases.repair_page(session, clock, b.people["admin"], a.decision_case_id)
    detail, steps = cases.repair_page(session, clock, a.people["admin"], a.decision_case_id)
    assert steps == [("analyse", "Analyser la demande")] and not detail.minimal


def test_circuit_changes_are_for_the_coordination_only(session: Session, clock: FixedClock,
                                                       two: tuple[Place, Place]) -> None:
    a, b = two
    for role in ("worker", "partner"):
        with pytest.raises(PermissionDenied):
            circuits.diff_versions(session, a.people[role], a.circuit_id, a.version_id,
                                   a.version_id)
        with pytest.raises(PermissionDenied):
            circuits.diff_reference(session, a.people[role], a.circuit_id, a.version_id,
                                    NO_FOLDER, NO_FOLDER)
    with pytest.raises(NotFound):
        circuits.diff_versions(session, b.people["coordinator"], a.circuit_id, a.version_id,
                               a.version_id)
    view = circuits.diff_versions(session, a.people["coordinator"], a.circuit_id, a.version_id,
                                  a.version_id)
    assert view.changes == []
