"""Parties to a case and its team (issue #12): set by the circuit and by a coordinator, with
history, reasons and audit; the référent·e named by a coordinator; the list of cases oriented
to an operator without a référent·e. SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.core.bundles import load_territory
from engine.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engine.persistence.models import AuditEvent, CaseParty, CaseReferent, HumanTask, Territory
from engine.services import cases, parties, tasks, team, territories, users
from engine.services.access import SYSTEM, Actor, load_actor
from tests.integration.factories import ROOT, World, make_user, make_world


@dataclass
class Place:
    """The small circuit's territory with parts, organisations and a référent."""

    world: World
    orienting: int
    platform: int
    operator_a: int
    operator_b: int
    referrer: Actor
    referent: Actor


@pytest.fixture
def place(session: Session, clock: FixedClock) -> Place:
    world = make_world(session, clock)
    territory = session.get(Territory, world.territory.id)
    assert territory is not None
    parts = load_territory(ROOT / "processes" / "reference").parts
    territory.parts = [{"key": p.key, "label": p.label} for p in parts]
    territory.roles = [*territory.roles, {"key": "referent", "label": "Référent·e de parcours"}]
    session.commit()

    def org(name: str, kind: str) -> int:
        return territories.create_organisation(session, clock, SYSTEM, territory.id, name,
                                               kind).id

    orienting, platform = org("CCAS de Test", "ccas"), org("Plateforme Test", "plateforme")
    operator_a, operator_b = org("Association A", "association"), org("Association B",
                                                                       "association")
    who = make_user(session, clock, "orienteur@demo.test")
    assert who.user_id is not None
    users.add_membership(session, clock, SYSTEM, who.user_id, territory.id, "orienteur",
                         orienting)
    referent = make_user(session, clock, "ref@demo.test", territory.id, "referent")
    return Place(world, orienting, platform, operator_a, operator_b,
                 load_actor(session, who.user_id), referent)


def _start(session: Session, clock: FixedClock, who: Actor, place: Place, name: str) -> int:
    return cases.start(session, clock, who, place.world.circuit.id, {"nom_menage": name}).id


def test_the_circuit_sets_the_referrer_and_the_platform_at_start(
        session: Session, clock: FixedClock, place: Place) -> None:
    case_id = _start(session, clock, place.referrer, place, "Ménage Orienté")
    now = parties.current(session, place.world.coordinator, case_id)
    assert [(p.part, p.part_label, p.organisation) for p in now] == [
        ("referrer", "Structure qui oriente", "CCAS de Test"),
        ("platform", "Coordination de la plateforme", "Plateforme Test")]
    assert all(p.since == clock.now() for p in now)
    # a coordinator without an organisation opens a case: the platform only
    other = _start(session, clock, place.world.coordinator, place, "Ménage Direct")
    assert [p.part for p in parties.current(session, place.world.coordinator, other)] == [
        "platform"]


def test_a_coordinator_sets_changes_and_ends_a_party_with_history_and_audit(
        session: Session, clock: FixedClock, place: Place) -> None:
    coordinator = place.world.coordinator
    case_id = _start(session, clock, coordinator, place, "Ménage Suivi")
    set_a = parties.set_party(session, clock, coordinator, case_id, "operator",
                              place.operator_a, "Orientation vers A")
    assert (set_a.organisation, set_a.part_label) == ("Association A",
                                                       "Opérateur d'accompagnement")
    clock.advance(timedelta(days=2))
    parties.set_party(session, clock, coordinator, case_id, "operator", place.operator_b,
                      "A n'a plus de place")
    [operator] = [p for p in parties.current(session, coordinator, case_id)
                  if p.part == "operator"]
    assert operator.organisation == "Association B" and operator.since == clock.now()
    history = parties.history(session, coordinator, case_id)
    ended = [p for p in history if p.organisation == "Association A"]
    assert ended[0].until == clock.now() and ended[0].end_reason == "A n'a plus de place"
    parties.end_party(session, clock, coordinator, case_id, "operator", "Fin d'accompagnement")
    assert "operator" not in {p.part for p in parties.current(session, coordinator, case_id)}
    actions = list(session.scalars(select(AuditEvent.action).where(
        AuditEvent.case_id == case_id, AuditEvent.action.like("case.party%"))
        .order_by(AuditEvent.id)))
    assert actions == ["case.party_set", "case.party_set", "case.party_set", "case.party_end"]


