"""The statistics a platform owes the State (issue #16), per territory or across those one
oversees, for a period: requests, orientations and their outcomes, delays, overdue steps,
end states, unmet needs and eviction procedures.

Computed in SQL over the record tables (``engine.services.indicators``); no workflow is
loaded. Every count goes out through the small-count rule of ``engine.core.statistics``
(« < 5 »), already applied there: the page, its charts and the CSV show the same cells.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.calendar import PARIS
from engine.core.statistics import HIDDEN as HIDDEN_TEXT
from engine.core.statistics import hidden
from engine.errors import InvalidInput
from engine.persistence.models import Case, Territory
from engine.services.access import Actor, require_statistics, statistics_territories
from engine.services.indicators import Cell, Indicator, Scope, parts

__all__ = ["Indicator", "Period", "Scope", "Statistics", "asked", "compute", "csv_rows",
           "parse_day", "parts", "period_of", "places", "scope_of"]

MAX_YEARS = 10
DAY = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})|([0-9]{4})-([0-9]{2})-([0-9]{2})")


@dataclass(frozen=True)
class Period:
    """From ``start`` to ``end``, both days included (Paris days)."""

    start: date
    end: date

    def bounds(self) -> tuple[datetime, datetime]:
        """The UTC instants of the first day's start and of the day after the last."""
        first = datetime.combine(self.start, time(), PARIS)
        after = datetime.combine(self.end + timedelta(days=1), time(), PARIS)
        return first, after


@dataclass(frozen=True)
class Statistics:
    """Every indicator of a period, for one territory or several."""

    period: Period
    territories: tuple[str, ...]
    requests: Cell
    indicators: tuple[Indicator, ...] = field(default_factory=tuple)


def parse_day(text: str | None, name: str) -> date | None:
    """A day written ``JJ/MM/AAAA`` (or ``AAAA-MM-JJ``); None when empty.

    :raises InvalidInput: anything else, or a day that does not exist.
    """
    raw = (text or "").strip()
    if not raw:
        return None
    found = DAY.fullmatch(raw)
    try:
        if found is None:
            raise ValueError(raw)
        d, m, y = found.group(1, 2, 3) if found.group(1) else found.group(6, 5, 4)
        return date(int(y), int(m), int(d))
    except ValueError:
        raise InvalidInput(code="stats.bad_day", name=name) from None


def period_of(clock: Clock, start: str | None = None, end: str | None = None) -> Period:
    """The period asked for: by default the last 12 months up to today.

    :raises InvalidInput: a day not understood, an end before the start, more than
        ``MAX_YEARS`` years.
    """
    today = clock.now().astimezone(PARIS).date()
    last = parse_day(end, "fin") or today
    first = parse_day(start, "début") or _year_before(last)
    if last < first:
        raise InvalidInput(code="stats.period_reversed", start=first.strftime("%d/%m/%Y"),
                           end=last.strftime("%d/%m/%Y"))
    if (last - first).days > MAX_YEARS * 366:
        raise InvalidInput(code="stats.period_too_long", maximum=MAX_YEARS)
    return Period(first, last)


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1) + timedelta(days=1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28) + timedelta(days=1)


def compute(session: Session, clock: Clock, actor: Actor, period: Period,
            territory_id: int | None = None) -> Statistics:
    """Every indicator for ``territory_id`` (None: every territory the actor oversees).

    :raises PermissionDenied: a territory the actor does not oversee, or none at all.
    """
    ids = require_statistics(actor, territory_id)
    names = tuple(session.scalars(select(Territory.name).where(Territory.id.in_(ids))
                                  .order_by(Territory.name)))
    scope = scope_of(session, clock, ids, period)
    indicators = tuple(call() for _, call in parts(scope))
    return Statistics(period, names, None if hidden(scope.requests) else scope.requests,
                      indicators)


def asked(session: Session, clock: Clock, actor: Actor, start: str | None, end: str | None,
          territory_id: int | None = None) -> Statistics:
    """``compute`` for a period as typed (``period_of``): the right is checked first, so
    that someone who may not read statistics is refused whatever the dates say.

    :raises PermissionDenied: a territory the actor does not oversee, or none at all.
    :raises InvalidInput: a day not understood or a period ending before it starts.
    """
    require_statistics(actor, territory_id)
    return compute(session, clock, actor, period_of(clock, start, end), territory_id)


def scope_of(session: Session, clock: Clock, ids: list[int], period: Period) -> Scope:
    """What the indicators count, with the period's requests (cases opened in it)."""
    first, after = period.bounds()
    scope = Scope(session, ids, first, after, clock.now())
    requests = session.scalar(select(func.count()).select_from(Case).where(*scope.cases()))
    return replace(scope, requests=int(requests or 0))



def csv_rows(stats: Statistics) -> list[list[Cell]]:
    """The aggregates as CSV lines (French headers; hidden counts as « < 5 »): per
    indicator its title, its header line, its lines and its total, then an empty line."""
    out: list[list[Cell]] = [["Période", stats.period.start.strftime("%d/%m/%Y"),
                              stats.period.end.strftime("%d/%m/%Y")],
                             ["Territoires", " ; ".join(stats.territories)],
                             ["Demandes", _text(stats.requests)], []]
    for indicator in stats.indicators:
        out.append([indicator.title])
        out.append(list(indicator.headers))
        rows = [*indicator.rows, *([indicator.totals] if indicator.totals else [])]
        out += [[_text(c) for c in row] for row in rows]
        out.append([])
    return out


def _text(cell: Cell) -> Cell:
    if cell is None:
        return HIDDEN_TEXT
    return str(cell).replace(".", ",") if isinstance(cell, float) else cell


def places(session: Session, actor: Actor) -> list[tuple[int, str]]:
    """The territories whose statistics the actor reads, by name (none: an empty list)."""
    ids = statistics_territories(actor)
    return [(i, n) for i, n in session.execute(
        select(Territory.id, Territory.name).where(Territory.id.in_(ids))
        .order_by(Territory.name))] if ids else []
