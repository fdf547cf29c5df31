"""ISO-8601 timer values: recognising durations, dates and cycles, and adding durations.

Duration arithmetic follows SpiffWorkflow's own (months add the length of each month from
the start month) so that a ``dueIn`` deadline and a timer of the same value agree.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from engine.core import calendar as working_calendar

TimerKind = Literal["duration", "date", "cycle"]

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_CYCLE = re.compile(r"^R(?P<count>\d*)/(?P<first>[^/]+)(?:/(?P<second>[^/]+))?$")
MAX_DURATION_DAYS = 366 * 10


class TimerValueError(ValueError):
    """A timer value is not a valid ISO-8601 duration, dated instant or cycle."""

    def __init__(self, code: str, value: str) -> None:
        self.code = code
        self.value = value
        super().__init__(f"{code}: {value!r}")


@dataclass(frozen=True)
class Duration:
    """A parsed ISO-8601 duration."""

    years: float = 0
    months: float = 0
    weeks: float = 0
    days: float = 0
    hours: float = 0
    minutes: float = 0
    seconds: float = 0.0

    def after(self, start: datetime) -> datetime:
        """The instant this duration after ``start`` (SpiffWorkflow's month arithmetic)."""
        months = int(self.years * 12 + self.months)
        days = self.days + 7 * self.weeks
        for idx in range(months):
            year = start.year + (start.month + idx - 1) // 12
            month = (start.month + idx) % 12 or 12
            days += monthrange(year, month)[1]
        return start + timedelta(days=days, hours=self.hours, minutes=self.minutes,
                                 seconds=self.seconds)

    def approx_days(self) -> float:
        """Length in days, months counted as 30.5 (for sanity bounds only: 120 months, ten
        years, pass)."""
        return (self.years * 366 + self.months * 30.5 + self.weeks * 7 + self.days
                + (self.hours * 3600 + self.minutes * 60 + self.seconds) / 86400)


def parse_duration(value: str) -> Duration:
    """Parse ``P15D``-style text; raise ``TimerValueError`` otherwise."""
    match = _DURATION.match(value.strip().upper())
    if not match:
        raise TimerValueError("timer.bad_duration", value)
    parts = {k: v for k, v in match.groupdict().items() if v is not None}
    if "weeks" in parts and any(k in parts for k in ("years", "months", "days")):
        raise TimerValueError("timer.weeks_mixed", value)
    fractional = ("hours", "minutes", "seconds")
    duration = Duration(**{k: (float(v) if k in fractional else int(v)) for k, v in parts.items()})
    if duration.approx_days() > MAX_DURATION_DAYS:
        raise TimerValueError("timer.too_long", value)
    if duration.approx_days() <= 0:
        raise TimerValueError("timer.zero", value)
    return duration


def parse_instant(value: str) -> datetime:
    """Parse a dated instant that carries an explicit offset (``Z`` or ``+02:00``)."""
    text = value.strip()
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise TimerValueError("timer.bad_date", value) from None
    if instant.tzinfo is None:
        raise TimerValueError("timer.naive_date", value)
    return instant


def parse_cycle(value: str) -> tuple[int, str, str | None]:
    """Parse ``R3/P1M`` or ``R/2027-01-01T09:00:00Z/P1D``: (count or -1, first, second)."""
    match = _CYCLE.match(value.strip().upper())
    if not match:
        raise TimerValueError("timer.bad_cycle", value)
    count = int(match["count"]) if match["count"] else -1
    first, second = match["first"], match["second"]
    parts = [p for p in (first, second) if p is not None]
    durations = [p for p in parts if p.startswith("P")]
    if len(durations) != 1:
        raise TimerValueError("timer.bad_cycle", value)
    for part in parts:
        if part.startswith("P"):
            parse_duration(part)
        else:
            parse_instant(part)
    return count, first, second


def classify(value: str) -> TimerKind:
    """Tell which kind of timer text ``value`` is, validating it."""
    text = value.strip().upper()
    if text.startswith("R"):
        parse_cycle(value)
        return "cycle"
    if text.startswith("P"):
        parse_duration(value)
        return "duration"
    parse_instant(value)
    return "date"


def check_for_kind(value: str, kind: TimerKind) -> None:
    """Validate ``value`` as a timer of ``kind`` (the BPMN element it sits in)."""
    found = classify(value)
    if found != kind:
        raise TimerValueError(f"timer.expected_{kind}", value)


# --------------------------------------------------------------------------- step deadlines

# A step's deadline as the modeler's panel writes it: a number and a unit, stored as ``dueIn``
# (``P15D``, ``PT48H``, ``P2W``, ``P3M``) or ``dueInWorkingDays`` (``15``). Ten years at most.
DEADLINE_MAX = {"days": 3650, "working_days": 365, "hours": 3650 * 24, "weeks": 521,
                "months": 120}
MAX_DEADLINE_DAYS = 3650
_DEADLINE = re.compile(r"^P(?P<time>T?)(?P<number>.*?)(?P<letter>[DWMH])$")
_UNITS = {("", "D"): "days", ("", "W"): "weeks", ("", "M"): "months", ("T", "H"): "hours"}


def deadline_problem(value: str, working_days: bool = False) -> str | None:
    """Why a step's deadline (``dueIn``, or ``dueInWorkingDays`` if ``working_days``) is
    refused, as a ``deadline.*`` message code, or None when it is fine."""
    text = value.strip().strip("'\"")
    if working_days:
        unit, number = "working_days", text.strip()
    else:
        match = _DEADLINE.match(text.upper())
        unit = _UNITS.get((match["time"], match["letter"]), "") if match else ""
        number = match["number"] if match else ""
        if not unit or not re.fullmatch(r"-?[0-9]+", number):
            try:  # written otherwise (P1DT12H, P1Y…): fine if the engine reads it
                if parse_duration(text).approx_days() > MAX_DEADLINE_DAYS:
                    return "deadline.days.max"
                return None
            except TimerValueError as exc:
                if exc.code in ("timer.too_long", "timer.zero"):
                    return "deadline.days.max" if exc.code == "timer.too_long" else \
                        "deadline.days.min"
                return f"deadline.{unit}.number" if unit else "deadline.unit"
    if not re.fullmatch(r"-?[0-9]+", number):
        return f"deadline.{unit}.number"
    count = int(number)
    if count < 1:
        return f"deadline.{unit}.min"
    if count > DEADLINE_MAX[unit]:
        return f"deadline.{unit}.max"
    if not working_days:
        parse_duration(text)  # the runner's reading: within the bounds above, never refused
    return None


# --------------------------------------------------------------------------- deadlines from a date

# A step's deadline counted from a date the case holds (a form's date answer), stored as
# ``dueRelative``: a sign (``-`` before, ``+`` after), a number, a unit (``D`` days, ``WD``
# working days, ``M`` months), a colon and the field: ``-7D:date_audience`` is « 7 jours avant
# date_audience ». The deadline runs out at the end of that day (Paris time).
_RELATIVE = re.compile(r"^(?P<sign>[+-])\s*(?P<number>[0-9]+)\s*(?P<unit>(?i:WD|D|M))\s*:\s*"
                       r"(?P<field>[A-Za-z_][A-Za-z0-9_]*)$")
RELATIVE_UNITS = {"D": "days", "WD": "working_days", "M": "months"}


@dataclass(frozen=True)
class RelativeDeadline:
    """« ``count`` ``unit`` avant/après ``field`` » (``sign`` -1 before, +1 after)."""

    sign: int
    count: int
    unit: str
    field: str


def parse_relative(value: str) -> RelativeDeadline:
    """Read a ``dueRelative`` value; raise ``TimerValueError`` (``deadline.relative.*``)."""
    match = _RELATIVE.match(value.strip().strip("'\"").strip())
    if not match:
        raise TimerValueError("deadline.relative.format", value)
    unit = RELATIVE_UNITS[match["unit"].upper()]
    count = int(match["number"])
    if count > DEADLINE_MAX[unit]:
        raise TimerValueError(f"deadline.{unit}.max", value)
    return RelativeDeadline(-1 if match["sign"] == "-" else 1, count, unit, match["field"])


def relative_problem(value: str, date_fields: set[str] | None = None,
                     field_names: set[str] | None = None) -> tuple[str, str] | None:
    """Why a ``dueRelative`` (or ``timerRelative``) value is refused: (message code, detail),
    or None. With ``date_fields``, the field must be one of them; with ``field_names`` (every
    field of the circuit's forms), a field that is there but not a date is said so."""
    try:
        rel = parse_relative(value)
    except TimerValueError as exc:
        return exc.code, value.strip()
    if date_fields is not None and rel.field not in date_fields:
        if field_names is not None and rel.field in field_names:
            return "deadline.relative.not_date", rel.field
        return "deadline.relative.field", rel.field
    return None


def describe_relative(rel: RelativeDeadline, label: str | None = None) -> str:
    """« 7 jours avant date_audience », « 2 mois après date_commandement »; with the field's
    ``label``: « 7 jours avant « Date d'audience » »."""
    words = {"days": ("jour", "jours"), "working_days": ("jour ouvré", "jours ouvrés"),
             "months": ("mois", "mois")}[rel.unit]
    return (f"{rel.count} {words[0] if rel.count == 1 else words[1]} "
            f"{'avant' if rel.sign < 0 else 'après'} {_named(rel.field, label)}")


def unanswered(field: str, label: str | None = None) -> str:
    """What a deadline counted from a date that is not answered says."""
    return f"dépend de {_named(field, label)}, non renseignée"


def _named(field: str, label: str | None) -> str:
    return f"« {label} »" if label else field


def relative_due(rel: RelativeDeadline, value: object,
                 subdivision: str | None = None) -> datetime | None:
    """The end of the day ``rel`` names from the date ``value`` (``YYYY-MM-DD`` text or a
    date), in UTC; None when ``value`` is empty or not a date."""
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    elif isinstance(value, str) and value.strip():
        try:
            day = date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    else:
        return None
    offset = rel.sign * rel.count
    try:
        if rel.unit == "days":
            day += timedelta(days=offset)
        elif rel.unit == "working_days":
            day = working_calendar.shift_working_days(day, offset, subdivision)
        else:
            index = day.year * 12 + day.month - 1 + offset
            year, month = divmod(index, 12)
            month += 1
            day = date(year, month, min(day.day, monthrange(year, month)[1]))
    except (OverflowError, ValueError):
        return None
    return working_calendar.end_of_day(day)
