"""Durations between two instants of the record tables, in days, with their median and 90th
percentile, the same way on SQLite and PostgreSQL.

SQL counts the durations by hour (``GROUP BY`` the group and the whole hours elapsed): a few
hundred lines per group come back however many rows were read, and the nearest-rank
percentile (the duration at rank ``ceil(p·n)``) is read off those counts. An hour is finer
than the tenth of a day the page shows. Window functions gave the same figures but sorted
every row, ten times slower at 100k cases on SQLite (``bench/statistics_page.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

HOURS = 24


@dataclass(frozen=True)
class Durations:
    """How many durations, their median and 90th percentile (days, one decimal)."""

    group: tuple[Any, ...]
    count: int
    median: float | None
    p90: float | None


def days_between(session: Session, start: Any, end: Any) -> Any:
    """SQL: days from ``start`` to ``end`` (a fraction), on the session's database."""
    if session.get_bind().dialect.name == "sqlite":
        return func.julianday(end) - func.julianday(start)
    return func.extract("epoch", end - start) / 86400.0


def durations(session: Session, groups: Sequence[Any], start: Any, end: Any, *,
              select_from: Any, where: list[Any],
              joins: Sequence[tuple[Any, Any]] = ()) -> list[Durations]:
    """The durations ``start`` → ``end`` of the rows ``where`` picks, per value of the SQL
    expressions ``groups`` (none: one group); an end before its start (a clock set back)
    is no duration and is left out."""
    elapsed = days_between(session, start, end) * HOURS
    # whole hours: SQLite's CAST truncates (and these are never negative), PostgreSQL's rounds
    hours = cast(elapsed if session.get_bind().dialect.name == "sqlite"
                 else func.floor(elapsed), Integer)
    return counted_hours(session, groups, hours, select_from=select_from, joins=joins,
                         where=[*where, start.is_not(None), end.is_not(None), end >= start])


def counted_hours(session: Session, groups: Sequence[Any], hours: Any, *, select_from: Any,
                  where: list[Any], joins: Sequence[tuple[Any, Any]] = ()) -> list[Durations]:
    """``durations`` of whole hours already known: ``hours``, an SQL expression (a column
    written when the duration ended, say), never NULL for the rows ``where`` picks."""
    query = select(*groups, hours, func.count()).select_from(select_from)
    for target, on in joins:
        query = query.join(target, on)
    rows = session.execute(query.where(*where).group_by(*groups, hours)).all()
    counted: dict[tuple[Any, ...], list[tuple[int, int]]] = {}
    for row in rows:
        counted.setdefault(tuple(row[:len(groups)]), []).append((int(row[-2]), int(row[-1])))
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
