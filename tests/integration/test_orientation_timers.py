"""The circuit's effects on orientations, through the runtime, on SQLite and PostgreSQL: a
timer's throw event with ``orientation`` = ``expire`` expires the case's open orientations in
the timer's own transaction, and a case reaching its end cancels or closes them; no other
save touches them. Then the reference circuits on the demo territory: C1 reminds and expires
an orientation back to the orientation step, a refusal leads to a new orientation whose
acceptance takes a place that the case's end gives back; C2 honours a refusal and sends the
second one to the commission."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import scheduler
from engine.clock import FixedClock
from engine.core import timers as timers_core
from engine.persistence.models import (
    Case,
    Circuit,
    DirectoryService,
    HumanTask,
    Orientation,
    OrientationEvent,
    OutboxMessage,
    User,
)
from engine.persistence.models.human_task import TaskStatus
from engine.services import cases, demo, orientations, runtime, tasks
from engine.services.access import SYSTEM, load_actor
from tests.integration.factories import MINI, World, make_world, start_at_decision

NOTIFY = '<spiffworkflow:property name="notify" value="assignee" />'


@pytest.fixture
def expiring(session: Session, clock: FixedClock, tmp_path: Path) -> World:
    """The small circuit whose reminder also expires the open orientation."""
    folder = tmp_path / "mini"
    shutil.copytree(MINI, folder)
    bpmn = folder / "mini.bpmn"
    text = bpmn.read_text()
    assert NOTIFY in text
    bpmn.write_text(text.replace(NOTIFY, NOTIFY + '<spiffworkflow:property name="orientation" '
                                 'value="expire" />', 1))
    return make_world(session, clock, folder)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every call the runtime makes to the orientation service (recorded, then passed on)."""
    seen: list[tuple[str, Any]] = []
    real_expire, real_end = orientations.expire_open, orientations.end_of_case

    def expire_open(session: Session, clock: FixedClock, case_id: int, comment: str) -> int:
        seen.append(("expire", (case_id, comment, session.in_transaction())))
        return real_expire(session, clock, case_id, comment)

    def end_of_case(session: Session, clock: FixedClock, actor: Any, case_id: int,
                    cancelled: bool) -> None:
        seen.append(("end", (case_id, actor.user_id, cancelled)))
        real_end(session, clock, actor, case_id, cancelled)

    monkeypatch.setattr(orientations, "expire_open", expire_open)
    monkeypatch.setattr(orientations, "end_of_case", end_of_case)
    return seen


def test_a_fired_timer_expires_the_open_orientations_in_its_transaction(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        expiring: World, calls: list[tuple[str, Any]]) -> None:
    case_id = start_at_decision(session, clock, expiring, "Ménage Expiré")
    assert calls == []  # starting and completing a step do not touch orientations
    clock.advance(timedelta(days=10))
    assert scheduler.run_once(sessions, clock, "w").fired == 1
    assert calls == [("expire", (case_id, "Relance envoyée", True))]
    clock.advance(timedelta(days=1))
    scheduler.run_once(sessions, clock, "w")
    assert len(calls) == 1  # once per run of the event


def test_the_end_of_a_case_closes_its_orientations_once(
        session: Session, clock: FixedClock, expiring: World,
        calls: list[tuple[str, Any]]) -> None:
    case_id = start_at_decision(session, clock, expiring, "Ménage Terminé")
    decision = session.scalar(select(HumanTask.id).where(
        HumanTask.case_id == case_id, HumanTask.bpmn_id == "decision"))
    assert decision is not None
    tasks.complete(session, clock, expiring.operator, decision, {"decision": "acceptee"})
    assert calls == [("end", (case_id, None, False))]


# --------------------------------------------------------------------------- the reference
# circuits, on the demo territory (its directory, organisations and people)

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "scenarios" / "reference"


