"""Every circuit of processes/ walked with its scripted scenarios (tests/scenarios/), straight
and with a save/load between steps; together they must reach every end event.

A step of a scenario may say when it was due, ``"due": "2026-01-07"`` (the day, in Paris) or
``"due": null`` (no deadline); ``expect.due`` does the same for the steps left ready at the end."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from SpiffWorkflow.util.task import TaskState

from engine.core import bpmnxml, simulate
from engine.core.bundles import load_territory
from engine.core.calendar import PARIS
from engine.core.loader import load_path
from engine.core.simulate import load_scenario, run
from engine.core.snapshots import TaskView
from engine.core.spiff import serializer
from engine.core.spiff.compiler import CompiledCircuit, compile_circuit
from engine.core.spiff.runner import Instance

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ROOT / "processes"
SCENARIOS = ROOT / "tests" / "scenarios"


def _circuits() -> list[tuple[str, str]]:
    out = []
    for folder in sorted(p for p in PROCESSES.iterdir() if (p / "territory.json").is_file()):
        out += [(folder.name, c.key) for c in load_territory(folder).circuits]
    return out


@cache
def _compiled(territory: str, key: str) -> CompiledCircuit:
    loaded = load_path(PROCESSES / territory, ROOT / "forms")
    return compile_circuit(dict(loaded.bundles)[f"{territory}/{key}"])


def _scenarios() -> list[Path]:
    return sorted(SCENARIOS.glob("*/*/*.json"))


@pytest.mark.parametrize("roundtrip", [False, True], ids=["straight", "roundtrip"])
@pytest.mark.parametrize("path", _scenarios(), ids=lambda p: "/".join(p.parts[-3:]))
def test_scenario_reaches_its_expected_state(path: Path, roundtrip: bool) -> None:
    territory, key = path.parts[-3], path.parts[-2]
    scenario = load_scenario(path.read_bytes())
    walk = run(_compiled(territory, key), scenario, roundtrip=roundtrip)
    expect = scenario.get("expect", {})
    assert expect, f"{path.name}: the scenario states no expectation"
    if "end" in expect:
        assert walk.end is not None, [t.bpmn_id for t in walk.ready]
        assert walk.end.bpmn_id == expect["end"]
    if "ready" in expect:
        assert sorted(t.bpmn_id for t in walk.ready) == sorted(expect["ready"])
    completed = [e.task for e in walk.events if e.kind == "complete" and e.task is not None]
    played = [s for s in scenario["steps"] if "task" in s]
    for number, (step, task) in enumerate(zip(played, completed, strict=True), start=1):
        if "due" in step:
            assert _day(task) == step["due"], f"{path.name}: step {number} ({task.bpmn_id})"
    for bpmn_id, due in expect.get("due", {}).items():
        assert [_day(t) for t in walk.ready if t.bpmn_id == bpmn_id] == [due], bpmn_id


def _day(task: TaskView) -> str | None:
    return task.due_at.astimezone(PARIS).date().isoformat() if task.due_at else None


@pytest.mark.parametrize("path", _scenarios(), ids=lambda p: "/".join(p.parts[-3:]))
def test_the_fast_paths_agree_with_the_library_at_every_step(
        path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner reads the task tables instead of walking the tree, and the serializer
    leaves the spec out instead of converting it: same tasks, same state text."""
    real = simulate._report

    def checked(case: Instance, walk: simulate.Walk, seen: set[str]) -> None:
        for state in (TaskState.READY, TaskState.WAITING, TaskState.COMPLETED):
            assert ({t.id for t in case._each(state)}
                    == {t.id for t in case.workflow.get_tasks(state=state)})
        full = serializer._to_dict(case.workflow)
        for key in serializer.SPEC_KEYS:
            del full[key]
        assert serializer.dump_state(case.workflow) == serializer._dumps(full)
        real(case, walk, seen)

    monkeypatch.setattr(simulate, "_report", checked)
    territory, key = path.parts[-3], path.parts[-2]
    run(_compiled(territory, key), load_scenario(path.read_bytes()), roundtrip=True)


@pytest.mark.parametrize(("territory", "key"), _circuits())
def test_scenarios_reach_every_end_event(territory: str, key: str) -> None:
    circuit = _compiled(territory, key)
    reached: set[str] = set()
    files = sorted((SCENARIOS / territory / key).glob("*.json"))
    assert files, f"no scenario for {territory}/{key}"
    for path in files:
        walk = run(circuit, load_scenario(path.read_bytes()))
        assert walk.case is not None
        reached |= {t.task_spec.bpmn_id for t in walk.case.workflow.tasks.values()
                    if type(t.task_spec).__name__ == "EndEvent" and t.internal_data.get("seq")}
    assert _end_events(territory, circuit.process_id) - reached == set()


def _end_events(territory: str, process_id: str) -> set[str]:
    for path in (PROCESSES / territory).glob("*.bpmn"):
        doc, _ = bpmnxml.parse_document(path.name, path.read_bytes())
        assert doc is not None
        for process in doc.processes():
            if process.get("id") == process_id:
                return {e.get("id", "") for e in process.iterfind("bpmn:endEvent", bpmnxml.NS)}
    raise AssertionError(f"process {process_id} not found")