@pytest.mark.parametrize(("part", "org", "reason", "error", "code"), [
    ("locataire", "a", "motif", InvalidInput, "svc.part_unknown"),
    ("operator", "elsewhere", "motif", Conflict, "svc.party_organisation_elsewhere"),
    ("operator", "inactive", "motif", Conflict, "svc.party_organisation_inactive"),
    ("operator", "a", "   ", InvalidInput, "svc.reason_required"),
    ("operator", "a", "x" * 501, InvalidInput, "svc.reason_too_long"),
    ("operator", "missing", "motif", Conflict, "svc.party_organisation_elsewhere"),
])
def test_bad_parties_are_refused_and_nothing_changes(
        session: Session, clock: FixedClock, place: Place, part: str, org: str, reason: str,
        error: type[Exception], code: str) -> None:
    coordinator = place.world.coordinator
    case_id = _start(session, clock, coordinator, place, "Ménage Refusé")
    elsewhere = session.scalar(select(Territory.id).where(Territory.code == "ailleurs"))
    assert elsewhere is not None
    other = territories.create_organisation(session, clock, SYSTEM, elsewhere, "Ailleurs",
                                            "association").id
    inactive = territories.create_organisation(session, clock, SYSTEM,
                                               place.world.territory.id, "Fermée", "autre").id
    from engine.persistence.models import Organisation
    closed = session.get(Organisation, inactive)
    assert closed is not None
    closed.active = False
    session.commit()
    before = session.scalar(select(CaseParty.id).order_by(CaseParty.id.desc()).limit(1))
    chosen = {"a": place.operator_a, "elsewhere": other, "inactive": inactive,
              "missing": 999_999}[org]
    with pytest.raises(error) as caught:
        parties.set_party(session, clock, coordinator, case_id, part, chosen, reason)
    assert getattr(caught.value, "code", None) == code
    message = caught.value.message_in("fr")  # type: ignore[attr-defined]
    assert message and message != code
    session.rollback()
    assert session.scalar(select(CaseParty.id).order_by(CaseParty.id.desc()).limit(1)) == before


def test_only_coordinators_set_parties_and_outsiders_do_not_see_the_case(
        session: Session, clock: FixedClock, place: Place) -> None:
    case_id = _start(session, clock, place.referrer, place, "Ménage Gardé")
    with pytest.raises(PermissionDenied):  # the referrer reads the case, does not edit it
        parties.set_party(session, clock, place.referrer, case_id, "operator",
                          place.operator_a, "motif")
    with pytest.raises(NotFound):  # the operator is no party to it, and has no step there
        parties.set_party(session, clock, place.world.operator, case_id, "operator",
                          place.operator_a, "motif")
    with pytest.raises(NotFound):
        parties.current(session, place.world.outsider, case_id)
    with pytest.raises(PermissionDenied):
        team.name_referent(session, clock, place.referrer, case_id, place.referent.user_id or 0,
                           "motif")
    with pytest.raises(NotFound):
        team.end_referent(session, clock, place.world.operator, case_id, "motif")
    with pytest.raises(PermissionDenied):
        team.without_referent(session, clock, place.world.operator, place.world.territory.id)


def test_a_coordinator_names_changes_and_ends_the_referent(
        session: Session, clock: FixedClock, place: Place) -> None:
    coordinator = place.world.coordinator
    case_id = _start(session, clock, coordinator, place, "Ménage Référé")
    assert place.referent.user_id is not None
    team.name_referent(session, clock, coordinator, case_id, place.referent.user_id,
                       "Premier accueil")
    shown = team.team(session, clock, coordinator, case_id)
    assert shown.referent_id == place.referent.user_id
    assert [(m.name, m.doing) for m in shown.members][:1] == [("Ref", None)]
    with pytest.raises(Conflict):  # the same person again
        team.name_referent(session, clock, coordinator, case_id, place.referent.user_id, "m")
    with pytest.raises(Conflict):  # not holding the referent role
        team.name_referent(session, clock, coordinator, case_id,
                           place.world.operator.user_id or 0, "motif")
    with pytest.raises(InvalidInput):
        team.name_referent(session, clock, coordinator, case_id, place.referent.user_id, " ")
    second = make_user(session, clock, "ref2@demo.test", place.world.territory.id, "referent")
    assert second.user_id is not None
    clock.advance(timedelta(days=1))
    team.name_referent(session, clock, coordinator, case_id, second.user_id, "Congé long")
    team.end_referent(session, clock, coordinator, case_id, "Sortie du dispositif")
    with pytest.raises(Conflict):
        team.end_referent(session, clock, coordinator, case_id, "encore")
    rows = list(session.scalars(select(CaseReferent).where(CaseReferent.case_id == case_id)
                                .order_by(CaseReferent.id)))
    assert [(r.user_id, r.reason, r.end_reason) for r in rows] == [
        (place.referent.user_id, "Premier accueil", "Congé long"),
        (second.user_id, "Congé long", "Sortie du dispositif")]
    assert all(r.until is not None for r in rows)
    assert team.team(session, clock, coordinator, case_id).referent_id is None
    actions = list(session.scalars(select(AuditEvent.action).where(
        AuditEvent.case_id == case_id, AuditEvent.action.like("case.referent%"))))
    assert actions == ["case.referent_set", "case.referent_set", "case.referent_end"]


