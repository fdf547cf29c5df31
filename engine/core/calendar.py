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


# --------------------------------------------------------------------------- yearly periods

# A step's (or a timer's) ``period`` property: a rule and the key of one of the territory's
# periods: ``shift:treve_hivernale`` (a deadline falling inside the period moves to the day
# after it), ``suspend:treve_hivernale`` (the count stops during the period: a deadline counted
# across it has the period's days added).
PERIOD_RULES = ("shift", "suspend")


def parse_period_rule(value: str) -> tuple[str, str] | None:
    """(rule, period key) of a ``period`` property, or None when it is not ``rule:key``."""
    rule, sep, key = value.strip().partition(":")
    rule, key = rule.strip(), key.strip()
    if not sep or rule not in PERIOD_RULES or not key:
        return None
    return rule, key


def period_end(day: date, start: str, end: str) -> date | None:
    """The last day of the occurrence of the yearly period ``start``–``end`` (``MM-DD``, both
    included, ``start`` after ``end`` crossing the year end) that holds ``day``; None when
    ``day`` is outside the period."""
    here = (day.month, day.day)
    first = (int(start[:2]), int(start[3:]))
    last = (int(end[:2]), int(end[3:]))
    if first <= last:
        inside, year = first <= here <= last, day.year
    else:
        inside = here >= first or here <= last
        year = day.year + 1 if here >= first else day.year
    return date(year, *last) if inside else None


def shift_out_of_period(due: datetime, start: str, end: str) -> datetime:
    """``due`` when its day (Paris time) is outside the period, else the end of the day after
    the period ends."""
    last = period_end(due.astimezone(PARIS).date(), start, end)
    return due if last is None else end_of_day(last + timedelta(days=1))


def in_period(day: date, start: str, end: str) -> bool:
    """True if ``day`` is inside the yearly period ``start``–``end``."""
    return period_end(day, start, end) is not None


def suspend_in_period(origin: date, due: datetime, start: str, end: str,
                      subdivision: str | None = None, working_days: bool = False) -> datetime:
    """``due``, counted from ``origin`` (before it when ``due`` is earlier), with the count
    stopped during the period: each day of the period between the two (``origin`` excluded)
    is counted again outside it, in the same direction; with ``working_days`` only the
    working days of the period count, and only working days are added."""
    target = due.astimezone(PARIS).date()
    step = 1 if target >= origin else -1

    def counts(day: date) -> bool:
        return not working_days or is_working_day(day, subdivision)

    extra, day = 0, origin
    while day != target:
        day += timedelta(days=step)
        if in_period(day, start, end) and counts(day):
            extra += 1
    day = target
    while extra:
        day += timedelta(days=step)
        if not in_period(day, start, end) and counts(day):
            extra -= 1
    local = due.astimezone(PARIS)  # the same time of day, Paris time (summer time moves)
    return datetime.combine(day, local.time(), tzinfo=PARIS).astimezone(UTC)
