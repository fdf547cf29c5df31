"""Long-lived cases with loops: past the library's depth 1000 cap and recursion limit
(SPIFFWORKFLOW.md §7), the ready step stays visible and the case is not called finished."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.clock import FixedClock
from engine.core.loader import load_path
from engine.core.spiff.compiler import compile_circuit
from engine.core.spiff.runner import Instance

LOOP = Path(__file__).parent / "fixtures" / "loop"


@pytest.mark.slow
def test_four_hundred_reviews_with_a_boundary_timer() -> None:
    circuit = compile_circuit(load_path(LOOP, LOOP / "forms").bundles[0][1])
    case = Instance.start(circuit, {}, FixedClock(datetime(2026, 1, 5, tzinfo=UTC)))
    for number in range(400):  # a plain BpmnWorkflow stalls at 333, RecursionError at 247
        [task] = case.ready_tasks()
        case.complete(task.id, {"suite": "poursuivre"})
        if number % 100 == 99:
            case = Instance.load(circuit, case.dump(), case.clock)
    assert not case.completed
    [task] = case.ready_tasks()
    assert task.bpmn_id == "bilan"
    assert case.data()["passages"]["bilan"] == 400
    assert len(case.waiting_timers()) == 1
    case.complete(task.id, {"suite": "clore"})
    assert case.end() is not None and case.end().bpmn_id == "e"
