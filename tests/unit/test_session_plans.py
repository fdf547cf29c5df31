"""Sessions planned by a timer start event (issue #15, item 3): « chaque premier mardi du mois
à 14 h, 12 fois » in occurrences, and the check that accepts only a bounded cycle."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.core import session_plans
from engine.core.calendar import PARIS
from engine.core.loader import load_path
from engine.core.spiff.compiler import check

ROOT = Path(__file__).resolve().parents[2]
CYCLE = '"R12/2027-01-05T14:00:00+01:00/P1M"'


def test_each_first_tuesday_at_two_in_paris_time() -> None:
    plan = session_plans.plan_of("p/s", "Séance mensuelle", CYCLE.strip('"'),
                                 {"occurrence": "first:tuesday", "place": "Salle"})
    days = list(plan.occurrences())
    assert len(days) == 12
    assert all(d.astimezone(PARIS).weekday() == 1 and d.astimezone(PARIS).day <= 7
               for d in days)
    assert {(d.astimezone(PARIS).hour, d.astimezone(PARIS).minute) for d in days} == {(14, 0)}
    assert [d.astimezone(PARIS).date().isoformat() for d in days[:4]] == [
        "2027-01-05", "2027-02-02", "2027-03-02", "2027-04-06"]
    assert plan.in_words() == "chaque premier mardi du mois à 14 h, 12 fois"
    assert (plan.close_days, plan.send_days) == (7, 5)


def test_last_friday_and_the_bad_ones() -> None:
    plan = session_plans.plan_of("p/s", "", "R2/2027-01-01T09:30:00+01:00/P1M",
                                 {"occurrence": "last:friday"})
    assert [d.astimezone(PARIS).date().isoformat() for d in plan.occurrences()] == [
        "2027-01-29", "2027-02-26"]
    for cycle, props, words in (
            ("R/2027-01-05T14:00:00+01:00/P1M", {}, "n'a pas de fin"),
            ("R12/P1M", {}, "première séance"),
            ("R12/2027-01-05T14:00:00+01:00/P1M", {"occurrence": "premier:mardi"},
             "occurrence"),
            ("R12/2027-01-05T14:00:00+01:00/P1M", {"filesSentDaysBefore": "9"}, "diffusion"),
            ("chaque mois", {}, "ISO 8601")):
        with pytest.raises(session_plans.PlanError, match=words):
            session_plans.plan_of("p/s", "", cycle, props)


@pytest.mark.parametrize(("timer", "code"), [
    ('<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">"R/2027-01-05T14:00:00+01:00/P1M"'
     '</bpmn:timeCycle>', "bpmn.timer_start_plan"),
    ('<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P1M"</bpmn:timeDuration>',
     "bpmn.timer_start"),
])
def test_the_check_refuses_an_unbounded_or_a_non_cycle_start(tmp_path: Path, timer: str,
                                                              code: str) -> None:
    folder = tmp_path / "reference"
    shutil.copytree(ROOT / "processes" / "reference", folder)
    path = folder / "commission.bpmn"
    text = path.read_text(encoding="utf-8")
    start = text.index('<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">"R12/')
    end = text.index("</bpmn:timeCycle>", start) + len("</bpmn:timeCycle>")
    path.write_text(text[:start] + timer + text[end:], encoding="utf-8")
    loaded = load_path(folder, ROOT / "forms")
    [commission] = [b for label, b in loaded.bundles if label.endswith("/commission")]
    errors = [p for p in check(commission) if p.is_error]
    assert [(p.code, p.element_id) for p in errors] == [(code, "C3_S3")]
    assert "Séance mensuelle" in errors[0].format()
    if code == "bpmn.timer_start_plan":
        assert "n'a pas de fin" in errors[0].format()


def test_the_reference_commission_plans_its_sessions() -> None:
    loaded = load_path(ROOT / "processes" / "reference", ROOT / "forms")
    [commission] = [b for label, b in loaded.bundles if label.endswith("/commission")]
    assert not [p for p in check(commission) if p.is_error]
    [plan] = session_plans.plans(commission.bpmn)
    assert plan.key == "C3_seances/C3_S3" and plan.in_words().startswith("chaque premier mardi")
