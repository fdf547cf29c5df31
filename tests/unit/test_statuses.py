"""Statuses are one ``StrEnum`` per model family, stored as their plain values (issue #11)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from engine.persistence.models.case import CaseStatus
from engine.persistence.models.human_task import TaskStatus
from engine.persistence.models.outbox import OutboxStatus
from engine.persistence.models.timer import ARMED_STATUSES, TimerStatus

ROOT = Path(__file__).resolve().parents[2]
STATUS_MODULES = {"engine.persistence.models." + m for m in ("case", "human_task", "timer",
                                                             "outbox")}


def test_the_stored_values_do_not_change() -> None:
    """The columns stay String: a renamed value would strand every row already written."""
    assert [s.value for s in CaseStatus] == ["open", "completed", "cancelled", "closed", "error"]
    assert [s.value for s in TaskStatus] == ["open", "completed", "cancelled"]
    assert [s.value for s in TimerStatus] == ["waiting", "claimed", "done", "cancelled",
                                              "failed"]
    assert [s.value for s in OutboxStatus] == ["pending", "sent", "failed"]
    assert ARMED_STATUSES == ("waiting", "claimed", "failed")


def test_a_status_reads_writes_and_compares_as_its_plain_string() -> None:
    assert json.dumps({"status": TimerStatus.FAILED}) == '{"status": "failed"}'
    assert f"{CaseStatus.OPEN}" == str(CaseStatus.OPEN) == "open"
    assert {CaseStatus.OPEN: 1}.get("open") == 1 and "open" == TaskStatus.OPEN


def test_statuses_are_imported_as_enums_never_as_renamed_constants() -> None:
    """No more ``from ...human_task import OPEN as TASK_OPEN``: the enum says its family."""
    offenders = []
    for folder in ("engine", "webapp", "bench", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            offenders += [(str(path.relative_to(ROOT)), a.name) for node in ast.walk(tree)
                          if isinstance(node, ast.ImportFrom) and node.module in STATUS_MODULES
                          for a in node.names if a.name.isupper() and a.name not in
                          {"NO_DEADLINE", "ARMED_STATUSES"}]
    assert offenders == []
