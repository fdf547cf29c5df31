"""Durations of the record tables, in days, with their median and 90th percentile, the same
way on SQLite and PostgreSQL.

Each duration is written as whole hours when it ends (a step's ``hours_taken``, an
orientation's ``request_hours`` and ``answer_hours``): SQL counts them by hour (``GROUP BY``
the group and the hours) with no date arithmetic, a few hundred lines per group come back
however many rows were read, and the nearest-rank percentile (the duration at rank
``ceil(p·n)``) is read off those counts. An hour is finer than the tenth of a day the page
shows. Window functions gave the same figures but sorted every row, ten times slower at 100k
cases on SQLite (``bench/statistics_page.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

HOURS = 24


@dataclass(frozen=True)
class Durations:
    """How many durations, their median and 90th percentile (days, one decimal)."""

    group: tuple[Any, ...]
    count: int
    median: float | None
    p90: float | None


def counted_hours(session: Session, groups: Sequence[Any], hours: Any, *, select_from: Any,
                  where: list[Any], joins: Sequence[tuple[Any, Any]] = ()) -> list[Durations]:
    """The durations ``hours`` (an SQL expression: a column of whole hours written when the
    duration ended, never NULL for the rows ``where`` picks), per value of the SQL
    expressions ``groups`` (none: one group)."""
    query = select(*groups, hours, func.count()).select_from(select_from)
    for target, on in joins:
        query = query.join(target, on)
    # Core rows (no ORM loading): a year of durations comes back as thousands of buckets
    rows = session.connection().execute(query.where(*where).group_by(*groups, hours))
    width = len(groups)
    counted: dict[tuple[Any, ...], list[tuple[int, int]]] = {}
    for row in rows:
        key = tuple(row[:width])
        found = counted.get(key)
        if found is None:
            found = counted[key] = []
        found.append((row[width], row[width + 1]))
    return [_read(group, sorted(buckets)) for group, buckets in counted.items()]


def _read(group: tuple[Any, ...], buckets: list[tuple[int, int]]) -> Durations:
    total = sum(n for _, n in buckets)

    def at(share: int) -> float:
        rank, seen = -(-share * total // 100), 0
        for hour, n in buckets:
            seen += n
            if seen >= rank:
                return round(hour / HOURS, 1)
        return round(buckets[-1][0] / HOURS, 1)
    return Durations(group, total, at(50), at(90))
