"""Recording and reading the audit trail (append-only)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.calendar import PARIS
from engine.errors import NotFound
from engine.persistence.db import table
from engine.persistence.models import AuditEvent, AuditEventTerritory, Case, Territory, User
from engine.services.access import Actor, case_view, overseen

READS = ("case.read",)
_INSERT = table(AuditEvent).insert()
_LINK = table(AuditEventTerritory).insert()


def record(session: Session, clock: Clock, actor: Actor, action: str, *,
           territory_id: int | None = None, case_id: int | None = None,
           **detail: Any) -> None:
    """Write an audit event in the current transaction (the service commits it)."""
    session.connection().execute(_INSERT, {"at": clock.now(), "user_id": actor.user_id,
                              "territory_id": territory_id, "case_id": case_id,
                              "action": action, "detail": detail})


def record_for(session: Session, clock: Clock, actor: Actor, action: str,
               territory_ids: Sequence[int], **detail: Any) -> None:
    """Write an audit event that concerns several territories (an account in each of them):
    the first is the event's own, one link per further one; the administrators of each see it.
    """
    ids = list(dict.fromkeys(territory_ids))
    result = session.connection().execute(_INSERT, {
        "at": clock.now(), "user_id": actor.user_id, "territory_id": ids[0] if ids else None,
        "case_id": None, "action": action, "detail": detail})
    if len(ids) > 1:
        event_id = result.inserted_primary_key[0]  # type: ignore[index]
        session.connection().execute(_LINK, [{"event_id": event_id, "territory_id": t}
                                             for t in ids[1:]])


def case_timeline(session: Session, clock: Clock, actor: Actor,
                  case_id: int) -> list[tuple[datetime, str, dict[str, Any], int | None]]:
    """What happened to a case, oldest first, for a reader beyond the minimal view (reads are
    in the audit log, not the timeline; the entries name steps, parts and people, never the
    answers).

    :raises NotFound: unknown case, out of the actor's reach, or read minimally.
    """
    territory_id = session.scalar(select(Case.territory_id).where(Case.id == case_id))
    if territory_id is None or not actor.is_member(territory_id):
        raise NotFound(code="svc.case_not_found")
    if case_view(session, actor, case_id, territory_id, clock.now()).minimal:
        raise NotFound(code="svc.case_not_found")
    return timeline_of(session, case_id)


def timeline_of(session: Session,
                case_id: int) -> list[tuple[datetime, str, dict[str, Any], int | None]]:
    """``case_timeline`` for a caller that has already decided the reader may see it (the
    case page, after ``access.case_view``)."""
    rows = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                    AuditEvent.action.not_in(READS))
                           .order_by(AuditEvent.at, AuditEvent.id))
    return [(r.at, r.action, r.detail, r.user_id) for r in rows]


@dataclass(frozen=True)
class AuditFilters:
    """Audit log filters (all optional); dates are Paris days, inclusive."""

    user_email: str | None = None
    case_reference: str | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class AuditRow:
    """One line of the audit log."""

    at: datetime
    user: str | None
    action: str
    case_reference: str | None
    territory: str | None
    detail: dict[str, Any]


def search(session: Session, actor: Actor, filters: AuditFilters, page: int = 1,
           per_page: int = 50) -> tuple[list[AuditRow], int]:
    """The audit events of the territories the actor administers (newest first)."""
    query = _filtered(actor, filters)
    total = session.scalar(select(func.count()).select_from(
        query.with_only_columns(AuditEvent.id).subquery())) or 0
    rows = session.execute(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                           .limit(min(per_page, 200)).offset((max(page, 1) - 1) * per_page)).all()
    return [AuditRow(e.at, email, e.action, ref, t, e.detail) for e, email, ref, t in rows], total


def export_rows(session: Session, actor: Actor, filters: AuditFilters) -> Iterator[list[str]]:
    """CSV lines of the filtered audit log (header first), oldest first, streamed.

    The actor is checked here, before the first line (a refusal must come before a response
    starts streaming).

    :raises PermissionDenied: the actor administers no territory.
    """
    query = _filtered(actor, filters).order_by(AuditEvent.at, AuditEvent.id)
    return _export(session, query)


def _export(session: Session, query: Any) -> Iterator[list[str]]:
    yield ["horodatage (UTC)", "personne", "action", "dossier", "territoire", "détail"]
    for event, email, ref, territory in session.execute(query.execution_options(yield_per=500)):
        yield [event.at.isoformat(), email or "système", event.action, ref or "",
               territory or "", json.dumps(event.detail, ensure_ascii=False, sort_keys=True)]


def _filtered(actor: Actor, filters: AuditFilters) -> Any:
    territories = overseen(actor)
    query = (select(AuditEvent, User.email, Case.reference, Territory.name)
             .outerjoin(User, User.id == AuditEvent.user_id)
             .outerjoin(Case, Case.id == AuditEvent.case_id)
             .outerjoin(Territory, Territory.id == AuditEvent.territory_id)
             .where(or_(AuditEvent.territory_id.in_(territories),
                        AuditEvent.id.in_(select(AuditEventTerritory.event_id).where(
                            AuditEventTerritory.territory_id.in_(territories))))))
    if filters.user_email:
        query = query.where(User.email == filters.user_email.strip().lower())
    if filters.case_reference:
        query = query.where(Case.reference == filters.case_reference.strip().upper())
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.since:
        query = query.where(AuditEvent.at >= _paris_midnight(filters.since))
    if filters.until:
        query = query.where(AuditEvent.at < _paris_midnight(filters.until + timedelta(days=1)))
    return query


def _paris_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=PARIS).astimezone(UTC)
