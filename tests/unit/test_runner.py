"""Running a case: every test runs straight and with a save/load between steps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from engine.clock import FixedClock
from engine.core.expressions import ExpressionError
from engine.core.spiff.compiler import CompiledCircuit
from engine.core.spiff.runner import Instance
from engine.core.spiff.scripts import SafeScriptEngine
from engine.core.spiff.serializer import SERIALIZER, load_state
from engine.errors import FormInvalid, InvalidTransition, NotFound, PermissionDenied


@pytest.fixture(params=["straight", "roundtrip"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Driver:
    """Drives a case; in round-trip mode every action is preceded by a save and a load."""

    def __init__(self, circuit: CompiledCircuit, clock: FixedClock, mode: str) -> None:
        self.circuit, self.clock, self.mode = circuit, clock, mode
        self.case = Instance.start(circuit, {"nom_menage": "Ménage Test", "nb_enfants": 2}, clock)

    def __call__(self) -> Instance:
        if self.mode == "roundtrip":
            self.case = Instance.load(self.circuit, self.case.dump(), self.clock)
        return self.case

    def step(self, bpmn_id: str, data: dict[str, object] | None = None) -> None:
        task = next(t for t in self().ready_tasks() if t.bpmn_id == bpmn_id)
        self().complete(task.id, data or {})


@pytest.fixture
def drive(mini: CompiledCircuit, clock: FixedClock, mode: str) -> Driver:
    return Driver(mini, clock, mode)


def test_start_lists_the_first_step_with_its_lane_due_date_and_instructions(
        drive: Driver) -> None:
    [task] = drive().ready_tasks()
    assert (task.bpmn_id, task.name, task.role) == ("analyse", "Analyser la demande",
                                                    "coordination")
    assert task.lane == "Coordination de la plateforme"
    assert task.form == "mini-analyse.json"
    assert task.ready_at == datetime(2026, 1, 9, 14, 0, tzinfo=UTC)
    assert task.due_at == datetime(2026, 1, 13, 22, 59, 59, tzinfo=UTC)  # 2 working days
    assert "Ménage Test" in task.documentation


def test_start_form_is_validated(mini: CompiledCircuit, clock: FixedClock) -> None:
    with pytest.raises(FormInvalid) as caught:
        Instance.start(mini, {"nb_enfants": -1}, clock)
    assert set(caught.value.errors) == {"nom_menage", "nb_enfants"}


def test_boundary_timer_gives_the_due_date_and_fires_at_the_given_instant(
        drive: Driver) -> None:
    drive.step("analyse", {"mesure": "avdl"})
    [task] = drive().ready_tasks()
    assert task.due_at == drive.clock.now() + timedelta(days=15)  # the interrupting timer
    timers = drive().waiting_timers()
    assert [(t.bpmn_id, t.interrupting, t.attached_to) for t in timers] == [
        ("relance_timer", False, "decision"), ("escalade_timer", True, "decision")]
    drive.clock.advance(timedelta(days=9, hours=23))
    assert drive().advance() == []
    drive.clock.advance(timedelta(hours=1))
    fired = drive().advance()
    assert [f.bpmn_id for f in fired] == ["relance_timer"]
    assert [(n.bpmn_id, n.recipient, n.about) for n in drive.case.drain_notices()] == [
        ("relance", "assignee", "decision")]
    assert [t.bpmn_id for t in drive().ready_tasks()] == ["decision"]
    drive.clock.advance(timedelta(days=5))
    assert [f.bpmn_id for f in drive().advance()] == ["escalade_timer"]
    assert [t.bpmn_id for t in drive().ready_tasks()] == ["escalade"]
    assert drive().waiting_timers() == []


def test_late_timers_fire_when_time_jumps_past_them(drive: Driver) -> None:
    drive.step("analyse", {"mesure": "avdl"})
    drive.clock.advance(timedelta(days=40))
    fired = {f.bpmn_id: f for f in drive().advance()}
    assert set(fired) == {"relance_timer", "escalade_timer"}
    assert fired["relance_timer"].fired_at - fired["relance_timer"].due_at == timedelta(days=30)


def test_a_step_is_completed_once_and_only_when_ready(drive: Driver) -> None:
    [task] = drive().ready_tasks()
    drive().complete(task.id, {"mesure": "avdl"})
    with pytest.raises(InvalidTransition, match="completed"):
        drive().complete(task.id, {"mesure": "avdl"})
    state = drive().dump()
    future = next(t for t in drive.case.workflow.get_tasks() if t.task_spec.bpmn_id == "gw")
    with pytest.raises(NotFound):
        drive().complete(str(future.id), {})
    with pytest.raises(NotFound):
        drive().complete("not-a-uuid", {})
    assert drive().dump() == state


def test_wrong_lane_and_invalid_data_change_nothing(drive: Driver) -> None:
    [task] = drive().ready_tasks()
    state = drive().dump()
    with pytest.raises(PermissionDenied):
        drive().complete(task.id, {"mesure": "avdl"}, roles=["operateur"])
    with pytest.raises(FormInvalid) as caught:
        drive().complete(task.id, {"mesure": "bogus", "passages": {}}, roles=["coordination"])
    assert caught.value.errors == {"mesure": ["Choisissez une des valeurs proposées."],
                                   "passages": ["Ce champ n'existe pas dans le formulaire."]}
    assert drive().dump() == state


def test_lists_are_replaced_not_merged(drive: Driver) -> None:
    drive.step("analyse", {"mesure": "avdl", "domaines": ["ADDICT", "MENTAL", "FINANCE"]})
    drive.step("decision", {"decision": "refusee"})
    drive.step("analyse", {"mesure": "avdl", "domaines": ["FINANCE"]})
    assert drive().data()["domaines"] == ["FINANCE"]


def test_bounded_loop_counts_passages_and_reaches_the_commission(drive: Driver) -> None:
    for _ in range(2):
        drive.step("analyse", {"mesure": "asll"})
        drive.step("decision", {"decision": "refusee"})
    assert drive().data()["passages"]["decision"] == 2
    drive.step("examiner")
    assert drive().completed
    assert drive().end() is not None and drive().end().bpmn_id == "end_commission"


def test_end_state_is_the_last_end_event_even_after_a_reminder(drive: Driver) -> None:
    drive.step("analyse", {"mesure": "avdl"})
    drive.clock.advance(timedelta(days=11))
    drive().advance()
    drive.step("decision", {"decision": "acceptee"})
    assert drive().end() is not None and drive().end().bpmn_id == "end_ok"


def test_reset_to_an_earlier_step(drive: Driver) -> None:
    drive.step("analyse", {"mesure": "avdl"})
    drive.clock.advance(timedelta(days=1))
    drive().reset_to("analyse")
    [task] = drive().ready_tasks()
    assert task.bpmn_id == "analyse"
    assert task.ready_at == drive.clock.now()
    assert drive().waiting_timers() == []


def test_state_survives_a_database_that_reorders_keys(mini: CompiledCircuit,
                                                      clock: FixedClock) -> None:
    case = Instance.start(mini, {"nom_menage": "Ménage Ordre"}, clock)
    [task] = case.ready_tasks()
    case.complete(task.id, {"mesure": "avdl"})
    shuffled = json.dumps(json.loads(case.dump()), sort_keys=True)  # what JSONB would do
    again = Instance.load(mini, shuffled, clock)
    assert again.data()["nom_menage"] == "Ménage Ordre"
    assert again.data()["mesure"] == "avdl"


def test_spec_is_stored_once_and_state_is_small(mini: CompiledCircuit, clock: FixedClock) -> None:
    case = Instance.start(mini, {"nom_menage": "x"}, clock)
    state = json.loads(case.dump())
    assert "spec" not in state and "subprocess_specs" not in state
    assert len(case.dump()) < 20 * 1024


def test_a_loaded_workflow_never_runs_with_the_default_script_engine(
        mini: CompiledCircuit, clock: FixedClock) -> None:
    case = Instance.start(mini, {"nom_menage": "x"}, clock)
    raw = load_state(case.dump(), mini.spec_json)  # even without Instance.load's re-assignment
    assert isinstance(raw.script_engine, SafeScriptEngine)
    data = json.loads(case.dump())
    data.update(json.loads(mini.spec_json))
    rebuilt = SERIALIZER.from_dict(data)  # the library's own path
    assert isinstance(rebuilt.script_engine, SafeScriptEngine)
    task = rebuilt.get_tasks()[0]
    with pytest.raises(Exception) as caught:
        rebuilt.script_engine.evaluate(task, "().__class__.__base__.__subclasses__()")
    assert isinstance(caught.value.__context__, ExpressionError)
