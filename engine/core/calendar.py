"""Working days in France: weekends and public holidays excluded, counted in Europe/Paris."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

PARIS = ZoneInfo("Europe/Paris")


@lru_cache(maxsize=64)
def _holidays(year: int, subdivision: str | None) -> frozenset[date]:
    france = holidays.country_holidays("FR", years=year, subdiv=subdivision)
    return frozenset(france.keys())


def is_working_day(day: date, subdivision: str | None = None) -> bool:
    """True if ``day`` is neither a weekend nor a French public holiday."""
    return day.weekday() < 5 and day not in _holidays(day.year, subdivision)


def add_working_days(start: datetime, count: int, subdivision: str | None = None) -> datetime:
    """End (23:59:59 Paris time) of the ``count``-th working day after ``start``, in UTC.

    The day ``start`` falls on is day zero: a step ready on Friday with 2 working days is
    due on Tuesday evening (Monday being a holiday pushes it to Wednesday).
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    day = start.astimezone(PARIS).date()
    remaining = count
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day, subdivision):
            remaining -= 1
    end_of_day = datetime.combine(day, time(23, 59, 59), tzinfo=PARIS)
    return end_of_day.astimezone(UTC)


def known_subdivisions() -> tuple[str, ...]:
    """Subdivision codes the holiday calendar knows for France."""
    return tuple(holidays.country_holidays("FR").subdivisions)


def shift_working_days(day: date, count: int, subdivision: str | None = None) -> date:
    """The ``count``-th working day after ``day`` (before it when ``count`` is negative);
    ``day`` itself is day zero, so ``0`` gives ``day`` back even if it is not a working day."""
    step = 1 if count > 0 else -1
    remaining = abs(count)
    while remaining:
        day += timedelta(days=step)
        if is_working_day(day, subdivision):
            remaining -= 1
    return day


def end_of_day(day: date) -> datetime:
    """23:59:59 Paris time on ``day``, in UTC (when a deadline on that day runs out)."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=PARIS).astimezone(UTC)
