"""Facts of a case the statistics count: form answers marked ``x-aiguillage-statistic``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, event, exists, insert, select, update
from sqlalchemy.orm import Mapped, aliased, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

from engine.core.statistics import EVICTION_FURTHEST, EVICTION_STAGE
from engine.persistence.db import Base, UtcDateTime
from engine.persistence.models.case import Case
from engine.persistence.models.human_task import HumanTask, whole_hours
from engine.persistence.models.orientation import Orientation
from engine.persistence.models.party import CaseParty


class CaseFact(Base):
    """One answer of a case the statistics count (``engine.core.statistics.KINDS``): its
    kind, its code and the label read when it was given; for a need, what the directory
    offered then (``engine.core.statistics.UNMET`` or ``servi``)."""

    __tablename__ = "case_fact"
    __table_args__ = (
        # in the order the counts group by: SQLite (which groups by sorting) reads the
        # groups in order instead of sorting a year of rows
        Index("ix_case_fact_count", "territory_id", "kind", "label", "detail", "recorded_at",
              "case_id"),
        Index("ix_case_fact_case", "case_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    kind: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(String(40), default="")
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


# The statistics' reads of other tables, each covered by one index so that a year of a
# territory is counted without reading its rows (bench/statistics_page.py); kept here, with
# the statistics, rather than in each model. The columns a count groups by come right after
# the equalities and before the period's range: SQLite, which groups by sorting, then reads
# the groups in order (the range filtered on the index) instead of sorting a year of rows.
STATISTICS_INDEXES = (
    # time spent per step: steps completed in the period, their whole hours
    Index("ix_human_task_stat_done", HumanTask.territory_id, HumanTask.status,
          HumanTask.circuit_id, HumanTask.name, HumanTask.hours_taken, HumanTask.completed_at),
    # overdue rates: steps opened in the period, their deadline and who did them
    Index("ix_human_task_stat_ready", HumanTask.territory_id, HumanTask.name, HumanTask.role,
          HumanTask.completed_by_id, HumanTask.assignee_id, HumanTask.ready_at,
          HumanTask.due_at, HumanTask.status, HumanTask.completed_at),
    # orientations sent in the period: measure, operator, outcome, answer
    Index("ix_orientation_stat", Orientation.territory_id, Orientation.created_at,
          Orientation.measure, Orientation.organisation_id, Orientation.state,
          Orientation.answered_at, Orientation.case_id, Orientation.id),
    # delays: orientations sent in the period, the whole hours from their request and to
    # their answer (read on the index alone, in range order: history does not weigh)
    Index("ix_orientation_stat_hours", Orientation.territory_id, Orientation.created_at,
          Orientation.request_hours, Orientation.answer_hours),
    # cases ended in the period: circuit and end state
    Index("ix_case_stat_closed", Case.territory_id, Case.closed_at, Case.circuit_id,
          Case.status, Case.end_label),
    # requests by referrer: each referrer's case checked in the territory on this index
    # rather than on the case's row (SQLite reads it from the index alone)
    Index("ix_case_stat_territory", Case.territory_id, Case.id),
    # requests by referrer: the current referrers since the period's start, read alone
    Index("ix_case_party_stat", CaseParty.part, CaseParty.until, CaseParty.since,
          CaseParty.organisation_id, CaseParty.case_id),
)


# The delays the statistics count are written once, when they happen, whoever writes the
# orientation (the service, a test, an import): the page then counts whole hours on an index
# instead of doing date arithmetic over a year of orientations joined to their cases.


@event.listens_for(Orientation, "before_insert")
@event.listens_for(Orientation, "before_update")
def _answered(mapper: Any, connection: Any, target: Orientation) -> None:
    """``answer_hours`` once the orientation is answered (none for an answer dated before
    the sending: a clock set back)."""
    if target.answer_hours is None and target.answered_at is not None:
        target.answer_hours = whole_hours(target.created_at, target.answered_at)


@event.listens_for(Orientation, "after_insert")
def _sent(mapper: Any, connection: Any, target: Orientation) -> None:
    """``request_hours`` on the case's first orientation (the lowest id, as the delays
    count it): written after the insert, so that orientations of one case inserted in one
    flush see each other."""
    if target.request_hours is not None:
        return
    created = connection.scalar(select(Case.created_at).where(Case.id == target.case_id))
    hours = whole_hours(created, target.created_at)
    if hours is None:
        return
    earlier = aliased(Orientation)
    done = connection.execute(
        update(Orientation).where(Orientation.id == target.id, ~exists().where(
            earlier.case_id == target.case_id, earlier.id < target.id))
        .values(request_hours=hours))
    if done.rowcount:
        set_committed_value(target, "request_hours", hours)


@event.listens_for(CaseFact, "after_insert")
def _stage(mapper: Any, connection: Any, target: CaseFact) -> None:
    """A stage of an eviction procedure: the case's furthest stage (``EVICTION_FURTHEST``,
    one fact per case: the stages' order is their ``detail``) follows it if it goes
    further."""
    if target.kind != EVICTION_STAGE:
        return
    furthest = connection.execute(select(CaseFact.id, CaseFact.detail).where(
        CaseFact.case_id == target.case_id, CaseFact.kind == EVICTION_FURTHEST)).first()
    detail = target.detail or ""
    values = {"value": target.value, "label": target.label, "detail": detail,
              "recorded_at": target.recorded_at}
    if furthest is None:
        connection.execute(insert(CaseFact).values(
            territory_id=target.territory_id, case_id=target.case_id, kind=EVICTION_FURTHEST,
            **values))
    elif detail > furthest.detail:
        connection.execute(update(CaseFact).where(CaseFact.id == furthest.id).values(**values))
