"""Steps routed to a party (issue #12): a lane bound to a part offers its steps only to the
people of the organisation holding that part in the case; an unbound lane to the role across
the territory. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import FixedClock
from engine.errors import Conflict, NotFound, PermissionDenied
from engine.persistence.models import AuditEvent, CaseConsent, HumanTask
from engine.services import cases, parties, tasks, territories, users
from engine.services.access import SYSTEM, Actor, load_actor
from tests.integration.factories import MINI, World, make_user, make_world

PARTS = [{"key": "referrer", "label": "Structure qui oriente"},
         {"key": "operator", "label": "Opérateur d'accompagnement"},
         {"key": "landlord", "label": "Bailleur"}]
BOUND = ('<bpmn:lane id="lane_op" name="operateur">'
         '<bpmn:extensionElements><spiffworkflow:properties>'
         '<spiffworkflow:property name="part" value="operator" />'
         '</spiffworkflow:properties></bpmn:extensionElements>')


def bound_folder(tmp_path: Path) -> Path:
    """The small circuit with its operator lane bound to the operator part, and its analysis
    form naming the operator organisation (the orientation)."""
    folder = tmp_path / "routed"
    shutil.copytree(MINI, folder)
    diagram = folder / "mini.bpmn"
    diagram.write_text(diagram.read_text(encoding="utf-8").replace(
        '<bpmn:lane id="lane_op" name="operateur">', BOUND), encoding="utf-8")
    form = folder / "forms" / "mini-analyse.json"
    schema = json.loads(form.read_text(encoding="utf-8"))
    schema["properties"]["operateur_choisi"] = {
        "type": "integer", "title": "Opérateur choisi", "x-aiguillage-part": "operator"}
    form.write_text(json.dumps(schema), encoding="utf-8")
    settings = json.loads((folder / "territory.json").read_text(encoding="utf-8"))
    settings["parts"] = PARTS
    (folder / "territory.json").write_text(json.dumps(settings), encoding="utf-8")
    return folder


@dataclass
class Routed:
    """A territory whose operator lane is bound to the operator part, two operators."""

    world: World
    org_a: int
    org_b: int
    worker_a: Actor
    worker_a2: Actor
    worker_b: Actor


def routed_world(session: Session, clock: FixedClock, tmp_path: Path) -> Routed:
    """The bound circuit deployed, operators A and B with their workers (role operateur)."""
    world = make_world(session, clock, bound_folder(tmp_path))
    territory_id = world.territory.id

    def org(name: str) -> int:
        return territories.create_organisation(session, clock, SYSTEM, territory_id, name,
                                               "association").id

    def worker(email: str, organisation_id: int) -> Actor:
        who = make_user(session, clock, email)
        assert who.user_id is not None
        users.add_membership(session, clock, SYSTEM, who.user_id, territory_id, "operateur",
                             organisation_id)
        return load_actor(session, who.user_id)

    org_a, org_b = org("Association A"), org("Association B")
    return Routed(world, org_a, org_b, worker("operateur-a@demo.test", org_a),
                  worker("operateur-a2@demo.test", org_a), worker("operateur-b@demo.test", org_b))


@pytest.fixture
def routed(session: Session, clock: FixedClock, tmp_path: Path) -> Routed:
    return routed_world(session, clock, tmp_path)


def orient(session: Session, clock: FixedClock, routed: Routed, operator: int | None,
           name: str = "Ménage Orienté") -> int:
    """Open a case and complete its analysis, naming ``operator`` (None: nobody yet)."""
    coordinator = routed.world.coordinator
    case = cases.start(session, clock, coordinator, routed.world.circuit.id, {"nom_menage": name})
    analyse = session.scalar(select(HumanTask.id).where(
        HumanTask.case_id == case.id, HumanTask.bpmn_id == "analyse"))
    assert analyse is not None
    answers: dict[str, object] = {"mesure": "avdl"}
    if operator is not None:
        answers["operateur_choisi"] = operator
    tasks.complete(session, clock, coordinator, analyse, answers)
    return case.id


def decision_of(session: Session, case_id: int) -> HumanTask:
    session.expire_all()
    row = session.scalar(select(HumanTask).where(HumanTask.case_id == case_id,
                                                 HumanTask.bpmn_id == "decision",
                                                 HumanTask.status == "open"))
    assert row is not None
    return row


def listed(session: Session, clock: FixedClock, who: Actor) -> list[str]:
    return [t.bpmn_id for t in tasks.my_tasks(session, clock, who).items]


def test_the_chosen_operator_s_worker_gets_the_step_and_the_other_operator_s_does_not(
        session: Session, clock: FixedClock, routed: Routed) -> None:
    case_id = orient(session, clock, routed, routed.org_a)
    step = decision_of(session, case_id)
    assert (step.part, step.organisation_id) == ("operator", routed.org_a)
    assert listed(session, clock, routed.worker_a) == ["decision"]
    assert listed(session, clock, routed.worker_a2) == ["decision"]
    assert listed(session, clock, routed.worker_b) == []
    assert listed(session, clock, routed.world.operator) == []  # the role, in no organisation
    assert tasks.my_tasks(session, clock, routed.worker_b).total == 0
    # A completes it
    tasks.complete(session, clock, routed.worker_a, step.id, {"decision": "acceptee"})
    assert decision_of_status(session, step.id) == "completed"


def decision_of_status(session: Session, task_id: int) -> str:
    session.expire_all()
    return session.get(HumanTask, task_id).status  # type: ignore[union-attr]


def test_an_unbound_lane_still_offers_its_steps_to_the_role_across_the_territory(
        session: Session, clock: FixedClock, routed: Routed) -> None:
    coordinator = routed.world.coordinator
    case = cases.start(session, clock, coordinator, routed.world.circuit.id,
                       {"nom_menage": "Ménage Libre"})
    analyse = session.scalar(select(HumanTask).where(HumanTask.case_id == case.id))
    assert analyse is not None and (analyse.part, analyse.organisation_id) == (None, None)
    assert listed(session, clock, coordinator) == ["analyse"]


def test_a_circuit_bound_to_nothing_offers_the_operator_step_to_every_operator(
        session: Session, clock: FixedClock) -> None:
    plain = make_world(session, clock)  # the small circuit as it is: no lane bound
    territory_id = plain.territory.id
    org_a = territories.create_organisation(session, clock, SYSTEM, territory_id, "A",
                                            "association").id
    worker = make_user(session, clock, "op-a@demo.test")
    assert worker.user_id is not None
    users.add_membership(session, clock, SYSTEM, worker.user_id, territory_id, "operateur",
                         org_a)
    case_id = cases.start(session, clock, plain.coordinator, plain.circuit.id,
                          {"nom_menage": "Ménage Simple"}).id
    first = session.scalar(select(HumanTask.id).where(HumanTask.case_id == case_id))
    assert first is not None
    tasks.complete(session, clock, plain.coordinator, first, {"mesure": "avdl"})
    step = decision_of(session, case_id)
    assert (step.part, step.organisation_id) == (None, None)
    assert listed(session, clock, plain.operator) == ["decision"]
    assert listed(session, clock, load_actor(session, worker.user_id)) == ["decision"]


def test_a_step_waits_for_its_party_offered_to_nobody(
        session: Session, clock: FixedClock, routed: Routed) -> None:
    case_id = orient(session, clock, routed, None)
    step = decision_of(session, case_id)
    assert (step.part, step.organisation_id) == ("operator", None)
    for who in (routed.worker_a, routed.worker_b, routed.world.operator):
        assert listed(session, clock, who) == []
    assert routed.worker_a.user_id is not None
    with pytest.raises(Conflict) as caught:
        tasks.assign(session, clock, routed.world.coordinator, step.id, routed.worker_a.user_id)
    assert caught.value.code == "svc.step_waits_for_party"
    assert tasks.details(session, clock, routed.world.coordinator, step.id).candidates == []
    # coordination sees it waiting on the case page, with the part's label
    page = cases.get(session, clock, routed.world.coordinator, case_id)
    assert page.waiting == {step.id: "Opérateur d'accompagnement"}
    # the coordinator names the operator: the step goes to it
    parties.set_party(session, clock, routed.world.coordinator, case_id, "operator",
                      routed.org_a, "Orientation")
    assert decision_of(session, case_id).organisation_id == routed.org_a
    assert listed(session, clock, routed.worker_a) == ["decision"]
    assert cases.get(session, clock, routed.world.coordinator, case_id).waiting == {}


def test_a_party_change_reroutes_the_open_steps_and_gives_back_a_held_one(
        session: Session, clock: FixedClock, routed: Routed) -> None:
    coordinator = routed.world.coordinator
    case_id = orient(session, clock, routed, routed.org_a)
    step = decision_of(session, case_id)
    tasks.claim(session, clock, routed.worker_a, step.id)
    parties.set_party(session, clock, coordinator, case_id, "operator", routed.org_b,
                      "A n'a plus de place")
    step = decision_of(session, case_id)
    assert (step.organisation_id, step.assignee_id) == (routed.org_b, None)
    assert listed(session, clock, routed.worker_a) == []
    assert listed(session, clock, routed.worker_b) == ["decision"]
    given_back = session.scalars(select(AuditEvent).where(
        AuditEvent.case_id == case_id, AuditEvent.action == "task.unclaim")).one()
    assert given_back.detail["previous"] == routed.worker_a.user_id
    assert given_back.detail["reason"] == "party" and given_back.detail["task"] == "decision"
    # held by B's worker, it goes to nobody when the part ends
    tasks.claim(session, clock, routed.worker_b, step.id)
    parties.end_party(session, clock, coordinator, case_id, "operator", "Fin de la mesure")
    step = decision_of(session, case_id)
    assert (step.organisation_id, step.assignee_id) == (None, None)
    assert listed(session, clock, routed.worker_b) == []


def _audited_refusals(session: Session) -> list[tuple[str, str, str]]:
    rows = session.scalars(select(AuditEvent).where(AuditEvent.action == "task.refused")
                           .order_by(AuditEvent.id))
    return [(r.detail["attempt"], r.detail["task"], r.detail["reason"]) for r in rows]


def test_a_forged_completion_by_the_other_operator_is_refused_audited_and_changes_nothing(
        session: Session, clock: FixedClock, routed: Routed) -> None:
    case_id = orient(session, clock, routed, routed.org_a)
    step = decision_of(session, case_id)
    steps_before = session.scalar(select(func.count()).select_from(HumanTask))
    # B is no party to the case: it is out of B's reach, as if it did not exist
    with pytest.raises(NotFound):
        tasks.complete(session, clock, routed.worker_b, step.id, {"decision": "acceptee"})
    with pytest.raises(NotFound):
        tasks.claim(session, clock, routed.worker_b, step.id)
    # B plays another part in the case (the landlord): it reads the case, the step is not B's
    parties.set_party(session, clock, routed.world.coordinator, case_id, "landlord",
                      routed.org_b, "Bailleur du logement")
    with pytest.raises(PermissionDenied) as caught:
        tasks.complete(session, clock, routed.worker_b, step.id, {"decision": "acceptee"})
    assert caught.value.code == "svc.step_other_organisation"
    with pytest.raises(PermissionDenied):
        tasks.claim(session, clock, routed.worker_b, step.id)
    step = decision_of(session, case_id)
    assert (step.status, step.assignee_id, step.organisation_id) == ("open", None, routed.org_a)
    assert session.scalar(select(func.count()).select_from(HumanTask)) == steps_before
    assert _audited_refusals(session) == [
        ("complete", "decision", "svc.case_not_found"), ("claim", "decision", "svc.case_not_found"),
        ("complete", "decision", "svc.step_other_organisation"),
        ("claim", "decision", "svc.step_other_organisation")]
    refusal = session.scalars(select(AuditEvent).where(AuditEvent.action == "task.refused")
                              ).first()
    assert refusal is not None and refusal.user_id == routed.worker_b.user_id
    assert refusal.case_id == case_id


def test_assign_only_to_a_worker_of_the_organisation_holding_the_part(
        session: Session, clock: FixedClock, routed: Routed) -> None:
    case_id = orient(session, clock, routed, routed.org_a)
    step = decision_of(session, case_id)
    coordinator = routed.world.coordinator
    assert routed.worker_b.user_id is not None and routed.worker_a.user_id is not None
    with pytest.raises(Conflict) as caught:
        tasks.assign(session, clock, coordinator, step.id, routed.worker_b.user_id)
    assert caught.value.code == "svc.assignee_other_organisation"
    # the assign list offers A's workers only
    offered = tasks.details(session, clock, coordinator, step.id).candidates
    assert {p.id for p in offered} == {routed.worker_a.user_id, routed.worker_a2.user_id}
    assert decision_of(session, case_id).assignee_id is None
    tasks.assign(session, clock, coordinator, step.id, routed.worker_a.user_id)
    assert decision_of(session, case_id).assignee_id == routed.worker_a.user_id
    # a worker may not assign
    with pytest.raises((PermissionDenied, NotFound)):
        tasks.assign(session, clock, routed.worker_a2, step.id, routed.worker_a2.user_id or 0)


def test_the_household_name_in_my_tasks_follows_the_consent(
        session: Session, clock: FixedClock, routed: Routed) -> None:
    case_id = orient(session, clock, routed, routed.org_a, name="Ménage Discret")
    [item] = tasks.my_tasks(session, clock, routed.worker_a).items
    assert item.household_name is None  # no consent yet: the reference and the step only
    session.add(CaseConsent(case_id=case_id, part="operator", purpose="support",
                            category="identity", basis="signed", witness=None,
                            source="Page du dossier", given_at=clock.now(), valid_until=None,
                            recorded_by_id=routed.world.coordinator.user_id))
    session.commit()
    [item] = tasks.my_tasks(session, clock, routed.worker_a).items
    assert item.household_name == "Ménage Discret"
    # coordination always reads it
    other = cases.start(session, clock, routed.world.coordinator, routed.world.circuit.id,
                        {"nom_menage": "Ménage Coordonné"}).id
    names = {t.case_id: t.household_name
             for t in tasks.my_tasks(session, clock, routed.world.coordinator).items}
    assert names[other] == "Ménage Coordonné"


def test_a_landlord_opening_a_case_is_its_landlord_and_its_referrer(
        session: Session, clock: FixedClock, routed: Routed) -> None:
    territory_id = routed.world.territory.id
    habitat = territories.create_organisation(session, clock, SYSTEM, territory_id,
                                              "Démo Habitat", "bailleur").id
    who = make_user(session, clock, "bailleur@demo.test")
    assert who.user_id is not None
    users.add_membership(session, clock, SYSTEM, who.user_id, territory_id, "orienteur",
                         habitat)
    landlord = load_actor(session, who.user_id)
    case_id = cases.start(session, clock, landlord, routed.world.circuit.id,
                          {"nom_menage": "Ménage Locataire"}).id
    held = {(p.part, p.organisation_id) for p in parties.current(session, landlord, case_id)}
    assert held == {("referrer", habitat), ("landlord", habitat)}
    # an operator opening a case is its referrer only
    case_id = cases.start(session, clock, routed.worker_a, routed.world.circuit.id,
                          {"nom_menage": "Ménage Orienté"}).id
    held = {(p.part, p.organisation_id)
            for p in parties.current(session, routed.world.coordinator, case_id)}
    assert held == {("referrer", routed.org_a)}


def test_a_step_held_in_another_organisation_is_not_even_said_to_be_taken(
        session: Session, clock: FixedClock, routed: Routed) -> None:
    case_id = orient(session, clock, routed, routed.org_a)
    step = decision_of(session, case_id)
    tasks.claim(session, clock, routed.worker_a, step.id)
    with pytest.raises(NotFound):  # no "someone holds it": the case is out of B's reach
        tasks.claim(session, clock, routed.worker_b, step.id)
    with pytest.raises(Conflict) as caught:  # A's colleague is told it is taken
        tasks.claim(session, clock, routed.worker_a2, step.id)
    assert caught.value.code == "svc.step_taken"
    assert tasks.claim(session, clock, routed.worker_a, step.id).assignee_id == \
        routed.worker_a.user_id  # taking one's own step again changes nothing


def test_a_completion_that_readies_a_bound_step_reads_its_holder_once(
        engine: Engine, sessions: sessionmaker[Session], clock: FixedClock,
        tmp_path: Path) -> None:
    """The hot path's budget (test_hot_path: seven statements) and one read of who holds the
    parts of the case, only because the new step's lane is bound to one."""
    from tests.integration.test_hot_path import statements, step_of
    with sessions() as session:
        routed = routed_world(session, clock, tmp_path)
        coordinator = routed.world.coordinator
        case_id = cases.start(session, clock, coordinator, routed.world.circuit.id,
                              {"nom_menage": "Ménage Budget"}).id
        parties.set_party(session, clock, coordinator, case_id, "operator", routed.org_a,
                          "Orientation")
        analyse = step_of(session, case_id, "analyse")
    with sessions() as session, statements(engine) as seen:
        tasks.complete(session, clock, coordinator, analyse, {"mesure": "avdl"})
    assert len(seen) <= 8, "\n".join(seen)
    assert sum("case_party" in s for s in seen) == 1, "\n".join(seen)
    with sessions() as session:
        assert decision_of(session, case_id).organisation_id == routed.org_a


def test_the_task_page_offers_the_form_only_to_the_organisation_holding_the_part(
        session: Session, clock: FixedClock, routed: Routed) -> None:
    """A coordinator who also holds the operator role, in no organisation, reads the step
    (coordination) but is not offered to complete it."""
    coordinator = routed.world.coordinator
    assert coordinator.user_id is not None
    users.add_membership(session, clock, SYSTEM, coordinator.user_id,
                         routed.world.territory.id, "operateur")
    both = load_actor(session, coordinator.user_id)
    case_id = orient(session, clock, routed, routed.org_a)
    step = decision_of(session, case_id)
    assert tasks.details(session, clock, both, step.id).can_complete is False
    assert tasks.details(session, clock, routed.worker_a, step.id).can_complete is True
