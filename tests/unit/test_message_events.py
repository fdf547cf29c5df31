"""Message events: a case waits for an outside answer (intermediate catch event, receive
task, event attached to a step), receives it with its form's data, and refuses a message it
does not wait for. Every test runs straight and with a save/load between steps."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from engine.clock import FixedClock
from engine.core.bundles import CircuitBundle
from engine.core.loader import load_path
from engine.core.problems import Problem
from engine.core.spiff.compiler import CompiledCircuit, check, compile_circuit
from engine.core.spiff.runner import Instance
from engine.errors import Conflict, FormInvalid

FOLDER = Path(__file__).parent / "fixtures" / "messages"


def bundles() -> dict[str, CircuitBundle]:
    return {key.split("/")[1]: b for key, b in load_path(FOLDER, FOLDER / "forms").bundles}


@pytest.fixture(scope="module")
def circuits() -> dict[str, CompiledCircuit]:
    return {key: compile_circuit(b) for key, b in bundles().items()}


@pytest.fixture(params=["straight", "roundtrip"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Driver:
    def __init__(self, circuit: CompiledCircuit, clock: FixedClock, mode: str) -> None:
        self.circuit, self.clock, self.mode = circuit, clock, mode
        self.case = Instance.start(circuit, {"nom_menage": "Ménage Test"}, clock)

    def __call__(self) -> Instance:
        if self.mode == "roundtrip":
            self.case = Instance.load(self.circuit, self.case.dump(), self.clock)
        return self.case

    def ready(self) -> list[str]:
        return [t.bpmn_id for t in self().ready_tasks()]

    def step(self, bpmn_id: str, data: dict[str, object] | None = None) -> None:
        task = next(t for t in self().ready_tasks() if t.bpmn_id == bpmn_id)
        self().complete(task.id, data or {})


def drive(circuits: dict[str, CompiledCircuit], key: str, clock: FixedClock,
          mode: str) -> Driver:
    return Driver(circuits[key], clock, mode)


def test_a_catch_event_waits_beside_the_support_and_lands_the_answer_in_the_case(
        circuits: dict[str, CompiledCircuit], clock: FixedClock, mode: str) -> None:
    d = drive(circuits, "attente", clock, mode)
    opened = clock.now()
    [waiting] = d().waiting_messages()
    assert (waiting.name, waiting.bpmn_id, waiting.label, waiting.form, waiting.senders) == (
        "reponse_siao", "attendre", "Réponse du SIAO", "msg-reponse-siao.json", ("siao",))
    assert waiting.since == opened and waiting.attached_to is None
    assert d.ready() == ["suivi"]  # the support goes on while the answer is awaited
    clock.advance(timedelta(days=3))
    assert d().waiting_messages()[0].since == opened  # since when: not moved by a reload
    received = d().receive("reponse_siao", {"reponse_siao": "place", "commentaire_siao": "T3"})
    assert [v.bpmn_id for v in received] == ["attendre"]
    assert d().waiting_messages() == []
    assert d().data()["reponse_siao"] == "place"
    d.step("suivi")
    [conclure] = d().ready_tasks()
    assert conclure.bpmn_id == "conclure" and "place" in conclure.documentation


def test_a_receive_task_waits_and_goes_on(circuits: dict[str, CompiledCircuit],
                                          clock: FixedClock, mode: str) -> None:
    d = drive(circuits, "reception", clock, mode)
    assert d.ready() == []
    assert [v.bpmn_id for v in d().waiting_messages()] == ["recevoir"]
    d().receive("reponse_siao", {"reponse_siao": "attente"})
    assert d.ready() == ["conclure"]
    assert d().data()["reponse_siao"] == "attente"


def test_an_answer_before_the_deadline_ends_the_step_and_its_timer(
        circuits: dict[str, CompiledCircuit], clock: FixedClock, mode: str) -> None:
    d = drive(circuits, "delai", clock, mode)
    waiting = {v.bpmn_id: v for v in d().waiting_messages()}
    assert set(waiting) == {"recue", "info"}
    assert (waiting["recue"].attached_to, waiting["recue"].interrupting) == ("relancer", True)
    assert (waiting["info"].interrupting, waiting["info"].form) == (False, None)
    clock.advance(timedelta(days=14))
    d().receive("reponse_siao", {"reponse_siao": "place"})
    assert d().completed and d().end() is not None
    assert d().end().bpmn_id == "fin_reponse"  # type: ignore[union-attr]
    assert d().waiting_timers() == [] and d().waiting_messages() == []


def test_the_deadline_beats_a_late_answer(circuits: dict[str, CompiledCircuit],
                                          clock: FixedClock, mode: str) -> None:
    d = drive(circuits, "delai", clock, mode)
    clock.advance(timedelta(days=15))
    assert [f.bpmn_id for f in d().advance()] == ["echeance"]
    assert d.ready() == ["escalader"]
    before = d().dump()
    with pytest.raises(Conflict) as caught:
        d().receive("reponse_siao", {"reponse_siao": "place"})
    assert "reponse_siao" in str(caught.value) and "n'attend pas" in str(caught.value)
    assert d().dump() == before


def test_a_non_interrupting_message_leaves_the_step_open(
        circuits: dict[str, CompiledCircuit], clock: FixedClock, mode: str) -> None:
    d = drive(circuits, "delai", clock, mode)
    d().receive("information_caf", {})
    assert sorted(d.ready()) == ["lire_info", "relancer"]
    assert [t.bpmn_id for t in d().waiting_timers()] == ["echeance"]
    d.step("relancer")
    assert d().waiting_messages() == [] and d().waiting_timers() == []


def test_an_invalid_payload_changes_nothing(circuits: dict[str, CompiledCircuit],
                                            clock: FixedClock, mode: str) -> None:
    d = drive(circuits, "attente", clock, mode)
    before = d().dump()
    with pytest.raises(FormInvalid) as caught:
        d().receive("reponse_siao", {"reponse_siao": "chateau", "inconnu": 1})
    assert set(caught.value.errors) == {"reponse_siao", "inconnu"}
    with pytest.raises(FormInvalid) as missing:
        d().receive("reponse_siao", {})
    assert set(missing.value.errors) == {"reponse_siao"}
    assert d().dump() == before
    assert [v.bpmn_id for v in d().waiting_messages()] == ["attendre"]


def test_a_message_without_form_takes_no_data(circuits: dict[str, CompiledCircuit],
                                              clock: FixedClock, mode: str) -> None:
    d = drive(circuits, "delai", clock, mode)
    with pytest.raises(FormInvalid):
        d().receive("information_caf", {"note": "x"})


def test_an_unknown_message_is_our_own_error(circuits: dict[str, CompiledCircuit],
                                             clock: FixedClock, mode: str) -> None:
    d = drive(circuits, "attente", clock, mode)
    with pytest.raises(Conflict):
        d().receive("inconnu", {})
    d().receive("reponse_siao", {"reponse_siao": "place"})
    with pytest.raises(Conflict):  # already received: never SpiffWorkflow's exception
        d().receive("reponse_siao", {"reponse_siao": "place"})


# ----------------------------------------------------------------------------- the check

def mutated(old: str, new: str, key: str = "attente") -> CircuitBundle:
    base = bundles()[key]
    file = f"{key}.bpmn"
    text = base.bpmn[file].decode()
    assert old in text, old
    return replace(base, bpmn={**base.bpmn, file: text.replace(old, new, 1).encode()})


def found(bundle: CircuitBundle) -> list[tuple[str, str | None, int | None]]:
    return [(p.code, p.element_id, p.line) for p in check(bundle) if p.is_error]


def test_the_three_ways_of_waiting_pass_the_check() -> None:
    for key, bundle in bundles().items():
        assert check(bundle) == [], key


@pytest.mark.parametrize(("old", "new", "code", "element"), [
    ('messageRef="msg_siao" />', 'messageRef="msg_absent" />', "bpmn.message_undeclared",
     "attendre"),
    ('messageRef="msg_siao" />', "/>", "bpmn.message_undeclared", "attendre"),
    ('<bpmn:message id="msg_siao" name="reponse_siao" />',
     '<bpmn:message id="msg_siao" name="réponse du SIAO" />', "bpmn.message_name", "attendre"),
    ('<bpmn:message id="msg_siao" name="reponse_siao" />', '<bpmn:message id="msg_siao" />',
     "bpmn.message_name", "attendre"),
    ('name="from" value="siao"', 'name="from" value="prefecture"', "bpmn.message_from",
     "attendre"),
    ('<bpmn:intermediateCatchEvent id="attendre" name="Réponse du SIAO">',
     '<bpmn:intermediateThrowEvent id="attendre" name="Réponse du SIAO">',
     "bpmn.message_throw", "attendre"),
    ('<bpmn:message id="msg_siao" name="reponse_siao" />',
     '<bpmn:message id="msg_siao" name="reponse_siao" /><bpmn:correlationProperty id="cp" '
     'name="ref" />', "bpmn.unsupported", "cp"),
])
def test_malformed_declarations_are_refused_at_their_element(
        old: str, new: str, code: str, element: str) -> None:
    if "intermediateThrowEvent" in new:
        bundle = mutated(old, new)
        text = bundle.bpmn["attente.bpmn"].decode().replace(
            "</bpmn:intermediateCatchEvent>", "</bpmn:intermediateThrowEvent>")
        bundle = replace(bundle, bpmn={"attente.bpmn": text.encode()})
    else:
        bundle = mutated(old, new)
    problems = found(bundle)
    assert any(c == code and e == element and line for c, e, line in problems), problems
    problem = next(p for p in check(bundle) if p.code == code)
    assert isinstance(problem, Problem) and problem.message("fr") != code


def test_a_message_start_event_is_refused_with_its_reason() -> None:
    bundle = mutated('<bpmn:outgoing>f1</bpmn:outgoing>\n    </bpmn:startEvent>',
                     '<bpmn:outgoing>f1</bpmn:outgoing><bpmn:messageEventDefinition id="ms" '
                     'messageRef="msg_siao" />\n    </bpmn:startEvent>')
    [problem] = [p for p in check(bundle) if p.code == "bpmn.message_start"]
    assert problem.element_id == "start" and "saisine" in problem.message("fr")


# ----------------------------------------------------------------------------- simulate, dry-run

def test_a_scenario_receives_a_message(circuits: dict[str, CompiledCircuit]) -> None:
    from engine.core import simulate
    scenario = {"data": {"nom_menage": "Essai"}, "steps": [
        {"wait": "P2D"}, {"message": "reponse_siao", "data": {"reponse_siao": "place"}},
        {"task": "suivi"}, {"task": "conclure"}]}
    walk = simulate.run(circuits["attente"], scenario, roundtrip=True)
    assert walk.end is not None and walk.end.bpmn_id == "fin"
    [event] = [e for e in walk.events if e.kind == "message"]
    assert event.text == "reponse_siao → attendre « Réponse du SIAO »"
    with pytest.raises(simulate.ScenarioError, match="attendus : reponse_siao"):
        simulate.run(circuits["attente"], {"data": {"nom_menage": "Essai"},
                                           "steps": [{"message": "inconnu"}]})
    with pytest.raises(FormInvalid):
        simulate.run(circuits["attente"], {"data": {"nom_menage": "Essai"}, "steps": [
            {"message": "reponse_siao", "data": {"reponse_siao": "chateau"}}]})


def test_the_dry_run_offers_to_receive_the_message(circuits: dict[str, CompiledCircuit],
                                                   clock: FixedClock) -> None:
    from engine.core import dryrun
    now = clock.now()
    started = dryrun.play(circuits["delai"], dryrun.Posted(
        action="commencer", answers={"nom_menage": ["Essai"]}), now)
    assert started.run is not None
    assert {m.name for m in started.run.walk.messages} == {"reponse_siao", "information_caf"}
    assert started.run.message_forms["reponse_siao"] is not None
    assert started.run.message_forms["information_caf"] is None

    def carried(outcome: dryrun.Outcome, **more: object) -> dryrun.Posted:
        state = outcome.state
        return dryrun.Posted(start=state.start.isoformat(), data=state.dumps("data"),
                             steps=state.dumps("steps"), **more)  # type: ignore[arg-type]

    refused = dryrun.play(circuits["delai"], carried(
        started, action="recevoir", message="reponse_siao", answers={"reponse_siao": ["x"]}),
        now)
    assert "reponse_siao" in refused.errors and refused.state.steps == ()
    forged = dryrun.play(circuits["delai"], carried(
        started, action="recevoir", message="inconnu", answers={}), now)
    assert forged.errors[""] and forged.state.steps == ()
    received = dryrun.play(circuits["delai"], carried(
        started, action="recevoir", message="reponse_siao",
        answers={"reponse_siao": ["place"]}), now)
    assert not received.errors
    assert received.state.steps == ({"message": "reponse_siao",
                                     "data": {"reponse_siao": "place"}},)
    assert received.run is not None and received.run.walk.end is not None
    assert received.run.walk.end.bpmn_id == "fin_reponse"


def test_a_message_variable_also_keeps_the_answers_together(clock: FixedClock) -> None:
    bundle = mutated('<bpmn:messageEventDefinition id="med1" messageRef="msg_siao" />',
                     '<bpmn:messageEventDefinition id="med1" messageRef="msg_siao">'
                     '<bpmn:extensionElements><spiffworkflow:messageVariable>siao'
                     '</spiffworkflow:messageVariable></bpmn:extensionElements>'
                     '</bpmn:messageEventDefinition>')
    circuit = compile_circuit(bundle)
    case = Instance.start(circuit, {"nom_menage": "Essai"}, clock)
    case.receive("reponse_siao", {"reponse_siao": "place"})
    case = Instance.load(circuit, case.dump(), clock)
    assert case.data()["reponse_siao"] == "place"
    [done] = [t for t in case.workflow.get_tasks() if t.task_spec.bpmn_id == "attendre"]
    assert done.data["siao"] == {"reponse_siao": "place"}
