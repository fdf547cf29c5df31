"""A step's deadline: a number and a unit, refused by the check in the words the modeler's
panel uses (issue #14, item 6), and never a value the runner would then refuse."""

from __future__ import annotations

import pytest

from engine.core import timers
from tests.unit.test_check import check, mutated

DUE = 'name="dueInWorkingDays" value="2"'


@pytest.mark.parametrize(("value", "working", "code"), [
    ("P15D", False, None), ("'PT48H'", False, None), ("P2W", False, None), ("P3M", False, None),
    ("P120M", False, None), ("P3650D", False, None), ("P1DT12H", False, None),
    ("15", True, None), ("365", True, None),
    ("15 JOURS", False, "deadline.unit"), ("quinze", False, "deadline.unit"),
    ("P15XD", False, "deadline.days.number"), ("PT1,5H", False, "deadline.hours.number"),
    ("P0D", False, "deadline.days.min"), ("P-3D", False, "deadline.days.min"),
    ("P3651D", False, "deadline.days.max"), ("P121M", False, "deadline.months.max"),
    ("P522W", False, "deadline.weeks.max"), ("PT87601H", False, "deadline.hours.max"),
    ("P11Y", False, "deadline.days.max"), ("P0Y", False, "deadline.days.min"),
    ("deux", True, "deadline.working_days.number"), ("15 j", True, "deadline.working_days.number"),
    ("0", True, "deadline.working_days.min"), ("-2", True, "deadline.working_days.min"),
    ("366", True, "deadline.working_days.max"),
])
def test_deadline_problem(value: str, working: bool, code: str | None) -> None:
    assert timers.deadline_problem(value, working) == code
    if code is None and not working:  # what the check accepts, the runner reads
        timers.parse_duration(value.strip("'"))


@pytest.mark.parametrize(("new", "fr", "en"), [
    ('name="dueInWorkingDays" value="quinze"',
     "Délai de « Analyser la demande » : indiquez un nombre de jours ouvrés",
     "Deadline of 'Analyser la demande': enter a number of working days"),
    ('name="dueIn" value="P0D"', "Délai de « Analyser la demande » : indiquez au moins 1 jour",
     "Deadline of 'Analyser la demande': enter at least 1 day"),
    ('name="dueIn" value="15 jours"',
     "Délai de « Analyser la demande » : indiquez un nombre et une unité (jours, jours ouvrés, "
     "heures, semaines ou mois)", None),
    ('name="dueIn" value="P3651D"', "Délai de « Analyser la demande » : 3650 jours au plus "
     "(dix ans)", None),
])
def test_the_check_names_the_step_without_jargon(new: str, fr: str, en: str | None) -> None:
    [problem] = [p for p in check(mutated(DUE, new)) if p.code == "bpmn.deadline"]
    assert problem.is_error and problem.element_id == "analyse"
    assert problem.message("fr") == fr
    if en:
        assert problem.message("en") == en
    for word in ("dueIn", "ISO", "P15D"):
        assert word not in problem.message("fr")


def test_two_deadlines_warn_in_plain_words() -> None:
    both = 'name="dueInWorkingDays" value="2" /><spiffworkflow:property name="dueIn" value="P5D"'
    [problem] = [p for p in check(mutated(DUE, both)) if p.code == "bpmn.deadline_both"]
    assert problem.severity == "warning"
    assert "dueIn" not in problem.message("fr") and "Analyser la demande" in problem.message("fr")
