"""Sessions planned by a diagram: a start event whose timer is a bounded cycle.

A territory plans its commission's sessions with a start event such as « Séance mensuelle »
whose timer is a cycle with a bound (``"R12/2027-01-05T14:00:00+01:00/P1M"``: twelve
occurrences, a month apart, the first on 5 January 2027 at 14 h). « Chaque premier mardi du
mois » is not ISO 8601: the property ``occurrence`` (``first:tuesday``, ``second:monday``,
``last:thursday``…) moves each occurrence to that weekday of its month, keeping its time of
day (Paris time). Other properties: ``place`` (the session's place),
``agendaClosesDaysBefore`` (N, default 7) and ``filesSentDaysBefore`` (M, default 5).

Pure logic: no database, no workflow.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from lxml import etree

from engine.core import timers
from engine.core.bpmnxml import BPMN, NS, Document, parse_document, properties, text_of
from engine.core.calendar import PARIS

AGENDA_CLOSES_DAYS = 7  # N: the agenda closes N days before the session
FILES_SENT_DAYS = 5  # M: the files go to the members M days before
MAX_OCCURRENCES = 120  # ten years of monthly sessions
WEEKDAYS = {"monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
            "saturday": 5, "sunday": 6}
RANKS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
WEEKDAY_WORDS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
RANK_WORDS = {1: "premier", 2: "deuxième", 3: "troisième", 4: "quatrième", -1: "dernier"}


class PlanError(ValueError):
    """A session plan is unusable; the message is French and names what is wrong."""


@dataclass(frozen=True)
class SessionPlan:
    """One start event that plans sessions."""

    key: str  # process id / start event id: part of each occurrence's unique key
    name: str
    count: int
    first: datetime
    period: timers.Duration
    period_text: str
    occurrence: tuple[int, int] | None  # (rank, weekday) or None
    place: str
    close_days: int
    send_days: int

    def occurrences(self) -> Iterator[datetime]:
        """Each session's start (UTC-aware), in order, ``count`` of them."""
        at, clock_time = self.first, self.first.astimezone(PARIS).timetz()
        for _ in range(min(self.count, MAX_OCCURRENCES)):
            yield align(at, self.occurrence, clock_time.hour, clock_time.minute)
            at = self.period.after(at)

    def in_words(self) -> str:
        """« chaque premier mardi du mois à 14 h, 12 fois »."""
        return describe(self.occurrence, self.first, self.count, self.period_text)


def parse_occurrence(text: str) -> tuple[int, int] | None:
    """``first:tuesday`` → (1, 1); empty → None.

    :raises PlanError: not a rank and a weekday.
    """
    if not text.strip():
        return None
    rank, _, day = text.strip().lower().partition(":")
    if rank not in RANKS or day not in WEEKDAYS:
        raise PlanError(f"« {text} » n'est pas une occurrence reconnue : écrivez par exemple "
                        "first:tuesday (premier mardi du mois), second:monday ou last:friday.")
    return RANKS[rank], WEEKDAYS[day]


def align(at: datetime, occurrence: tuple[int, int] | None, hour: int, minute: int
          ) -> datetime:
    """``at`` moved to the occurrence's weekday of its month, at ``hour``:``minute`` Paris
    time (the first session's time of day, summer or winter), in UTC."""
    local = at.astimezone(PARIS)
    day = local.day
    if occurrence is not None:
        rank, weekday = occurrence
        days = _calendar.monthrange(local.year, local.month)[1]
        matching = [d for d in range(1, days + 1)
                    if date(local.year, local.month, d).weekday() == weekday]
        day = matching[-1] if rank == -1 else matching[rank - 1]
    return datetime(local.year, local.month, day, hour, minute, tzinfo=PARIS).astimezone(UTC)


def describe(occurrence: tuple[int, int] | None, first: datetime, count: int,
             period: str) -> str:
    """A plan in words, for the modeler's panel and the sessions page."""
    local = first.astimezone(PARIS)
    hour = f"{local.hour} h" + (f" {local.minute:02d}" if local.minute else "")
    if occurrence is not None and period.upper() == "P1M":
        rank, weekday = occurrence
        what = f"chaque {RANK_WORDS[rank]} {WEEKDAY_WORDS[weekday]} du mois"
    else:
        what = f"à partir du {local.day}/{local.month:02d}/{local.year}, tous les {period}"
    return f"{what} à {hour}, {count} fois"


def plan_of(key: str, name: str, cycle: str, props: Mapping[str, str]) -> SessionPlan:
    """A start event's plan from its cycle text and properties.

    :raises PlanError: the cycle has no bound, no first date, or a property is wrong.
    """
    try:
        count, first, second = timers.parse_cycle(cycle)
    except timers.TimerValueError:
        raise PlanError(f"« {cycle} » n'est pas un cycle ISO 8601 (exemple : "
                        "R12/2027-01-05T14:00:00+01:00/P1M).") from None
    if count < 1:
        raise PlanError(f"Le cycle « {cycle} » n'a pas de fin : indiquez le nombre de séances "
                        "(R12/… pour douze séances).")
    if second is None or first.startswith("P"):
        raise PlanError(f"Le cycle « {cycle} » ne dit pas la date de la première séance "
                        "(exemple : R12/2027-01-05T14:00:00+01:00/P1M).")
    occurrence = parse_occurrence(props.get("occurrence", ""))
    try:
        close_days = int(props.get("agendaClosesDaysBefore") or AGENDA_CLOSES_DAYS)
        send_days = int(props.get("filesSentDaysBefore") or FILES_SENT_DAYS)
    except ValueError:
        raise PlanError("Les délais d'inscription et de diffusion sont des nombres de "
                        "jours.") from None
    if not 0 < send_days <= close_days <= 60:
        raise PlanError("La diffusion des dossiers doit suivre la clôture de l'ordre du jour "
                        "et les deux délais doivent être compris entre 1 et 60 jours.")
    return SessionPlan(key=key, name=name, count=count, first=timers.parse_instant(first),
                       period=timers.parse_duration(second), period_text=second,
                       occurrence=occurrence, place=props.get("place") or "",
                       close_days=close_days, send_days=send_days)


def timer_starts(doc: Document) -> Iterator[tuple[str, etree._Element, str]]:
    """(key, start event element, cycle text) for each start event with a cycle timer."""
    for process in doc.root.iterfind("bpmn:process", NS):
        for start in process.iterfind("bpmn:startEvent", NS):
            timer = start.find("bpmn:timerEventDefinition", NS)
            if timer is None:
                continue
            cycle = timer.find("bpmn:timeCycle", NS)
            yield f"{process.get('id')}/{start.get('id')}", start, \
                text_of(cycle).strip().strip('"') if cycle is not None else ""


def plans(bpmn: Mapping[str, bytes]) -> list[SessionPlan]:
    """The usable plans of a circuit's files (a broken one is the check's business)."""
    found = []
    for name, raw in sorted(bpmn.items()):
        doc, _ = parse_document(name, raw)
        if doc is None:
            continue
        for key, start, cycle in timer_starts(doc):
            try:
                found.append(plan_of(key, start.get("name") or "", cycle, properties(start)))
            except (PlanError, timers.TimerValueError):
                continue
    return found


def planned_days(starts_at: datetime, close_days: int, send_days: int
                 ) -> tuple[datetime, datetime]:
    """(agenda closes, files sent): N and M days before the session, at the same hour."""
    return starts_at - timedelta(days=close_days), starts_at - timedelta(days=send_days)


__all__ = ["BPMN", "SessionPlan", "PlanError", "plan_of", "plans", "align", "describe",
           "parse_occurrence", "planned_days"]