@dataclass
class Walker:
    """Plays a scenario's steps on a real case through the services and the scheduler."""

    session: Session
    sessions: sessionmaker[Session]
    clock: FixedClock
    territory_id: int
    case_id: int

    def step(self, step: dict[str, Any]) -> None:
        if "wait" in step:
            self.clock.set(timers_core.parse_duration(step["wait"]).after(self.clock.now()))
            self.session.rollback()  # end this session's read: the scheduler's work shows
            scheduler.run_once(self.sessions, self.clock, "w")
            return
        task_id = self.session.scalar(select(HumanTask.id).where(
            HumanTask.case_id == self.case_id, HumanTask.bpmn_id == step["task"],
            HumanTask.status == TaskStatus.OPEN))
        assert task_id is not None, (step["task"], self.open_steps())
        tasks.complete(self.session, self.clock, SYSTEM, task_id, demo.with_demo_services(
            self.session, self.territory_id, step.get("data", {})))
        self.session.expire_all()

    def until(self, steps: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
        for step in steps[:count]:
            self.step(step)
        return steps[count:]

    def open_steps(self) -> list[str]:
        return sorted(self.session.scalars(select(HumanTask.bpmn_id).where(
            HumanTask.case_id == self.case_id, HumanTask.status == TaskStatus.OPEN)))

    def orientations(self) -> list[tuple[str, str, tuple[str, ...]]]:
        rows = self.session.execute(select(
            DirectoryService.name, Orientation.state, Orientation.reasons).join(
            DirectoryService, DirectoryService.id == Orientation.service_id).where(
            Orientation.case_id == self.case_id).order_by(Orientation.id))
        return [(name, state, tuple(reasons)) for name, state, reasons in rows]

    def places(self, name: str) -> int | None:
        return self.session.scalar(select(DirectoryService.places_available).where(
            DirectoryService.territory_id == self.territory_id, DirectoryService.name == name))


def _walker(session: Session, sessions: sessionmaker[Session], clock: FixedClock,
            circuit_key: str, scenario: dict[str, Any]) -> Walker:
    territory_id = demo.load(session, clock, ROOT, "mot-de-passe-demo", cases_per_circuit=0)
    circuit_id = session.scalar(select(Circuit.id).where(
        Circuit.territory_id == territory_id, Circuit.key == circuit_key))
    assert circuit_id is not None
    summary = cases.start(session, clock, SYSTEM, circuit_id, scenario["data"])
    return Walker(session, sessions, clock, territory_id, summary.id)


def _scenario(name: str) -> dict[str, Any]:
    return dict(json.loads((SCENARIOS / name).read_text()))


RELAIS, HORIZON = "AVDL Relais — secteur nord", "AVDL Horizon — secteur sud"


def test_c1_reminds_then_expires_the_orientation_back_to_the_orientation_step(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock) -> None:
    scenario = _scenario("coordination/e4-orientation-expiree.json")
    walk = _walker(session, sessions, clock, "coordination", scenario)
    rest = walk.until(scenario["steps"], 3)  # C1_T01, C1_T02, C1_T04 → AVDL Relais
    assert walk.orientations() == [(RELAIS, "envoyee", ())]
    assert walk.open_steps() == ["C1_T05"]

    walk.step(rest[0])  # 10 days: the reminder, to the step's holder and to the coordination
    reminders = session.scalars(select(OutboxMessage).where(
        OutboxMessage.case_id == walk.case_id, OutboxMessage.kind == "relance",
        OutboxMessage.payload["step"].as_string() == "C1_T05"))
    assert sorted((m.payload["notice"], m.recipient_role) for m in reminders) == [
        ("Relance envoyée", "operateur"), ("Relance signalée à la coordination", "coordination")]
    assert walk.orientations() == [(RELAIS, "envoyee", ())]

    walk.step(rest[1])  # 30 days: expired, back to the analysis
    assert walk.orientations() == [(RELAIS, "expiree", ())]
    assert walk.open_steps() == ["C1_T04"]
    event = session.scalars(select(OrientationEvent).order_by(OrientationEvent.id.desc())
                            ).first()
    assert event is not None
    assert (event.after, event.via, event.comment) == ("expiree", "minuteur",
                                                       "Orientation expirée")

    for step in rest[2:]:  # a new orientation, refused with two reasons; the relay
        walk.step(step)
    assert walk.orientations() == [(RELAIS, "expiree", ()),
                                   (HORIZON, "refusee", ("hors_secteur", "autre"))]
    assert session.get(Case, walk.case_id).status == "completed"  # type: ignore[union-attr]


def test_c1_refusal_then_acceptance_takes_a_place_and_the_end_gives_it_back(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock) -> None:
    scenario = _scenario("coordination/e4-refus-puis-nouvelle-orientation.json")
    walk = _walker(session, sessions, clock, "coordination", scenario)
    before = walk.places(HORIZON)
    rest = walk.until(scenario["steps"], 6)  # … refused (C1_T05), told (C1_T15), C1_T04 again
    assert walk.orientations() == [(RELAIS, "refusee", ("pas_de_place",)),
                                   (HORIZON, "envoyee", ())]
    # the second operator's page does not show the first one's refusal
    coordinator = load_actor(session, session.scalar(select(User.id).where(
        User.email == "coord@demo.test")))  # type: ignore[arg-type]
    step = session.scalar(select(HumanTask.id).where(
        HumanTask.case_id == walk.case_id, HumanTask.bpmn_id == "C1_T05",
        HumanTask.status == TaskStatus.OPEN))
    assert step is not None
    page = tasks.details(session, clock, coordinator, step)
    assert page.values == {} and page.form is not None
    assert "motifs_refus" in page.form.field_names()
    walk.step(rest[0])  # Horizon accepts: a place is taken
    assert walk.orientations()[-1] == (HORIZON, "acceptee", ())
    assert walk.places(HORIZON) == before - 1  # type: ignore[operator]
    data = runtime.load(session, session.get(Case, walk.case_id), clock).data()  # type: ignore[arg-type]
    assert (data["decision_operateur"], data["motifs_refus"]) == ("acceptee", None)
    for step in rest[1:]:
        walk.step(step)
    case = session.get(Case, walk.case_id)
    assert case is not None and (case.status, case.end_state) == ("completed", "C1_E4")
    assert walk.places(HORIZON) == before  # the end of the case gave it back
    returned = session.scalar(select(Orientation.place_returned_at).where(
        Orientation.case_id == walk.case_id, Orientation.state == "acceptee"))
    assert returned is not None


def test_c2_honours_a_refusal_and_sends_the_second_one_to_the_commission(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock) -> None:
    scenario = _scenario("mutualisation/deux-refus-commission.json")
    walk = _walker(session, sessions, clock, "mutualisation", scenario)
    rest = walk.until(scenario["steps"], 5)  # C2_T01, C2_T02, C2_T03, C2_T05o, C2_T05b refused
    assert walk.orientations() == [(RELAIS, "refusee", ("besoins",))]
    assert walk.open_steps() == ["C2_T05o"]  # not on to the support: back to the choice
    rest = walk.until(rest, 2)  # another service, refused too
    assert [o[1] for o in walk.orientations()] == ["refusee", "refusee"]
    assert walk.open_steps() == ["C3_T01"]  # the commission
    for step in rest:
        walk.step(step)
    case = session.get(Case, walk.case_id)
    assert case is not None and (case.status, case.end_state) == ("completed", "C2_E4")


def test_a_case_opens_after_demo_generate_copied_cases_with_their_ids(
        session: Session, clock: FixedClock) -> None:
    """``demo generate`` (the benches' volume) writes case ids itself: PostgreSQL's sequence
    must follow, or the next case opened collides with a copy."""
    territory_id = demo.load(session, clock, ROOT, "mot-de-passe-demo", cases_per_circuit=1)
    demo.generate(session, clock, territory_id, 5)
    circuit_id = session.scalar(select(Circuit.id).where(
        Circuit.territory_id == territory_id, Circuit.key == "coordination"))
    assert circuit_id is not None
    summary = cases.start(session, clock, SYSTEM, circuit_id, {"nom_menage": "Ménage Neuf",
                                                                   "canal": "partenaire"})
    assert summary.id > max(session.scalars(select(Case.id).where(Case.id != summary.id)))
