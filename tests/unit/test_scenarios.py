"""Every circuit of processes/ walked with its scripted scenarios (tests/scenarios/), straight
and with a save/load between steps; together they must reach every end event."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from engine.core import bpmnxml
from engine.core.circuits import load_territory
from engine.core.loader import load_path
from engine.core.simulate import load_scenario, run
from engine.core.spiff.compiler import CompiledCircuit, compile_circuit

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