def test_holding_a_referent_step_no_longer_makes_one_the_referent(
        session: Session, clock: FixedClock, place: Place) -> None:
    coordinator = place.world.coordinator
    case_id = _start(session, clock, coordinator, place, "Ménage Étape")
    row = session.scalar(select(HumanTask).where(HumanTask.case_id == case_id))
    assert row is not None
    row.role = "referent"  # as a step in the referent's lane would be
    session.commit()
    tasks.claim(session, clock, place.referent, row.id)
    assert team.team(session, clock, coordinator, case_id).referent_id is None
    tasks.complete(session, clock, place.referent, row.id, {"mesure": "avdl"})
    assert team.team(session, clock, coordinator, case_id).referent_id is None


def test_the_team_lists_the_holders_of_open_steps_with_their_organisation(
        session: Session, clock: FixedClock, place: Place) -> None:
    case_id = _start(session, clock, place.referrer, place, "Ménage Équipe")
    row = session.scalar(select(HumanTask).where(HumanTask.case_id == case_id))
    assert row is not None
    row.role = "orienteur"
    session.commit()
    tasks.claim(session, clock, place.referrer, row.id)
    members = team.team(session, clock, place.world.coordinator, case_id).members
    assert [(m.name, m.organisation, m.doing) for m in members] == [
        ("Orienteur", "CCAS de Test", row.name)]


def test_cases_oriented_without_a_referent_after_n_days(
        session: Session, clock: FixedClock, place: Place) -> None:
    coordinator, territory_id = place.world.coordinator, place.world.territory.id
    old = _start(session, clock, coordinator, place, "Ménage Ancien")
    named = _start(session, clock, coordinator, place, "Ménage Nommé")
    for case_id in (old, named):
        parties.set_party(session, clock, coordinator, case_id, "operator", place.operator_a,
                          "Orientation")
    assert place.referent.user_id is not None
    team.name_referent(session, clock, coordinator, named, place.referent.user_id, "Accueil")
    clock.advance(timedelta(days=8))
    recent = _start(session, clock, coordinator, place, "Ménage Récent")
    parties.set_party(session, clock, coordinator, recent, "operator", place.operator_b,
                      "Orientation")
    _start(session, clock, coordinator, place, "Ménage Sans Opérateur")
    listed = team.without_referent(session, clock, coordinator, territory_id)
    assert [(u.case_id, u.operator) for u in listed.items] == [(old, "Association A")]
    assert listed.total == 1
    everyone = team.without_referent(session, clock, coordinator, territory_id, days=0)
    assert [u.case_id for u in everyone.items] == [old, recent]
    page_two = team.without_referent(session, clock, coordinator, territory_id, days=0,
                                     page=2, per_page=1)
    assert [u.case_id for u in page_two.items] == [recent] and page_two.total == 2
    with pytest.raises(InvalidInput):
        team.without_referent(session, clock, coordinator, territory_id, days=-1)
    cases.close(session, clock, coordinator, old, "Relogé")
    assert team.without_referent(session, clock, coordinator, territory_id).total == 0


def test_the_demo_gives_its_cases_organisations_and_some_a_referent(
        session: Session, clock: FixedClock) -> None:
    from engine.persistence.models import Case, Organisation
    from engine.services import demo
    territory_id = demo.load(session, clock, ROOT, "mot-de-passe-demo", cases_per_circuit=2)
    names = set(session.scalars(select(Organisation.name).where(
        Organisation.territory_id == territory_id)))
    assert {"Association Relais (opérateur A)", "Association Horizon (opérateur B)",
            "CCAS de Démoville", "Démo Habitat (bailleur social)"} <= names
    case_ids = list(session.scalars(select(Case.id).where(Case.territory_id == territory_id)))
    assert case_ids
    coordinator = load_actor(session, _coordinator_id(session))
    for case_id in case_ids:
        held = {p.part for p in parties.current(session, coordinator, case_id)}
        assert {"referrer", "platform", "operator"} <= held
    assert session.scalar(select(Case.id).where(Case.territory_id == territory_id,
                                                Case.referent_id.is_not(None)).limit(1))


