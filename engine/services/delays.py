"""Durations between two instants of the record tables, in days, with their median and 90th
percentile computed in SQL the same way on SQLite and PostgreSQL (nearest rank: the value at
rank ``ceil(p·n)`` of the sorted durations, by window functions and integer arithmetic; no
``percentile_cont``, which SQLite lacks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Durations:
    """How many durations, their median and 90th percentile (days, one decimal)."""

    label: str
    count: int
    median: float | None
    p90: float | None


def days_between(session: Session, start: Any, end: Any) -> Any:
    """SQL: days from ``start`` to ``end`` (a fraction), on the session's database."""
    if session.get_bind().dialect.name == "sqlite":
        return func.julianday(end) - func.julianday(start)
    return func.extract("epoch", end - start) / 86400.0


def durations(session: Session, label: Any, start: Any, end: Any, *, select_from: Any,
              where: list[Any], join: tuple[Any, Any] | None = None,
              grouped: bool = False) -> list[Durations]:
    """The durations ``start`` → ``end`` of the rows ``where`` picks, in one group named
    ``label``, or (``grouped``) per value of the SQL expression ``label``."""
    group = label if grouped else literal(0)
    days = days_between(session, start, end)
    inner = select(group.label("g"), days.label("d"),
                   func.row_number().over(partition_by=group, order_by=days).label("rn"),
                   func.count().over(partition_by=group).label("n")).select_from(select_from)
    if join is not None:
        inner = inner.join(*join)
    # an end before its start (a clock set back) is no duration: left out
    ranked = inner.where(*where, start.is_not(None), end.is_not(None), end >= start).subquery()

    def at(share: int) -> Any:
        return func.max(sql_case((ranked.c.rn == (share * ranked.c.n + 99) // 100, ranked.c.d)))
    rows = session.execute(select(ranked.c.g, func.max(ranked.c.n), at(50), at(90))
                           .group_by(ranked.c.g)).all()
    out = [Durations(str(g) if grouped else str(label), int(n), _days(median), _days(p90))
           for g, n, median, p90 in rows]
    return out or ([] if grouped else [Durations(str(label), 0, None, None)])


def _days(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)
