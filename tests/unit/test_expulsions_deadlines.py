"""The eviction-prevention reference circuit (C4) dates its steps from the procedure's dates
(issue #15, item 2): the social and financial diagnosis is due 15 days before the hearing,
« Préparer l'audience » 7 days before it, and the rehousing 2 months after the stage's date
(commandement de quitter les lieux, concours requested), moved out of the winter truce.

The scenario format cannot expect a due date, so these walk the « hébergé via le SIAO » and
« expulsion effective » scenarios part of the way and read the open step's due date."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from engine.core.loader import load_path
from engine.core.simulate import run
from engine.core.spiff.compiler import CompiledCircuit, compile_circuit
from engine.core.spiff.runner import TaskView
from tests.unit.test_relative_deadlines import end_of

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "scenarios" / "reference" / "expulsions"
# in « hébergé via le SIAO »: C4_T05 is ready after 3 steps, C4_T12 after 9 (the first
# C4_T11 records the hearing), C4_T09 after 14 (the second C4_T11 records the judgment)
BEFORE_T05, BEFORE_T12, BEFORE_T09 = 3, 9, 14


@cache
def _circuit() -> CompiledCircuit:
    loaded = load_path(ROOT / "processes" / "reference", ROOT / "forms")
    return compile_circuit(dict(loaded.bundles)["reference/expulsions"])


def _scenario(name: str = "heberge-via-le-siao") -> dict[str, Any]:
    return json.loads((SCENARIOS / f"{name}.json").read_text(encoding="utf-8"))


def _open(scenario: dict[str, Any], steps: int, bpmn_id: str) -> TaskView:
    cut = copy.deepcopy(scenario)
    cut["steps"] = cut["steps"][:steps]
    walk = run(_circuit(), cut)
    [task] = [t for t in walk.ready if t.bpmn_id == bpmn_id]
    return task


def test_the_diagnosis_is_due_15_days_before_the_hearing() -> None:
    scenario = _scenario("expulsion-effective")  # the landlord's alert gives the hearing
    alert = scenario["steps"][0]
    assert alert["task"] == "C4_T01"
    alert["data"]["date_audience"] = "2026-05-20"
    # C4_T01, C4_T02, C4_T03u, C4_T04, then the diagnosis
    assert _open(scenario, 4, "C4_T05").due_at == end_of(date(2026, 5, 5))


def test_without_a_hearing_date_the_diagnosis_is_due_in_15_days() -> None:
    diagnosis = _open(_scenario(), BEFORE_T05, "C4_T05")
    assert diagnosis.due_at == diagnosis.ready_at + timedelta(days=15)


def test_the_hearing_is_prepared_7_days_before_it() -> None:
    # the first C4_T11 records the hearing on 10 March 2026
    assert _open(_scenario(), BEFORE_T12, "C4_T12").due_at == end_of(date(2026, 3, 3))


def test_the_rehousing_is_due_2_months_after_the_stage() -> None:
    # the second C4_T11 records the judgment on 20 March 2026
    assert _open(_scenario(), BEFORE_T09, "C4_T09").due_at == end_of(date(2026, 5, 20))


def test_a_rehousing_due_inside_the_winter_truce_is_due_the_day_after_it() -> None:
    scenario = _scenario()
    stage = scenario["steps"][BEFORE_T09 - 1]
    assert stage["task"] == "C4_T11"
    stage["data"].update(stade_procedure="commandement_quitter", date_stade="2026-01-20")
    # two months after the commandement is 20 March, inside the truce: 1 April
    assert _open(scenario, BEFORE_T09, "C4_T09").due_at == end_of(date(2026, 4, 1))
