"""Human steps, denormalised for listing: lists never deserialize a workflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.persistence.db import Base, UtcDateTime


class TaskStatus(StrEnum):
    """Where a human step stands; stored as its value in ``human_task.status``."""

    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)
UNBOUND = "assignee_id IS NULL AND organisation_id IS NULL AND part IS NULL"
BOUND = "assignee_id IS NULL AND organisation_id IS NOT NULL"


def whole_hours(ready_at: datetime | None, completed_at: datetime | None) -> int | None:
    """Whole hours from a step's opening to its completion (None: not completed, or
    completed "before" it opened, a clock set back)."""
    if ready_at is None or completed_at is None or completed_at < ready_at:
        return None
    return (completed_at - ready_at) // timedelta(hours=1)


def _hours_taken(context: Any) -> int | None:
    """``hours_taken`` of a row inserted without it (the runtime gives it; tests and bulk
    loads may not)."""
    values = context.get_current_parameters()
    return whole_hours(values.get("ready_at"), values.get("completed_at"))


class HumanTask(Base):
    """One READY (or past) human step of a case."""

    __tablename__ = "human_task"
    __table_args__ = (
        UniqueConstraint("case_id", "spiff_task_id"),
        # assignee_id too, though always NULL here: the count then reads the index alone
        # steps offered to a role across the territory (a lane bound to no part): partial on
        # the unbound ones, so that both engines read it in (due_sort, id) order after the
        # equalities (PostgreSQL never takes "organisation_id IS NULL" as one)
        Index("ix_human_task_offered", "territory_id", "role", "status", "due_sort", "id",
              "assignee_id", sqlite_where=text(UNBOUND), postgresql_where=text(UNBOUND)),
        # steps offered to the people of one organisation (a lane bound to a part)
        Index("ix_human_task_bound", "territory_id", "role", "organisation_id", "status",
              "due_sort", "id", "assignee_id", sqlite_where=text(BOUND),
              postgresql_where=text(BOUND)),
        # partial too, so that the planner never reads it for unassigned (offered) steps
        Index("ix_human_task_mine", "assignee_id", "status", "due_sort", "id",
              sqlite_where=text("assignee_id IS NOT NULL"),
              postgresql_where=text("assignee_id IS NOT NULL")),
        # covers the supervision views and their counts (overdue, coming, no deadline)
        Index("ix_human_task_watch", "status", "due_at", "territory_id", "circuit_id", "role",
              "bpmn_id", "assignee_id", "ready_at", "name"),
        Index("ix_human_task_queue", "status", "due_sort", "id"),
        # steps waiting without deadline, oldest first (due_sort is the far-future mark)
        Index("ix_human_task_waiting", "status", "due_sort", "territory_id", "ready_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"))
    circuit_id: Mapped[int] = mapped_column(ForeignKey("circuit.id"))
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))
    lane: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(60))
    # the part the step's lane is bound to (None: offered to the role across the territory)
    # and the organisation holding that part in the case (None while no one holds it)
    part: Mapped[str | None] = mapped_column(String(40))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    form: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default=TaskStatus.OPEN)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    ready_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # due_at, or far in the future for steps without deadline: lists sort on an index
    due_sort: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # whole hours from ready_at to completed_at, written with the completion: the
    # statistics' time per step counts them without date arithmetic over every row
    hours_taken: Mapped[int | None] = mapped_column(default=_hours_taken)
    overdue_noticed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
