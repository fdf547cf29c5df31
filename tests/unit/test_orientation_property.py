"""A throw event's ``orientation`` property: the runner reports it once when the event runs,
the check refuses an unknown value or a misplaced one, the comparison says it in words."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from engine.clock import FixedClock
from engine.core.diff import diff_files
from engine.core.spiff.compiler import check, compile_circuit
from engine.core.spiff.runner import Instance
from tests.conftest import mini_bundle
from tests.unit.test_check import mutated, only

NOTIFY = '<spiffworkflow:property name="notify" value="assignee" />'
EXPIRE = NOTIFY + '\n          <spiffworkflow:property name="orientation" value="expire" />'


@pytest.mark.parametrize("roundtrip", [False, True], ids=["straight", "roundtrip"])
def test_a_fired_throw_event_reports_its_effect_once(clock: FixedClock,
                                                      roundtrip: bool) -> None:
    circuit = compile_circuit(mutated(NOTIFY, EXPIRE))
    case = Instance.start(circuit, {"nom_menage": "Ménage Test"}, clock)

    def again() -> Instance:
        return Instance.load(circuit, case.dump(), clock) if roundtrip else case

    [task] = case.ready_tasks()
    case.complete(task.id, {"mesure": "avdl"})
    assert case.drain_effects() == []
    clock.advance(timedelta(days=10))
    case = again()
    case.advance()
    [effect] = case.drain_effects()
    assert (effect.bpmn_id, effect.name, effect.effect) == ("relance", "Relance envoyée",
                                                            "expire")
    assert [n.bpmn_id for n in case.drain_notices()] == ["relance"]  # the notice still goes
    case = again()
    case.advance()
    case.settle()
    assert case.drain_effects() == []  # a later pass or a reload does not report it again


def test_a_throw_event_without_the_property_has_no_effect(clock: FixedClock) -> None:
    case = Instance.start(compile_circuit(mini_bundle()), {"nom_menage": "Ménage Test"}, clock)
    [task] = case.ready_tasks()
    case.complete(task.id, {"mesure": "avdl"})
    clock.advance(timedelta(days=10))
    case.advance()
    assert case.drain_effects() == []


def test_the_known_effect_passes_the_check() -> None:
    assert [p.format() for p in check(mutated(NOTIFY, EXPIRE)) if p.is_error] == []


def test_an_unknown_effect_is_an_error_naming_the_element() -> None:
    bundle = mutated(NOTIFY, EXPIRE.replace('value="expire"', 'value="expirer"'))
    problem = only(bundle, "bpmn.orientation")
    assert (problem.element_id, problem.element_name) == ("relance", "Relance envoyée")
    assert "expirer" in problem.message("fr") and "expire" in problem.message("en")
    assert "Effet sur l'orientation inconnu" in problem.message("fr")


def test_the_effect_belongs_on_a_throw_event_only() -> None:
    step = '<spiffworkflow:property name="formJsonSchemaFilename" value="mini-decision.json" />'
    bundle = mutated(step, step + '<spiffworkflow:property name="orientation" value="expire" />')
    problem = only(bundle, "bpmn.orientation_where")
    assert problem.element_id == "decision"


def test_the_comparison_says_the_effect_in_words() -> None:
    old = mini_bundle()
    new = replace(old, bpmn={**old.bpmn, "mini.bpmn": old.bpmn["mini.bpmn"].decode().replace(
        NOTIFY, EXPIRE).encode()})
    [change] = [c for c in diff_files(old.bpmn, new.bpmn) if c.element_id == "relance"]
    assert change.text() == ("Jalon « Relance envoyée » : effet sur l'orientation aucun → "
                             "l'orientation en attente expire")
