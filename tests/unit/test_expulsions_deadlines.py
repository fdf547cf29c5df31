"""The eviction-prevention reference circuit (C4) dates its steps from the procedure's dates
(issue #15, item 2). An act of the procedure is recorded at any time in « Enregistrer un acte
de la procédure » (C4_T14, a looping branch beside the support); each act opens its dated
steps, and a corrected date moves their due dates.

Besides ``"due"`` (the day a completed step was due, checked by test_scenarios.py), a C4
scenario step may carry ``"ready_due": {"C4_T12": "2026-03-03"}``: right after that step,
every ready step of that id is due that day (Europe/Paris), so a due date can be seen before
and after a correction. The tests here play each scenario up to each such step."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.core.loader import load_path
from engine.core.simulate import ScenarioError, run
from engine.core.snapshots import TaskView
from engine.core.spiff.compiler import CompiledCircuit, compile_circuit
from engine.errors import FormInvalid
from tests.unit.test_relative_deadlines import end_of

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "scenarios" / "reference" / "expulsions"
PARIS = ZoneInfo("Europe/Paris")


@cache
def _circuit() -> CompiledCircuit:
    loaded = load_path(ROOT / "processes" / "reference", ROOT / "forms")
    return compile_circuit(dict(loaded.bundles)["reference/expulsions"])


def _scenario(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCENARIOS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def _ready_after(scenario: dict[str, Any], steps: int) -> list[TaskView]:
    cut = copy.deepcopy(scenario)
    cut["steps"] = cut["steps"][:steps]
    return run(_circuit(), cut).ready


def _open(scenario: dict[str, Any], steps: int, bpmn_id: str) -> TaskView:
    [task] = [t for t in _ready_after(scenario, steps) if t.bpmn_id == bpmn_id]
    return task


def _dated() -> list[tuple[str, int]]:
    out = []
    for path in sorted(SCENARIOS.glob("*.json")):
        steps = json.loads(path.read_text(encoding="utf-8"))["steps"]
        out += [(path.stem, number) for number, step in enumerate(steps, start=1) if "ready_due" in step]
    return out


@pytest.mark.parametrize(("name", "steps"), _dated(), ids=lambda v: str(v))
def test_each_dated_step_of_the_scenarios_is_due_on_the_day_it_states(name: str,
                                                                      steps: int) -> None:
    scenario = _scenario(name)
    expected: dict[str, str] = scenario["steps"][steps - 1]["ready_due"]
    ready = _ready_after(scenario, steps)
    for bpmn_id, day in expected.items():
        found = [t for t in ready if t.bpmn_id == bpmn_id]
        assert found, f"{name}, étape {steps} : {bpmn_id} n'est pas prête"
        for task in found:
            assert task.due_at is not None, f"{name}, étape {steps} : {bpmn_id} sans échéance"
            assert task.due_at.astimezone(PARIS).date() == date.fromisoformat(day), (
                f"{name}, étape {steps} : {bpmn_id} due le {task.due_at}, attendu {day}")


def test_every_c4_scenario_asserts_dated_deadlines_or_ends_before_the_procedure() -> None:
    """The scenarios that reach the support record acts and state their due dates."""
    names = {name for name, _ in _dated()}
    assert {"treve-hivernale-relogement", "commandement-de-payer-corrige-maintien",
            "refus-du-plan-par-le-bailleur", "heberge-via-le-siao",
            "expulsion-effective"} <= names


def test_an_act_can_be_recorded_before_the_first_monthly_check() -> None:
    # in « refus du plan », C4_T14 is ready right after the diagnosis, with no due date
    scenario = _scenario("refus-du-plan-par-le-bailleur")
    record = _open(scenario, 4, "C4_T14")
    assert record.due_at is None
    assert "C4_T08" not in {t.bpmn_id for t in _ready_after(scenario, 4)}


def test_the_diagnosis_is_due_15_days_before_the_hearing() -> None:
    scenario = _scenario("expulsion-effective")  # the landlord's alert gives the hearing
    alert = scenario["steps"][0]
    assert alert["task"] == "C4_T01"
    alert["data"]["date_audience"] = "2026-05-20"
    # C4_T01, C4_T02, C4_T03u, C4_T04, then the diagnosis
    assert _open(scenario, 4, "C4_T05").due_at == end_of(date(2026, 5, 5))


def test_without_a_hearing_date_the_diagnosis_is_due_in_15_days() -> None:
    diagnosis = _open(_scenario("heberge-via-le-siao"), 3, "C4_T05")
    assert diagnosis.ready_at is not None
    assert diagnosis.due_at == diagnosis.ready_at + timedelta(days=15)


def test_the_rehousing_of_the_monthly_check_escalates_on_its_due_date() -> None:
    """C4_T09 is due two months after it opens, and escalates then (no longer at 6 weeks)."""
    scenario = _scenario("reloge")
    at = next(n for n, s in enumerate(scenario["steps"], start=1) if s.get("task") == "C4_T08")
    rehousing = _open(scenario, at, "C4_T09")  # opened by the monthly check of 5 February
    assert rehousing.ready_at is not None and rehousing.due_at is not None
    assert rehousing.ready_at.astimezone(PARIS).date() == date(2026, 2, 5)
    assert rehousing.due_at.astimezone(PARIS).date() == date(2026, 4, 5)
    cut = copy.deepcopy(scenario)
    cut["steps"] = cut["steps"][:at] + [{"wait": "P7W"}]
    assert "C4_T09" in {t.bpmn_id for t in run(_circuit(), cut).ready}  # not escalated at 6 weeks
    cut["steps"] = cut["steps"][:at] + [{"wait": "P2M"}, {"wait": "PT1M"}]
    assert "C4_T13" in {t.bpmn_id for t in run(_circuit(), cut).ready}  # escalated at 2 months


def test_a_hearing_before_the_summons_is_refused_in_french() -> None:
    scenario = _scenario("refus-du-plan-par-le-bailleur")
    at = next(n for n, s in enumerate(scenario["steps"], start=1)
              if s.get("task") == "C4_T14" and s["data"].get("stade_procedure") == "assignation")
    scenario["steps"][at - 1]["data"]["date_audience"] = "2026-01-10"  # summons on 20 January
    with pytest.raises(Exception) as caught:
        run(_circuit(), {**scenario, "steps": scenario["steps"][:at]})
    assert not isinstance(caught.value, ScenarioError)
    assert "antérieure à la date de l'assignation" in str(caught.value)


def test_a_summons_before_the_commandement_de_payer_is_refused() -> None:
    scenario = _scenario("commandement-de-payer-corrige-maintien")
    at = next(n for n, s in enumerate(scenario["steps"], start=1)
              if s.get("task") == "C4_T14" and s["data"].get("stade_procedure") == "jugement_delais")
    # the page sends the dates already recorded back with the form (prefilled)
    scenario["steps"][at - 1]["data"].update(date_assignation="2026-01-15",
                                             date_commandement_payer="2026-01-26")
    with pytest.raises(Exception) as caught:
        run(_circuit(), {**scenario, "steps": scenario["steps"][:at]})
    assert "antérieure à la date du commandement de payer" in str(caught.value)


def _acts() -> list[tuple[str, int, str]]:
    """(scenario, step number, stage answered) of every act recorded in C4_T14."""
    out = []
    for path in sorted(SCENARIOS.glob("*.json")):
        steps = json.loads(path.read_text(encoding="utf-8"))["steps"]
        out += [(path.stem, number, step["data"]["stade_procedure"])
                for number, step in enumerate(steps, start=1)
                if step.get("task") == "C4_T14" and "stade_procedure" in step.get("data", {})]
    return out


@pytest.mark.parametrize(("name", "steps", "stage"), _acts(), ids=lambda v: str(v))
def test_the_case_data_holds_the_act_just_recorded(name: str, steps: int, stage: str) -> None:
    """The case page reads ``Instance.data``: the support branch's steps carry a copy made
    before the act, yet the case shows the stage just recorded beside them."""
    cut = copy.deepcopy(_scenario(name))
    cut["steps"] = cut["steps"][:steps]
    case = run(_circuit(), cut).case
    assert case is not None
    assert case.data()["stade_procedure"] == stage


def test_a_hearing_date_known_at_qualification_dates_the_diagnosis() -> None:
    """No hand-typed « prochaine échéance » any more: a hearing date given when the alert is
    qualified dates the social and financial diagnosis, 15 days before it."""
    scenario = _scenario("maintien-dans-le-logement")
    steps = scenario["steps"]
    qualification = next(i for i, s in enumerate(steps) if s.get("task") == "C4_T02")
    steps[qualification]["data"]["date_audience"] = "2026-04-20"
    diagnosis = next(i for i, s in enumerate(steps) if s.get("task") == "C4_T05")
    for step in steps[qualification + 1:diagnosis]:
        step.pop("due", None)
    task = _open(scenario, diagnosis, "C4_T05")
    assert task.due_at is not None
    assert task.due_at.astimezone(PARIS).date() == date(2026, 4, 5)
    with pytest.raises(FormInvalid, match="ne peut pas être dans le passé"):
        steps[qualification]["data"]["date_audience"] = "2025-12-01"
        _ready_after(scenario, qualification + 1)