def test_the_demo_has_an_account_in_each_partner_organisation(
        session: Session, clock: FixedClock) -> None:
    from engine.persistence.models import Membership, Organisation, User
    from engine.services import demo
    territory_id = demo.load(session, clock, ROOT, "mot-de-passe-demo", cases_per_circuit=0)
    expected = {"orienteur@demo.test": ("CCAS de Démoville", {"orienteur"}),
                "operateur-a@demo.test": ("Association Relais (opérateur A)",
                                          {"operateur", "referent"}),
                "operateur-b@demo.test": ("Association Horizon (opérateur B)",
                                          {"operateur", "referent"}),
                "bailleur@demo.test": ("Démo Habitat (bailleur social)", {"bailleur"})}
    for email, (organisation, roles) in expected.items():
        rows = session.execute(select(Membership.role, Organisation.name)
                               .join(User, User.id == Membership.user_id)
                               .join(Organisation, Organisation.id == Membership.organisation_id)
                               .where(User.email == email,
                                      Membership.territory_id == territory_id)).all()
        assert {role for role, _ in rows} == roles
        assert {name for _, name in rows} == {organisation}
        assert users.authenticate(session, email, "mot-de-passe-demo") is not None
    assert {email for email, _ in demo.DemoAccounts().listing()} >= set(expected)


def _coordinator_id(session: Session) -> int:
    from engine.persistence.models import User
    found = session.scalar(select(User.id).where(User.email == "coord@demo.test"))
    assert found is not None
    return found


@pytest.fixture
def chosen(session: Session, clock: FixedClock, tmp_path: object) -> Place:
    """The small circuit whose analysis form names the operator (``x-aiguillage-part``)."""
    import json
    import shutil
    from pathlib import Path

    from tests.integration.factories import MINI
    folder = Path(str(tmp_path)) / "mini"
    shutil.copytree(MINI, folder)
    form = folder / "forms" / "mini-analyse.json"
    schema = json.loads(form.read_text(encoding="utf-8"))
    schema["properties"]["operateur_choisi"] = {
        "type": "integer", "title": "Opérateur choisi", "x-aiguillage-part": "operator"}
    form.write_text(json.dumps(schema), encoding="utf-8")
    settings = json.loads((folder / "territory.json").read_text(encoding="utf-8"))
    settings["parts"] = [{"key": "operator", "label": "Opérateur d'accompagnement"}]
    (folder / "territory.json").write_text(json.dumps(settings), encoding="utf-8")
    world = make_world(session, clock, folder)
    territory = session.get(Territory, world.territory.id)
    assert territory is not None
    a, b = (territories.create_organisation(session, clock, SYSTEM, territory.id, name,
                                            "association").id for name in ("Asso A", "Asso B"))
    return Place(world, 0, 0, a, b, world.coordinator, world.operator)


def _analyse(session: Session, case_id: int) -> int:
    found = session.scalar(select(HumanTask.id).where(
        HumanTask.case_id == case_id, HumanTask.bpmn_id == "analyse",
        HumanTask.status == "open"))
    assert found is not None
    return found


def test_a_form_answer_names_the_operator_of_the_case(
        session: Session, clock: FixedClock, chosen: Place) -> None:
    coordinator = chosen.world.coordinator
    case_id = _start(session, clock, coordinator, chosen, "Ménage Orienté par Formulaire")
    task_id = _analyse(session, case_id)
    _, form = tasks.form_of(session, coordinator, task_id)
    assert form is not None
    [field] = form.part_fields()
    assert field.kind == "choice" and [c.label for c in field.choices] == ["Asso A", "Asso B"]
    assert form.validate({"mesure": "avdl", "operateur_choisi": 999_999})  # not offered
    tasks.complete(session, clock, coordinator, task_id,
                   {"mesure": "avdl", "operateur_choisi": chosen.operator_b})
    [party] = parties.current(session, coordinator, case_id)
    assert (party.part, party.organisation) == ("operator", "Asso B")
    assert party.reason == "Étape « Analyser la demande »"
    assert session.scalar(select(AuditEvent.id).where(AuditEvent.case_id == case_id,
                                                      AuditEvent.action == "case.party_set"))


def test_a_form_answer_naming_another_territorys_organisation_changes_nothing(
        session: Session, clock: FixedClock, chosen: Place) -> None:
    coordinator = chosen.world.coordinator
    case_id = _start(session, clock, coordinator, chosen, "Ménage Forgé")
    task_id = _analyse(session, case_id)
    elsewhere = session.scalar(select(Territory.id).where(Territory.code == "ailleurs"))
    assert elsewhere is not None
    other = territories.create_organisation(session, clock, SYSTEM, elsewhere, "Ailleurs",
                                            "association").id
    with pytest.raises(Conflict):  # a forged POST: the service checks, not the page
        tasks.complete(session, clock, coordinator, task_id,
                       {"mesure": "avdl", "operateur_choisi": other})
    session.rollback()
    assert parties.current(session, coordinator, case_id) == []
    assert _analyse(session, case_id) == task_id  # the step is still open
