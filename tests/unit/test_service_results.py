"""What lists show of a step: late, due soon (one rule for badges, filters and digests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.services.results import DUE_SOON, TaskItem

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _item(due: datetime | None, status: str = "open") -> TaskItem:
    return TaskItem(1, 1, "TLS-2026-00001", "Ménage", 1, "Circuit", "analyse", "Analyser",
                    "coordination", None, None, NOW - timedelta(days=1), due, status)


def test_due_soon_is_the_window_before_the_deadline() -> None:
    assert _item(NOW + timedelta(days=2)).due_soon(NOW)
    assert _item(NOW + DUE_SOON - timedelta(minutes=1)).due_soon(NOW)
    assert not _item(NOW + DUE_SOON).due_soon(NOW)
    assert not _item(NOW - timedelta(hours=1)).due_soon(NOW)  # late, not soon
    assert _item(NOW - timedelta(hours=1)).overdue(NOW)
    assert not _item(None).due_soon(NOW)
    assert not _item(NOW + timedelta(days=1), status="completed").due_soon(NOW)
