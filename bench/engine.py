"""In-memory engine costs per reference circuit: one step, and load + step + save.

Run: ``.venv/bin/python bench/engine.py`` (or ``make bench``). For every circuit of
processes/reference it replays the circuit's first scenario (tests/scenarios/) and reports
medians over all steps: the cost of completing one step in memory, and the cost of the web
pattern (load the stored state, complete the step, save it). These are the reference for the
later ratio targets (services at most 2x the raw cycle, plus one commit).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.clock import FixedClock  # noqa: E402
from engine.core import timers  # noqa: E402
from engine.core.bundles import load_territory  # noqa: E402
from engine.core.loader import load_path  # noqa: E402
from engine.core.simulate import load_scenario  # noqa: E402
from engine.core.spiff.compiler import compile_circuit  # noqa: E402
from engine.core.spiff.runner import Instance  # noqa: E402

REPEAT = 20


def _walk(circuit, scenario, persist: bool) -> list[float]:  # type: ignore[no-untyped-def]
    clock = FixedClock(timers.parse_instant(scenario.get("start", "2026-01-05T09:00:00+01:00")))
    case = Instance.start(circuit, scenario.get("data", {}), clock)
    state = case.dump()
    costs = []
    for step in scenario["steps"]:
        if "task" not in step:
            if persist:
                case = Instance.load(circuit, state, clock)
            clock.set(timers.parse_duration(step["wait"]).after(clock.now())
                      if "wait" in step else timers.parse_instant(step["until"]))
            case.advance()
            state = case.dump()
            continue
        begin = time.perf_counter()
        if persist:
            case = Instance.load(circuit, state, clock)
        task = next(t for t in case.ready_tasks() if t.bpmn_id == step["task"])
        case.complete(task.id, step.get("data", {}))
        if persist:
            state = case.dump()
        costs.append(time.perf_counter() - begin)
        if not persist:
            state = case.dump()
    return costs


def main() -> None:
    folder = ROOT / "processes" / "reference"
    territory = load_territory(folder)
    bundles = dict(load_path(folder, ROOT / "forms").bundles)
    print("Aiguillage engine benchmark (in memory, no database)")
    print(f"command: .venv/bin/python bench/engine.py   python {sys.version.split()[0]}")
    print(f"{'circuit':<16}{'steps':>6}{'step ms':>10}{'load+step+save ms':>20}{'state KiB':>11}")
    for entry in territory.circuits:
        circuit = compile_circuit(bundles[f"reference/{entry.key}"])
        files = sorted((ROOT / "tests" / "scenarios" / "reference" / entry.key).glob("*.json"))
        if not files:
            print(f"{entry.key:<16} no scenario")
            continue
        scenario = load_scenario(max(files, key=lambda p: p.stat().st_size).read_bytes())
        raw, cycle = [], []
        for _ in range(REPEAT):
            raw += _walk(circuit, scenario, persist=False)
            cycle += _walk(circuit, scenario, persist=True)
        clock = FixedClock(timers.parse_instant("2026-01-05T09:00:00+01:00"))
        size = len(Instance.start(circuit, scenario.get("data", {}), clock).dump()) / 1024
        print(f"{entry.key:<16}{len(raw) // REPEAT:>6}{statistics.median(raw) * 1000:>10.2f}"
              f"{statistics.median(cycle) * 1000:>20.2f}{size:>11.1f}")


if __name__ == "__main__":
    main()
