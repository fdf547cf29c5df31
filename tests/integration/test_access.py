"""Who reads what of a case, decided in ``access`` (parties, the household's consent by
part and category, the steps to act on: issue #12) and applied by every service that shows
case data; a GET needs the same right as its POST (issue #10, finding 3)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.core.consent import ALL_CATEGORIES
from engine.errors import NotFound, PermissionDenied
from engine.persistence.models import AuditEvent, HumanTask
from engine.services import audit, cases, circuits, oversight, tasks, team
from engine.services.access import SYSTEM, View, case_view, data_categories
from tests.integration.factories import give_consent, make_org, make_party, make_user
from tests.integration.two_territories import Place, make_two

NO_FOLDER = Path("/nonexistent")  # refused before any reference circuit is read


@pytest.fixture
def two(session: Session, clock: FixedClock, tmp_path: Path) -> tuple[Place, Place]:
    return make_two(session, clock, tmp_path)


def _step(session: Session, case_id: int, bpmn_id: str) -> int:
    task_id = session.scalar(select(HumanTask.id).where(
        HumanTask.case_id == case_id, HumanTask.bpmn_id == bpmn_id, HumanTask.status == "open"))
    assert task_id is not None
    return task_id


def _at_decision(session: Session, clock: FixedClock, a: Place, name: str) -> int:
    """A case of A's operator and referrer organisations, without consent, waiting on the
    operator's decision (a step of the worker's role)."""
    coordinator = a.people["coordinator"]
    case_id = cases.start(session, clock, coordinator, a.circuit_id,
                          {"nom_menage": name, "nb_enfants": 4}).id
    make_party(session, clock, case_id, "operator", a.operator_org)
    make_party(session, clock, case_id, "referrer", a.referrer_org)
    tasks.complete(session, clock, coordinator, _step(session, case_id, "analyse"),
                   {"mesure": "asll"})
    return case_id


def test_the_rule_reads_parties_consent_and_steps(session: Session, clock: FixedClock,
                                                  two: tuple[Place, Place]) -> None:
    a, b = two
    now = clock.now()
    worker, partner = a.people["worker"], a.people["partner"]
    for who in ("coordinator", "admin"):
        assert case_view(session, a.people[who], a.case_id, a.territory_id, now).whole
    assert case_view(session, SYSTEM, a.case_id, a.territory_id, now).whole
    # a party without consent: the minimal view; with it: the categories it covers
    assert case_view(session, worker, a.case_id, a.territory_id, now).minimal
    assert case_view(session, partner, a.case_id, a.territory_id, now).minimal
    agreed = case_view(session, worker, a.consent_case_id, a.territory_id, now)
    assert agreed.categories == ALL_CATEGORIES and not agreed.whole and agreed.shows_name
    # someone of another territory: out of reach, whatever the role
    with pytest.raises(NotFound):
        case_view(session, b.people["worker"], a.case_id, a.territory_id, now)


def test_consent_withdrawn_or_past_its_end_no_longer_counts(
        session: Session, clock: FixedClock, two: tuple[Place, Place]) -> None:
    a, _ = two
    worker = a.people["worker"]
    case_id = _at_decision(session, clock, a, "Ménage Révocable")
    give_consent(session, clock, case_id, "operator", ["identity"],
                 valid_until=clock.now() + timedelta(days=30))
    assert case_view(session, worker, case_id, a.territory_id, clock.now()).categories == {
        "identity"}
    later = clock.now() + timedelta(days=31)
    assert case_view(session, worker, case_id, a.territory_id, later).minimal
    give_consent(session, clock, case_id, "operator", ["health"], withdrawn_at=clock.now())
    assert not case_view(session, worker, case_id, a.territory_id, clock.now()).sees("health")
    # consent given to another part does not reach the operator
    give_consent(session, clock, case_id, "referrer", ["household"])
    assert not case_view(session, worker, case_id, a.territory_id, clock.now()).sees(
        "household")


def test_a_step_to_act_on_opens_the_minimal_view_and_nothing_else(
        session: Session, clock: FixedClock, two: tuple[Place, Place]) -> None:
    a, _ = two
    outsider = make_user(session, clock, "tiers@alpha.test", a.territory_id, "operateur",
                         organisation=make_org(session, clock, a.territory_id, "Tiers"))
    waiting = _at_decision(session, clock, a, "Ménage Tiers")
    assert case_view(session, outsider, waiting, a.territory_id, clock.now()).minimal
    with pytest.raises(NotFound):  # waits on the coordination: nothing for them to do
        case_view(session, outsider, a.case_id, a.territory_id, clock.now())
    detail = cases.get(session, clock, outsider, waiting)
    assert detail.minimal and detail.summary.household_name is None
    assert [t.bpmn_id for t in detail.open_tasks] == ["decision"]


def test_step_instructions_show_no_case_data_without_consent(
        session: Session, clock: FixedClock, two: tuple[Place, Place]) -> None:
    a, _ = two
    worker = a.people["worker"]
    case_id = _at_decision(session, clock, a, "Ménage Sans Accord")
    step = _step(session, case_id, "decision")
    page = tasks.details(session, clock, worker, step)
    assert page.minimal and "4" not in page.instructions and "enfants" in page.instructions
    assert page.case.household_name is None and page.task.household_name is None
    read = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.read")
                           .order_by(AuditEvent.id.desc())).first()
    assert read is not None and read.detail["minimal"] is True  # the journal says so
    assert "4 enfants" in tasks.details(session, clock, a.people["coordinator"],
                                        step).instructions
    give_consent(session, clock, case_id, "operator", ["assessment"])
    agreed = tasks.details(session, clock, worker, step)
    assert not agreed.minimal and "4 enfants" in agreed.instructions
    assert agreed.case.household_name is None  # identity is not covered
    with pytest.raises(NotFound):  # the partner has nothing to do on that step
        tasks.details(session, clock, a.people["partner"], step)
    with pytest.raises(NotFound):  # nor the worker on a step of the coordination
        tasks.details(session, clock, worker, a.consent_task_id)


def test_form_values_are_not_prefilled_for_a_minimal_reader(
        session: Session, clock: FixedClock, two: tuple[Place, Place]) -> None:
    a, _ = two
    coordinator, worker = a.people["coordinator"], a.people["worker"]
    case_id = _at_decision(session, clock, a, "Ménage Retour")
    # a refusal sends the case back to the analysis, then to the decision again: its
    # first answer is kept in the case data
    tasks.complete(session, clock, SYSTEM, _step(session, case_id, "decision"),
                   {"decision": "refusee"})
    tasks.complete(session, clock, coordinator, _step(session, case_id, "analyse"),
                   {"mesure": "avdl"})
    step = _step(session, case_id, "decision")
    assert tasks.details(session, clock, coordinator, step).values == {"decision": "refusee"}
    assert tasks.details(session, clock, worker, step).values == {}
    give_consent(session, clock, case_id, "operator", ["assessment"])
    assert tasks.details(session, clock, worker, step).values == {"decision": "refusee"}


def test_the_diagram_is_refused_to_a_minimal_reader(session: Session, clock: FixedClock,
                                                    two: tuple[Place, Place]) -> None:
    a, _ = two
    for who in ("worker", "partner"):
        with pytest.raises(NotFound):
            cases.diagram(session, clock, a.people[who], a.case_id)
        xml, current, _ = cases.diagram(session, clock, a.people[who], a.consent_case_id)
        assert "analyse" in current and xml.startswith("<?xml")
    assert cases.diagram(session, clock, a.people["coordinator"], a.case_id)[1] == ["analyse"]


def test_the_case_page_timeline_and_steps_are_kept_from_a_minimal_reader(
        session: Session, clock: FixedClock, two: tuple[Place, Place]) -> None:
    a, _ = two
    detail = cases.get(session, clock, a.people["partner"], a.case_id)
    assert detail.minimal and detail.data == {} and detail.facts == []
    assert detail.timeline == [] and detail.completed_steps == [] and detail.timers == []
    assert detail.summary.household_name is None and detail.summary.next_due_at is None
    assert detail.open_tasks == []  # the step waits on the coordination, not on them
    with pytest.raises(NotFound):
        audit.case_timeline(session, clock, a.people["partner"], a.case_id)
    with pytest.raises(NotFound):
        team.team(session, clock, a.people["partner"], a.case_id)
    agreed = cases.get(session, clock, a.people["partner"], a.consent_case_id)
    assert not agreed.minimal and agreed.summary.household_name == "Ménage Alpha d'accord"
    assert agreed.timeline and agreed.partial and not agreed.actionable


def test_data_is_filtered_by_category(session: Session, clock: FixedClock,
                                      two: tuple[Place, Place]) -> None:
    a, _ = two
    view = View(frozenset({"identity", "procedure"}))
    fields = {"nom_menage": frozenset({"identity"}), "sante": frozenset({"health"}),
              "dette": frozenset({"procedure"}), "mixte": frozenset({"identity", "health"})}
    data = {"nom_menage": "X", "sante": "Y", "dette": 3, "mixte": 1, "autre": 2}
    assert view.shown(data, fields) == {"nom_menage": "X", "dette": 3}
    assert View(ALL_CATEGORIES, whole=True).shown(data, {}) == data
    assert View(frozenset({"assessment"})).shown(data, fields) == {"autre": 2}


def test_lists_follow_the_rule(session: Session, clock: FixedClock,
                               two: tuple[Place, Place]) -> None:
    a, _ = two
    coordinator, partner = a.people["coordinator"], a.people["partner"]
    outsider = make_user(session, clock, "tiers@alpha.test", a.territory_id, "operateur",
                         organisation=make_org(session, clock, a.territory_id, "Tiers"))
    everything = cases.search(session, clock, coordinator, a.territory_id)
    assert everything.total == 3 and all(c.household_name for c in everything.items)
    mine = {c.id: c.household_name for c in cases.search(session, clock, partner,
                                                          a.territory_id).items}
    assert mine == {a.case_id: None, a.consent_case_id: "Ménage Alpha d'accord",
                    a.decision_case_id: "Ménage Alpha en décision"}
    assert cases.search(session, clock, outsider, a.territory_id).total == 0
    # a name the partner may not read does not find the case
    assert cases.search(session, clock, partner, a.territory_id, text="Ménage Alpha").total == 2
    reference = cases.get(session, clock, coordinator, a.case_id).summary.reference
    assert [c.id for c in cases.search(session, clock, partner, a.territory_id,
                                       text=reference).items] == [a.case_id]


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


def test_exports_refuse_before_their_first_line(session: Session, clock: FixedClock,
                                                two: tuple[Place, Place]) -> None:
    """A CSV export is streamed: its service refuses when called, before any line."""
    a, _ = two
    for who in ("worker", "partner", "coordinator"):
        with pytest.raises(PermissionDenied):
            audit.export_rows(session, a.people[who], audit.AuditFilters())
        with pytest.raises(PermissionDenied):
            oversight.export_rows(session, clock, a.people[who])
    lines = audit.export_rows(session, a.people["admin"], audit.AuditFilters())
    assert next(iter(lines))[0] == "date et heure"


def test_a_key_two_forms_file_differently_needs_both_categories() -> None:
    """``data_categories`` merges the circuit's forms; the result is cached per circuit."""

    class Form:
        def __init__(self, categories: dict[str, str]) -> None:
            self._categories = categories

        def categories(self) -> dict[str, str]:
            return self._categories

    class Circuit:
        forms = {"a": Form({"nom": "identity", "note": "health"}),
                 "b": Form({"note": "assessment", "dette": "procedure"})}

    circuit = Circuit()
    fields = data_categories(circuit)
    assert fields == {"nom": {"identity"}, "note": {"health", "assessment"},
                      "dette": {"procedure"}}
    assert data_categories(circuit) is fields
    data = {"nom": "X", "note": "Y", "dette": 1}
    assert View(frozenset({"identity", "assessment"})).shown(data, fields) == {"nom": "X"}
    assert View(frozenset({"health", "assessment"})).shown(data, fields) == {"note": "Y"}
