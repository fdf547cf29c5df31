"""Outside answers through the service, on SQLite and PostgreSQL: a case waiting for a
message receives it (correlated by its reference and the message's name), with its form's
data, in one audited unit of work; a message it does not wait for, a sender the circuit does
not name, a case out of reach and a bad payload change nothing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine import scheduler
from engine.clock import FixedClock
from engine.errors import Conflict, FormInvalid, NotFound, PermissionDenied
from engine.persistence.models import AuditEvent, Case, CaseState, Circuit, HumanTask, Timer
from engine.services import case_messages, cases, circuits, users
from engine.services.access import SYSTEM, Actor, load_actor
from tests.integration.factories import (
    PASSWORD,
    declare_parts,
    give_consent,
    make_org,
    make_party,
    make_user,
)

FOLDER = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "messages"


@dataclass
class Place:
    territory_id: int
    circuits: dict[str, int]
    coordinator: Actor
    siao: Actor
    caf: Actor
    operator: Actor
    outsider: Actor


@pytest.fixture
def place(session: Session, clock: FixedClock) -> Place:
    versions = circuits.deploy_folder(session, clock, SYSTEM, FOLDER, FOLDER / "forms")
    found = {c.key: c.id for c in session.scalars(select(Circuit).where(
        Circuit.id.in_([v.circuit_id for v in versions])))}
    territory_id = session.scalar(select(Circuit.territory_id).where(
        Circuit.id == versions[0].circuit_id))
    assert territory_id is not None
    from engine.core.bundles import Role
    from engine.core.bundles import Territory as TerritoryFile
    from engine.services.territories import ensure_territory
    elsewhere = ensure_territory(session, clock, SYSTEM, TerritoryFile(
        "ailleurs", "Ailleurs", (Role("siao", "SIAO"), Role("coordination", "Coordination"))))
    other = users.create_user(session, clock, SYSTEM, "siao@ailleurs.test", "Autre", PASSWORD)
    users.add_membership(session, clock, SYSTEM, other.id, elsewhere.id, "siao")
    return Place(
        territory_id=territory_id, circuits=found,
        coordinator=make_user(session, clock, "coord@demo.test", territory_id, "coordination"),
        siao=make_user(session, clock, "siao@demo.test", territory_id, "siao"),
        caf=make_user(session, clock, "caf@demo.test", territory_id, "caf"),
        operator=make_user(session, clock, "op@demo.test", territory_id, "operateur"),
        outsider=load_actor(session, other.id))


def open_case(session: Session, clock: FixedClock, place: Place, key: str) -> tuple[int, str]:
    case = cases.start(session, clock, place.coordinator, place.circuits[key],
                       {"nom_menage": "Ménage Essai"})
    return case.id, case.reference


def snapshot(sessions: sessionmaker[Session], case_id: int) -> tuple[object, ...]:
    with sessions() as fresh:
        version, state = fresh.execute(select(Case.version, CaseState.state).join(
            CaseState, CaseState.case_id == Case.id).where(Case.id == case_id)).one()
        steps = fresh.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.case_id == case_id))
        timers = fresh.scalar(select(func.count()).select_from(Timer).where(
            Timer.case_id == case_id))
        received = fresh.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.case_id == case_id, AuditEvent.action == "case.message"))
    return version, state, steps, timers, received


def audited(sessions: sessionmaker[Session], case_id: int, action: str) -> list[dict[str, object]]:
    with sessions() as fresh:
        return [e.detail for e in fresh.scalars(select(AuditEvent).where(
            AuditEvent.case_id == case_id, AuditEvent.action == action).order_by(AuditEvent.id))]


def test_the_siao_answers_beside_the_support(session: Session, sessions: sessionmaker[Session],
                                             clock: FixedClock, place: Place) -> None:
    case_id, reference = open_case(session, clock, place, "attente")
    [waiting] = case_messages.awaited(session, clock, place.coordinator, case_id)
    assert (waiting.name, waiting.label, waiting.senders, waiting.may_send) == (
        "reponse_siao", "Réponse du SIAO", ("SIAO",), True)
    assert waiting.since == clock.now()
    clock.advance(timedelta(days=2))
    done = case_messages.receive(session, clock, place.siao, reference, "reponse_siao",
                                 b'{"reponse_siao": "place", "commentaire_siao": "T2"}')
    assert (done.case_id, done.label, done.fields, done.closed) == (
        case_id, "Réponse du SIAO", ("commentaire_siao", "reponse_siao"), False)
    assert done.steps == ("Accompagner le ménage",)
    assert case_messages.awaited(session, clock, place.coordinator, case_id) == []
    detail = cases.get(session, clock, place.coordinator, case_id)
    assert detail.data["reponse_siao"] == "place"
    [event] = audited(sessions, case_id, "case.message")
    assert event == {"message": "reponse_siao", "element": "attendre", "name": "Réponse du SIAO",
                     "fields": ["commentaire_siao", "reponse_siao"]}


def test_a_second_answer_is_a_conflict_and_changes_nothing(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        place: Place) -> None:
    case_id, reference = open_case(session, clock, place, "reception")
    case_messages.receive(session, clock, place.coordinator, reference, "reponse_siao",
                          {"reponse_siao": "attente"})
    before = snapshot(sessions, case_id)
    with pytest.raises(Conflict) as caught:
        case_messages.receive(session, clock, place.siao, reference, "reponse_siao",
                              {"reponse_siao": "place"})
    assert "reponse_siao" in str(caught.value)
    with pytest.raises(Conflict):
        case_messages.receive(session, clock, place.coordinator, reference, "inconnu", {})
    with pytest.raises(Conflict) as forged:  # a name no circuit can declare
        case_messages.receive(session, clock, place.coordinator, reference,
                              "9" * 300 + "\0é", {})
    assert "\0" not in str(forged.value) and len(str(forged.value)) < 300
    assert snapshot(sessions, case_id) == before
    reasons = [e["reason"] for e in audited(sessions, case_id, "case.message_refused")]
    assert reasons == ["svc.message_not_awaited"] * 3


def test_the_answer_before_the_deadline_stops_its_timer(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        place: Place) -> None:
    case_id, reference = open_case(session, clock, place, "delai")
    with sessions() as fresh:
        assert {t.status for t in fresh.scalars(select(Timer).where(Timer.case_id == case_id))
                } == {"waiting"}
    clock.advance(timedelta(days=10))
    done = case_messages.receive(session, clock, place.siao, reference, "reponse_siao",
                                 {"reponse_siao": "place"})
    assert done.closed and done.steps == ()
    with sessions() as fresh:
        assert fresh.scalar(select(Case.status).where(Case.id == case_id)) == "completed"
        assert {t.status for t in fresh.scalars(select(Timer).where(Timer.case_id == case_id))
                } == {"cancelled"}


def test_the_deadline_beats_the_answer(session: Session, sessions: sessionmaker[Session],
                                       clock: FixedClock, place: Place) -> None:
    case_id, reference = open_case(session, clock, place, "delai")
    clock.advance(timedelta(days=15, minutes=1))
    assert scheduler.run_once(sessions, clock, "essai").fired == 1
    before = snapshot(sessions, case_id)
    with pytest.raises(Conflict):
        case_messages.receive(session, clock, place.siao, reference, "reponse_siao",
                              {"reponse_siao": "place"})
    assert snapshot(sessions, case_id) == before


def test_who_may_send(session: Session, sessions: sessionmaker[Session], clock: FixedClock,
                     place: Place) -> None:
    case_id, reference = open_case(session, clock, place, "attente")
    declare_parts(session, place.territory_id)
    org = make_org(session, clock, place.territory_id, "Association Essai")
    make_party(session, clock, case_id, "operator", org)
    party = make_user(session, clock, "op2@demo.test", place.territory_id, "operateur",
                      organisation=org)
    before = snapshot(sessions, case_id)
    with pytest.raises(PermissionDenied):  # reads the case, but is not the SIAO
        case_messages.receive(session, clock, party, reference, "reponse_siao",
                              {"reponse_siao": "place"})
    for stranger in (place.operator, place.caf):  # in the territory, the case out of reach
        with pytest.raises(NotFound):
            case_messages.receive(session, clock, stranger, reference, "reponse_siao",
                                  {"reponse_siao": "place"})
    with pytest.raises(NotFound):  # another territory's SIAO
        case_messages.receive(session, clock, place.outsider, reference, "reponse_siao",
                              {"reponse_siao": "place"})
    with pytest.raises(NotFound):
        case_messages.receive(session, clock, place.siao, "C-0000-INCONNU", "reponse_siao", {})
    with pytest.raises(NotFound):
        case_messages.receive(session, clock, place.siao, "9" * 30 + "\0", "reponse_siao", {})
    assert snapshot(sessions, case_id) == before
    read_only = replace(place.siao, scopes=frozenset({"read"}))  # an API key without write
    with pytest.raises(PermissionDenied):
        case_messages.receive(session, clock, read_only, reference, "reponse_siao",
                              {"reponse_siao": "place"})
    other_circuit = replace(place.siao, scopes=frozenset({"read", "write"}),
                            circuits=frozenset({place.circuits["delai"]}))
    with pytest.raises(NotFound):  # an API key limited to another circuit
        case_messages.receive(session, clock, other_circuit, reference, "reponse_siao",
                              {"reponse_siao": "place"})
    assert snapshot(sessions, case_id) == before
    reasons = [e["reason"] for e in audited(sessions, case_id, "case.message_refused")]
    assert reasons == ["svc.message_sender", "svc.case_not_found", "svc.case_not_found",
                       "svc.api_scope", "svc.case_not_found"]
    assert case_messages.awaited(session, clock, party, case_id) == []  # the minimal view
    give_consent(session, clock, case_id, "operator", ["assessment"])
    [waiting] = case_messages.awaited(session, clock, party, case_id)
    assert not waiting.may_send


@pytest.mark.parametrize("payload", [
    b'{"reponse_siao": ', b"[1, 2]", "\"texte\"", {"reponse_siao": "chateau"},
    {"reponse_siao": "place", "inconnu": 1}, {"reponse_siao": "place", "commentaire_siao": "a\0b"},
    b"\xff\xfe", {}])
def test_a_bad_payload_changes_nothing(session: Session, sessions: sessionmaker[Session],
                                       clock: FixedClock, place: Place,
                                       payload: object) -> None:
    case_id, reference = open_case(session, clock, place, "attente")
    before = snapshot(sessions, case_id)
    with pytest.raises(FormInvalid) as caught:
        case_messages.receive(session, clock, place.siao, reference, "reponse_siao",
                              payload)  # type: ignore[arg-type]
    assert all(m and not m.startswith("json.") for ms in caught.value.errors.values() for m in ms)
    assert snapshot(sessions, case_id) == before
    assert len(audited(sessions, case_id, "case.message_refused")) == 1


def test_hand_entry_form_is_for_those_who_may_send(session: Session, clock: FixedClock,
                                                   place: Place) -> None:
    case_id, _ = open_case(session, clock, place, "attente")
    item, form = case_messages.form_of(session, clock, place.coordinator, case_id,
                                       "reponse_siao")
    assert item.label == "Réponse du SIAO" and form is not None
    assert {f.name for f in form.fields} == {"reponse_siao", "commentaire_siao"}
    with pytest.raises(NotFound):
        case_messages.form_of(session, clock, place.coordinator, case_id, "inconnu")
    with pytest.raises(NotFound):
        case_messages.awaited(session, clock, place.outsider, case_id)
