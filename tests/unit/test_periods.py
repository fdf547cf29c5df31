"""Yearly periods of a territory (the winter truce, issue #15 item 1): declared in
``territory.json``, named by a step's ``period`` rule, and a deadline falling inside the
period moved to the day after it ends."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from engine.clock import FixedClock
from engine.core import calendar
from engine.core.bundles import CircuitBundle, TerritoryError, parse_territory
from engine.core.loader import load_path
from engine.core.spiff.compiler import check, compile_circuit
from engine.core.spiff.runner import Instance
from tests.unit.test_relative_deadlines import audience_bundle, end_of

TRUCE = {"key": "treve_hivernale", "label": "Trêve hivernale", "from": "11-01", "to": "03-31"}


def truce_bundle(tmp_path: Path, rule: str = "shift:treve_hivernale",
                 periods: list[dict[str, str]] | None = None,
                 relative: str = "-7D:date_audience") -> CircuitBundle:
    """The hearing circuit, its preparation step carrying ``period`` = ``rule``."""
    audience_bundle(tmp_path, relative,
                    f'<spiffworkflow:property name="period" value="{rule}" />')
    territory = json.loads((tmp_path / "territory.json").read_text(encoding="utf-8"))
    territory["periods"] = [TRUCE] if periods is None else periods
    (tmp_path / "territory.json").write_text(json.dumps(territory), encoding="utf-8")
    return load_path(tmp_path, tmp_path / "forms").bundles[0][1]


@pytest.mark.parametrize(("due", "expected"), [
    (date(2026, 12, 15), date(2027, 4, 1)),  # in December: after the truce, next year
    (date(2027, 2, 10), date(2027, 4, 1)),  # in February: the same year
    (date(2026, 11, 1), date(2027, 4, 1)), (date(2027, 3, 31), date(2027, 4, 1)),  # bounds
    (date(2026, 10, 15), date(2026, 10, 15)), (date(2027, 4, 1), date(2027, 4, 1)),
    (date(2026, 10, 31), date(2026, 10, 31)),
])
def test_a_due_date_inside_the_truce_moves_to_the_day_after(due: date, expected: date) -> None:
    assert calendar.shift_out_of_period(end_of(due), "11-01", "03-31") == end_of(expected)


def test_a_period_within_one_year() -> None:
    assert calendar.period_end(date(2026, 7, 20), "07-14", "08-15") == date(2026, 8, 15)
    assert calendar.period_end(date(2026, 9, 1), "07-14", "08-15") is None
    assert calendar.period_end(date(2026, 1, 5), "07-14", "08-15") is None


@pytest.mark.parametrize(("value", "expected"), [
    ("shift:treve_hivernale", ("shift", "treve_hivernale")),
    (" shift : treve_hivernale ", ("shift", "treve_hivernale")),
    ("suspend:treve_hivernale", ("suspend", "treve_hivernale")),
    ("treve_hivernale", None), ("pause:treve_hivernale", None), ("shift:", None),
])
def test_the_rule_is_read(value: str, expected: tuple[str, str] | None) -> None:
    assert calendar.parse_period_rule(value) == expected


def test_the_territory_file_declares_periods() -> None:
    base = {"code": "t", "name": "T", "roles": [{"key": "r", "label": "R"}]}
    [period] = parse_territory(json.dumps({**base, "periods": [TRUCE]})).periods
    assert (period.key, period.start, period.end) == ("treve_hivernale", "11-01", "03-31")
    for bad, said in (([TRUCE, TRUCE], "clé en double"),
                      ([{**TRUCE, "to": "02-30"}], "inexistante"),
                      ([{**TRUCE, "to": "02-29"}], "inexistante"),
                      ([{**TRUCE, "from": "1-11"}], "format refusé")):
        with pytest.raises(TerritoryError, match=said):
            parse_territory(json.dumps({**base, "periods": bad}))


def test_a_step_due_inside_the_truce_is_due_the_day_after_it(tmp_path: Path) -> None:
    circuit = compile_circuit(truce_bundle(tmp_path))
    clock = FixedClock(datetime(2026, 10, 2, 9, 0, tzinfo=UTC))
    case = Instance.start(circuit, {"date_audience": "2026-12-20"}, clock)
    steps = {t.bpmn_id: t for t in case.ready_tasks()}
    assert steps["preparer"].due_at == end_of(date(2027, 4, 1))
    case.complete(steps["noter"].id, {"date_audience": "2026-10-20"})
    [preparer] = case.ready_tasks()
    assert preparer.due_at == end_of(date(2026, 10, 13))  # outside: untouched
    again = Instance.load(circuit, case.dump(), clock)
    assert again.ready_tasks()[0].due_at == end_of(date(2026, 10, 13))


def test_the_circuit_with_the_truce_is_clean(tmp_path: Path) -> None:
    assert [p for p in check(truce_bundle(tmp_path)) if p.is_error] == []


@pytest.mark.parametrize(("rule", "periods", "code", "fr"), [
    ("shift:treve", None, "bpmn.period_unknown",
     "Période de « Préparer l'audience » : la règle « shift:treve » nomme la période « treve » "
     "que le territoire ne définit pas (connues : treve_hivernale)"),
    ("suspend:treve_hivernale", [], "bpmn.period_unknown", "Période de « Préparer l'audience » "
     ": la règle « suspend:treve_hivernale » nomme la période « treve_hivernale » que le "
     "territoire ne définit pas (connues : aucune)"),
    ("shift:", None, "bpmn.period_names_nothing",
     "Période de « Préparer l'audience » : la règle « shift: » ne nomme aucune période"),
    ("treve_hivernale", None, "bpmn.period_format",
     "Période de « Préparer l'audience » : « treve_hivernale » n'est pas lisible"),
])
def test_the_check_names_the_step(tmp_path: Path, rule: str,
                                  periods: list[dict[str, str]] | None, code: str,
                                  fr: str) -> None:
    [problem] = [p for p in check(truce_bundle(tmp_path, rule, periods)) if p.code == code]
    assert problem.is_error and problem.element_id == "preparer"
    assert problem.message("fr").startswith(fr)
    assert "Préparer" in problem.message("en")


def test_a_rule_on_a_step_without_a_deadline_of_its_own_names_nothing(tmp_path: Path) -> None:
    bundle = truce_bundle(tmp_path)
    main = bundle.main_file
    bundle.bpmn[main] = bundle.bpmn[main].replace(
        b'<spiffworkflow:property name="dueRelative" value="-7D:date_audience" />', b"")
    [problem] = [p for p in check(bundle) if p.code == "bpmn.period_no_deadline"]
    assert problem.is_error and problem.element_id == "preparer"


def test_without_a_territory_the_period_is_not_checked(tmp_path: Path) -> None:
    bundle = truce_bundle(tmp_path, "shift:inconnue")
    bundle.periods = None
    assert [p for p in check(bundle) if p.code.startswith("bpmn.period")] == []


@pytest.mark.parametrize(("origin", "days", "expected"), [
    # counted forward: the truce's days do not count
    (date(2026, 10, 20), 20, date(2027, 4, 9)),  # 11 days in October, 9 in April
    (date(2026, 10, 20), 11, date(2026, 10, 31)),  # 31 October: the last day before it
    (date(2026, 10, 20), 12, date(2027, 4, 1)),  # would be 1 November: 1 April
    (date(2026, 10, 31), 1, date(2027, 4, 1)),
    (date(2026, 11, 1), 1, date(2027, 4, 1)),  # counted from inside: starts on 1 April
    (date(2027, 3, 31), 1, date(2027, 4, 1)),
    (date(2027, 4, 1), 10, date(2027, 4, 11)),  # after it: nothing added
    (date(2026, 5, 1), 30, date(2026, 5, 31)),
    # a leap year: February 2028 has 29 days, all inside the truce
    (date(2027, 10, 30), 3, date(2028, 4, 2)),
    # counted backward (« avant »): the truce's days are skipped too
    (date(2027, 4, 5), -7, date(2026, 10, 29)),  # 4 days in April, 3 in October
    (date(2027, 4, 1), -1, date(2026, 10, 31)),
    (date(2028, 4, 2), -3, date(2027, 10, 30)),
])
def test_a_count_across_the_truce_is_suspended(origin: date, days: int,
                                               expected: date) -> None:
    due = end_of(origin + (date(2000, 1, 2) - date(2000, 1, 1)) * days)
    assert calendar.suspend_in_period(origin, due, "11-01", "03-31") == end_of(expected)


def test_a_count_in_working_days_skips_the_truce_s_working_days() -> None:
    # Friday 30 October 2026 + 2 working days: Monday 2 November is in the truce; the count
    # resumes on Thursday 1 April 2027 and Friday 2 April 2027
    raw = calendar.end_of_day(calendar.shift_working_days(date(2026, 10, 30), 2))
    assert calendar.suspend_in_period(date(2026, 10, 30), raw, "11-01", "03-31",
                                      working_days=True) == end_of(date(2027, 4, 2))


def test_a_step_counted_across_the_truce_has_its_days_added(tmp_path: Path) -> None:
    circuit = compile_circuit(truce_bundle(tmp_path, "suspend:treve_hivernale",
                                           relative="+2M:date_audience"))
    clock = FixedClock(datetime(2026, 9, 2, 9, 0, tzinfo=UTC))
    case = Instance.start(circuit, {"date_audience": "2026-10-15"}, clock)
    steps = {t.bpmn_id: t for t in case.ready_tasks()}
    # 15 October + 2 months = 15 December: 45 days of the truce counted again from 1 April
    assert steps["preparer"].due_at == end_of(date(2027, 5, 15))
    assert [p for p in check(truce_bundle(tmp_path, "suspend:treve_hivernale")) if p.is_error] \
        == []
