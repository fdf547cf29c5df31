"""Moving a running case to another version of its circuit."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from engine.clock import FixedClock
from engine.core.spiff.compiler import CompiledCircuit, compile_circuit
from engine.core.spiff.migration import move, preview
from engine.core.spiff.runner import Instance
from engine.errors import Conflict
from tests.conftest import mini_bundle


def _variant(old: str, new: str) -> CompiledCircuit:
    base = mini_bundle()
    text = base.bpmn["mini.bpmn"].decode().replace(old, new)
    return compile_circuit(replace(base, bpmn={**base.bpmn, "mini.bpmn": text.encode()}))


def test_a_case_moves_to_a_version_with_a_renamed_step(mini: CompiledCircuit,
                                                       clock: FixedClock) -> None:
    case = Instance.start(mini, {"nom_menage": "Ménage Déplacé"}, clock)
    [task] = case.ready_tasks()
    case.complete(task.id, {"mesure": "avdl"})
    v2 = _variant('name="Statuer sur l\'orientation"', 'name="Décider de l\'orientation"')
    found = preview(case, v2)
    assert not found.blocked and found.changed_active == ["Statuer sur l'orientation"]
    moved = move(case, v2)
    [ready] = moved.ready_tasks()
    assert (ready.bpmn_id, ready.name) == ("decision", "Décider de l'orientation")
    assert moved.data()["mesure"] == "avdl"
    moved.complete(ready.id, {"decision": "acceptee"})
    assert moved.end() is not None and moved.end().bpmn_id == "end_ok"
    again = Instance.load(v2, moved.dump(), clock)  # stored against the new version's spec
    assert again.end() is not None


def test_a_move_is_refused_while_a_removed_step_is_active(mini: CompiledCircuit,
                                                          clock: FixedClock) -> None:
    case = Instance.start(mini, {"nom_menage": "Ménage Bloqué"}, clock)
    base = mini_bundle()
    text = base.bpmn["mini.bpmn"].decode()
    text = re.sub(r'<bpmn:userTask id="analyse".*?</bpmn:userTask>', "", text, flags=re.S)
    text = text.replace('<bpmn:sequenceFlow id="f2" sourceRef="analyse" targetRef="decision" />', "")
    text = text.replace('targetRef="analyse"', 'targetRef="decision"')
    text = text.replace("<bpmn:flowNodeRef>analyse</bpmn:flowNodeRef>", "")
    text = text.replace("<bpmn:incoming>f2</bpmn:incoming>", "<bpmn:incoming>f1</bpmn:incoming>"
                        "<bpmn:incoming>f_retour</bpmn:incoming><bpmn:incoming>f_esc</bpmn:incoming>")
    target = compile_circuit(replace(base, bpmn={**base.bpmn, "mini.bpmn": text.encode()}))
    found = preview(case, target)
    assert found.blocked and found.removed_active == ["Analyser la demande"]
    with pytest.raises(Conflict, match="Analyser la demande"):
        move(case, target)
