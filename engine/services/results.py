"""What services return to the web app and the CLI: plain, typed, no ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

# engine types the services hand out as they are (immutable, no ORM): the web app reads them here
from engine.core.forms import FieldSpec as FieldSpec
from engine.core.forms import FormSpec as FormSpec
from engine.core.problems import Problem as Problem

# the statuses a row can hold, as the web app compares and labels them
from engine.persistence.models.case import CaseStatus as CaseStatus
from engine.persistence.models.human_task import TaskStatus as TaskStatus

T = TypeVar("T")
COUNT_CAP = 1000  # long lists count up to here and then say "more than"
DUE_SOON = timedelta(days=3)  # a step due within this is "bientôt dû" (lists, badges, digests)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def capped(self) -> bool:
        """True when the total was counted only up to the cap (more than 1,000)."""
        return self.total > COUNT_CAP

    @property
    def has_next(self) -> bool:
        """A next page exists: within the count, or past the cap while pages are full."""
        return self.page < self.pages or (self.capped and len(self.items) == self.per_page)


@dataclass(frozen=True)
class TaskItem:
    """A step as the task list shows it."""

    id: int
    case_id: int
    case_reference: str
    household_name: str | None  # None: the reader may not know it (``access.name_shown``)
    circuit_id: int
    circuit_title: str
    bpmn_id: str
    name: str
    role: str | None
    lane: str | None
    assignee_id: int | None
    ready_at: datetime
    due_at: datetime | None
    status: str

    @property
    def is_open(self) -> bool:
        """Still to do: neither completed nor cancelled."""
        return self.status == TaskStatus.OPEN

    def overdue(self, now: datetime) -> bool:
        """Open and past its due date."""
        return self.status == TaskStatus.OPEN and self.due_at is not None and self.due_at < now

    def due_soon(self, now: datetime) -> bool:
        """Open and due within ``DUE_SOON``, not yet late."""
        return (self.status == TaskStatus.OPEN and self.due_at is not None
                and now <= self.due_at < now + DUE_SOON)


@dataclass(frozen=True)
class CaseSummary:
    """A case as lists show it."""

    id: int
    reference: str
    household_name: str | None  # None: the reader may not know it (``access.name_shown``)
    territory_id: int
    circuit_id: int
    circuit_title: str
    status: str
    created_at: datetime
    next_due_at: datetime | None
    end_label: str | None

    @property
    def is_open(self) -> bool:
        """Running: neither ended, closed, cancelled nor in error."""
        return self.status == CaseStatus.OPEN


@dataclass(frozen=True)
class TimerItem:
    """A timer row as pages show it."""

    id: int
    name: str
    kind: str
    due_at: datetime
    status: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class CaseDetail:
    """A case file: summary, data, open steps, timers, timeline."""

    summary: CaseSummary
    version: int
    version_number: int
    data: dict[str, Any]
    open_tasks: list[TaskItem]
    timers: list[TimerItem]
    # (when, action, detail, who: the person's name, None for the platform)
    timeline: list[tuple[datetime, str, dict[str, Any], str | None]] = field(default_factory=list)
    completed_steps: list[str] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    minimal: bool = False  # reference, status and the steps to act on only (no consent yet)
    partial: bool = False  # some data categories only: ``shared`` names them
    shared: list[str] = field(default_factory=list)  # labels of the categories read
    actionable: frozenset[int] = frozenset()  # open steps whose page the reader may open
    # open steps waiting for an organisation to hold their part: step id → the part's label
    waiting: dict[int, str] = field(default_factory=dict)
    can_close: bool = False  # the reader may close or cancel the case


@dataclass(frozen=True)
class Person:
    """Someone a step can be given to."""

    id: int
    name: str


@dataclass(frozen=True)
class TaskDetail:
    """Everything the task page shows: the step, its case, its instructions and form."""

    task: TaskItem
    case: CaseSummary
    instructions: str
    form: Any  # engine.core.forms.FormSpec | None
    values: dict[str, Any]
    can_complete: bool
    can_assign: bool
    candidates: list[Person] = field(default_factory=list)
    minimal: bool = False  # the case is read minimally: no case data in instructions or form
