"""Timer values and French working days."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.core import calendar, timers
from engine.core.timers import TimerValueError


@pytest.mark.parametrize(("value", "kind"), [
    ("P15D", "duration"), ("PT48H", "duration"), ("P2W", "duration"), ("PT1.5H", "duration"),
    ("2027-03-31T18:00:00+02:00", "date"), ("2027-03-31T16:00:00Z", "date"),
    ("R3/P1M", "cycle"), ("R/P1D", "cycle"), ("R2/2030-01-01T00:00:00Z/P1D", "cycle"),
])
def test_valid_values_are_classified(value: str, kind: str) -> None:
    assert timers.classify(value) == kind


@pytest.mark.parametrize(("value", "code"), [
    ("P3X", "timer.bad_duration"), ("P", "timer.bad_duration"), ("PT", "timer.bad_duration"),
    ("P1W2D", "timer.weeks_mixed"), ("P99Y", "timer.too_long"), ("P0D", "timer.zero"),
    ("2027-01-15T09:00:00", "timer.naive_date"), ("demain", "timer.bad_date"),
    ("R3/PXD", "timer.bad_duration"), ("R3", "timer.bad_cycle"),
])
def test_invalid_values_are_refused(value: str, code: str) -> None:
    with pytest.raises(TimerValueError) as caught:
        timers.classify(value)
    assert caught.value.code == code


def test_duration_month_arithmetic_matches_spiffworkflow() -> None:
    start = datetime(2024, 1, 31, tzinfo=UTC)
    assert timers.parse_duration("P1M").after(start) == datetime(2024, 3, 2, tzinfo=UTC)
    assert timers.parse_duration("P2W").after(start) == datetime(2024, 2, 14, tzinfo=UTC)


def test_working_days_skip_weekend() -> None:
    friday = datetime(2026, 1, 9, 14, 0, tzinfo=UTC)
    due = calendar.add_working_days(friday, 2)
    assert due == datetime(2026, 1, 13, 22, 59, 59, tzinfo=UTC)  # Tuesday 23:59:59 Paris (CET)


def test_working_days_skip_public_holidays_and_follow_summer_time() -> None:
    # Thursday 30 April 2026; 1 May (Friday) is a public holiday; Paris is UTC+2 in May.
    start = datetime(2026, 4, 30, 8, 0, tzinfo=UTC)
    due = calendar.add_working_days(start, 1)
    assert due == datetime(2026, 5, 4, 21, 59, 59, tzinfo=UTC)  # Monday 4 May, 23:59:59 CEST


def test_alsace_moselle_has_extra_holidays() -> None:
    # 26 December is a holiday in Moselle (57), not in the rest of France.
    start = datetime(2025, 12, 24, 10, 0, tzinfo=UTC)
    assert calendar.add_working_days(start, 1).day == 26
    assert calendar.add_working_days(start, 1, "57").day == 29
