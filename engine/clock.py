"""Time as an input: the engine never reads the wall clock itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current instant (timezone-aware, UTC)."""

    def now(self) -> datetime:
        """Return the current instant."""
        ...


class SystemClock:
    """The wall clock; only entry points (CLI, scheduler, requests) create one."""

    def now(self) -> datetime:
        """Return the current UTC instant."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that moves only when told to: tests and simulations."""

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start)

    def now(self) -> datetime:
        """Return the simulated instant."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` and return the new instant."""
        self._now = self._now + delta
        return self._now

    def set(self, instant: datetime) -> datetime:
        """Jump to ``instant`` (never backwards)."""
        instant = as_utc(instant)
        if instant < self._now:
            raise ValueError("a clock does not go backwards")
        self._now = instant
        return self._now


def as_utc(instant: datetime) -> datetime:
    """Return ``instant`` in UTC; a naive datetime is refused rather than guessed."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: give an explicit offset")
    return instant.astimezone(UTC)
