"""Recording and reading the audit trail (append-only).

Every action code has its words in the message catalogue (``audit.<code>``, French and
English); the log names people by their names and roles by the territory's labels. A case
read (``case.read``) is recorded once per person and case in a unit of work, and once per
request where the session serves a web request (``one_read_per_request``): a page built
from several services is one read.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import event, func, or_, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core import messages
from engine.core.calendar import PARIS
from engine.errors import NotFound, PermissionDenied, ProcessDefinitionError
from engine.persistence.db import table, transaction
from engine.persistence.models import (
    AuditEvent,
    AuditEventTerritory,
    Case,
    CircuitVersion,
    Territory,
    User,
)
from engine.persistence.models.user import ADMIN_ROLE
from engine.services import runtime
from engine.services.access import Actor, case_view, overseen, require_coordinator

READS = ("case.read",)
_INSERT = table(AuditEvent).insert()
_LINK = table(AuditEventTerritory).insert()
# session.info: the reads (person, case) written in the open transaction, and, on a web
# request's session, those already committed by this request
_PENDING_READS = "aiguillage.audit.pending_reads"
_REQUEST_READS = "aiguillage.audit.request_reads"


def one_read_per_request(session: Session) -> None:
    """Record at most one read of a case per person on this session (a web request's):
    every service a page calls may record its read, the log keeps the first."""
    session.info[_REQUEST_READS] = set()


def record(session: Session, clock: Clock, actor: Actor, action: str, *,
           territory_id: int | None = None, case_id: int | None = None,
           **detail: Any) -> None:
    """Write an audit event in the current transaction (the service commits it); a read of a
    case already recorded for the same person in this unit of work (or web request) is not
    written again."""
    if action in READS and case_id is not None:
        key = (actor.user_id, case_id)
        pending: set[tuple[int | None, int]] = session.info.setdefault(_PENDING_READS, set())
        if key in pending or key in session.info.get(_REQUEST_READS, ()):
            return
        pending.add(key)
    session.connection().execute(_INSERT, {"at": clock.now(), "user_id": actor.user_id,
                              "territory_id": territory_id, "case_id": case_id,
                              "action": action, "detail": detail})


@event.listens_for(Session, "after_commit")
def _reads_committed(session: Session) -> None:
    pending = session.info.pop(_PENDING_READS, None)
    if pending and _REQUEST_READS in session.info:
        session.info[_REQUEST_READS].update(pending)


@event.listens_for(Session, "after_rollback")
def _reads_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING_READS, None)  # not written: a later read records itself


def label(action: str, lang: str = "fr") -> str:
    """An action in words (« Lecture du dossier »), in ``lang``; an unknown code as itself."""
    return messages.render(f"audit.{action}", lang, {})


def actions(lang: str = "fr") -> list[tuple[str, str]]:
    """Every action code with its words, sorted by the words (the journal's filter)."""
    codes = [c.removeprefix("audit.") for c in messages.CATALOGUE
             if c.startswith("audit.") and not c.startswith("audit.detail_")]
    return sorted(((c, label(c, lang)) for c in codes), key=lambda pair: pair[1].lower())


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
    """Audit log filters (all optional); dates are Paris days, inclusive. ``person`` is an
    e-mail address or a part of a name."""

    person: str | None = None
    case_reference: str | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class AuditRow:
    """One line of the audit log."""

    at: datetime
    user: str | None  # the person's name; None for the system
    action: str
    label: str  # the action in words
    case_reference: str | None
    territory: str | None
    detail: dict[str, Any]
    summary: str  # the detail in words: step, role, person concerned, reason


def search(session: Session, actor: Actor, filters: AuditFilters, page: int = 1,
           per_page: int = 50, lang: str = "fr") -> tuple[list[AuditRow], int]:
    """The audit events of the territories the actor administers (newest first), in words.

    :raises PermissionDenied: the actor administers no territory.
    """
    query = _filtered(actor, filters)
    total = session.scalar(select(func.count()).select_from(
        query.with_only_columns(AuditEvent.id).subquery())) or 0
    rows = session.execute(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                           .limit(min(per_page, 200)).offset((max(page, 1) - 1) * per_page)).all()
    words = _Words(session, lang)
    words.read_fields(e for e, *_ in rows)
    return [words.row(e, name, ref, t) for e, name, ref, t in rows], total


def export_rows(session: Session, actor: Actor, filters: AuditFilters,
                lang: str = "fr") -> Iterator[list[object]]:
    """CSV lines of the filtered audit log (header first), oldest first, streamed; the
    instants are datetimes (the CSV writer shows them in Paris time).

    The actor is checked here, before the first line (a refusal must come before a response
    starts streaming).

    :raises PermissionDenied: the actor administers no territory.
    """
    query = _filtered(actor, filters).order_by(AuditEvent.at, AuditEvent.id)
    return _export(session, query, lang)


def _export(session: Session, query: Any, lang: str) -> Iterator[list[object]]:
    yield ["date et heure", "personne", "action", "dossier", "territoire", "détail",
           "données enregistrées"]
    words = _Words(session, lang)
    for batch in session.execute(query.execution_options(yield_per=500)).partitions():
        words.read_fields(found for found, *_ in batch)  # one read per batch, not per line
        for found, name, ref, territory in batch:
            row = words.row(found, name, ref, territory)
            yield [row.at, name or "système", row.label, ref or "", territory or "",
                   row.summary, json.dumps(found.detail, ensure_ascii=False, sort_keys=True)]


class _Words:
    """Names of the people, role labels and form labels an event's detail points to, read
    once each."""

    def __init__(self, session: Session, lang: str) -> None:
        self.session, self.lang = session, lang
        self.people: dict[int, str] = {}
        self.roles: dict[int, dict[str, str]] = {}
        self.fields: dict[int, dict[str, str]] = {}  # case → field key → its form's label
        self.versions: dict[int, dict[str, str]] = {}  # the same, per circuit version

    def read_fields(self, events: Iterable[AuditEvent]) -> None:
        """The form labels of the fields these events name, by their cases' circuit versions:
        one read for all their cases (the compiled circuits are cached per process)."""
        self._read_cases({e.case_id for e in events if e.case_id is not None
                          and e.case_id not in self.fields and _field_keys(e.detail)})

    def _read_cases(self, wanted: set[int]) -> None:
        if not wanted:
            return
        found = self.session.execute(
            select(Case.id, Case.circuit_version_id, CircuitVersion.checksum)
            .join(CircuitVersion, CircuitVersion.id == Case.circuit_version_id)
            .where(Case.id.in_(wanted))).all()
        for case_id, version_id, checksum in found:
            if version_id not in self.versions:
                self.versions[version_id] = self._labels_of(version_id, checksum)
            self.fields[case_id] = self.versions[version_id]
        for case_id in wanted - self.fields.keys():
            self.fields[case_id] = {}  # the case is gone: its fields keep their keys

    def _labels_of(self, version_id: int, checksum: str) -> dict[str, str]:
        from engine.services.cases import fields_of  # cases records through this module
        try:
            circuit = runtime.compiled(self.session, version_id, checksum)
        except ProcessDefinitionError:  # a version today's compiler refuses: keys stay
            return {}
        return {key: spec.label for key, spec in fields_of(circuit).items() if spec.label}

    def row(self, event: AuditEvent, name: str | None, reference: str | None,
            territory: str | None) -> AuditRow:
        return AuditRow(event.at, name, event.action, label(event.action, self.lang),
                        reference, territory, event.detail, self.summary(event))

    def summary(self, event: AuditEvent) -> str:
        detail = event.detail if isinstance(event.detail, dict) else {}
        return " — ".join([*self._who(event, detail), *self._what(event, detail)])

    def _who(self, event: AuditEvent, detail: dict[str, Any]) -> list[str]:
        """The people, roles and actions the detail names."""
        parts: list[str] = []
        if isinstance(detail.get("name"), str):
            parts.append(detail["name"])
        if isinstance(detail.get("role"), str):
            parts.append(self._role(event.territory_id, detail["role"]))
        target = detail.get("target_user_id")
        if isinstance(target, int) and not isinstance(target, bool):
            parts.append(self._person(target))
        attempt = detail.get("attempt")
        if isinstance(attempt, str) and f"audit.{attempt}" in messages.CATALOGUE:
            parts.append(self._say("audit.detail_attempt", action=label(attempt, self.lang)))
        return parts

    def _what(self, event: AuditEvent, detail: dict[str, Any]) -> list[str]:
        """The fields (by their forms' labels), reason, versions and ways the detail names."""
        parts: list[str] = []
        if keys := _field_keys(detail):
            parts.append(self._say("audit.detail_fields", fields=", ".join(
                self._field_labels(event, keys))))
        if isinstance(detail.get("reason"), str) and detail["reason"]:
            parts.append(self._say("audit.detail_reason", reason=self._reason(detail)))
        for key in ("version", "to_version"):
            if isinstance(detail.get(key), int):
                parts.append(self._say("audit.detail_version", number=detail[key]))
        if detail.get("minimal") is True:
            parts.append(self._say("audit.detail_minimal"))
        if detail.get("via") == "lien":
            parts.append(self._say("audit.detail_link"))
        if isinstance(detail.get("provider"), str) and detail["provider"]:
            parts.append(self._say("audit.detail_provider", provider=detail["provider"]))
        if isinstance(detail.get("repeated"), int) and detail["repeated"] > 0:
            parts.append(self._say("audit.detail_repeated", count=detail["repeated"]))
        code = detail.get("reason_code")
        if isinstance(code, str) and code.startswith("svc.") and code in messages.CATALOGUE:
            parts.append(self._say("audit.detail_reason", reason=self._say(code)))
        return parts

    def _field_labels(self, event: AuditEvent, keys: list[str]) -> list[str]:
        """The fields as their case's forms name them (a directory entry's, as its form),
        alphabetically; a key no form declares as itself."""
        case_id = event.case_id
        if case_id is None:
            if not event.action.startswith("directory."):
                return keys
            labels = {k: self._say(f"audit.detail_directory.{k}") for k in keys
                      if f"audit.detail_directory.{k}" in messages.CATALOGUE}
        else:
            if case_id not in self.fields:
                self._read_cases({case_id})
            labels = self.fields[case_id]
        return sorted((labels.get(k, k) for k in keys), key=str.casefold)

    def _reason(self, detail: dict[str, Any]) -> str:
        """A reason in words: a message code of the catalogue (with ``reason_params``), a
        short reason word worded as ``audit.reason.<word>``, or a person's own text."""
        reason: str = detail["reason"]
        if " " not in reason and reason in messages.CATALOGUE:
            params = detail.get("reason_params")
            return self._say(reason, **(params if isinstance(params, dict) else {}))
        if f"audit.reason.{reason}" in messages.CATALOGUE:
            return self._say(f"audit.reason.{reason}")
        return reason

    def _say(self, code: str, **params: Any) -> str:
        return messages.render(code, self.lang, params)

    def _person(self, user_id: int) -> str:
        if user_id not in self.people:
            name = self.session.scalar(select(User.display_name).where(User.id == user_id))
            self.people[user_id] = name or self._say("audit.detail_unknown_person")
        return self.people[user_id]

    def _role(self, territory_id: int | None, role: str) -> str:
        if role == ADMIN_ROLE:
            return self._say("audit.detail_admin_role")
        if territory_id is None:
            return role
        if territory_id not in self.roles:
            declared = self.session.scalar(select(Territory.roles).where(
                Territory.id == territory_id)) or []
            self.roles[territory_id] = {r["key"]: r["label"] for r in declared}
        return self.roles[territory_id].get(role, role)


def _field_keys(detail: Any) -> list[str]:
    """The fields an event's detail names (``fields``), or none."""
    fields = detail.get("fields") if isinstance(detail, dict) else None
    if isinstance(fields, list) and fields and all(isinstance(f, str) for f in fields):
        return fields
    return []


def _filtered(actor: Actor, filters: AuditFilters) -> Any:
    territories = overseen(actor)
    query = (select(AuditEvent, User.display_name, Case.reference, Territory.name)
             .outerjoin(User, User.id == AuditEvent.user_id)
             .outerjoin(Case, Case.id == AuditEvent.case_id)
             .outerjoin(Territory, Territory.id == AuditEvent.territory_id)
             .where(or_(AuditEvent.territory_id.in_(territories),
                        AuditEvent.id.in_(select(AuditEventTerritory.event_id).where(
                            AuditEventTerritory.territory_id.in_(territories))))))
    if filters.person and filters.person.strip():
        person = filters.person.strip().lower()
        query = query.where(or_(User.email == person, func.lower(User.display_name).contains(
            person, autoescape=True)))
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


def coordination_only(session: Session, clock: Clock, actor: Actor,
                                 territory_id: int, action: str, attempt: str) -> None:
    """Refuse a change kept to the territory's coordination; a member's refused attempt is
    recorded as ``action`` (committed on its own: the caller's work is rolled back).

    :raises NotFound: the actor has no role in the territory.
    :raises PermissionDenied: the actor does not coordinate it.
    """
    try:
        require_coordinator(actor, territory_id)
    except PermissionDenied:
        with transaction(session):
            record(session, clock, actor, action, territory_id=territory_id, attempt=attempt)
        raise


# ------------------------------------------------------------ repeated refusals, counted

REPEATS_EVERY = timedelta(minutes=1)  # one audit row per key this often, the rest counted
_REPEATS: weakref.WeakKeyDictionary[Any, dict[Hashable, tuple[datetime, int]]] = \
    weakref.WeakKeyDictionary()
_REPEATS_SIZE = 10_000
_REPEATS_LOCK = threading.Lock()


def repeats_since_recorded(session: Session, key: Hashable, now: datetime,
                           every: timedelta = REPEATS_EVERY) -> int | None:
    """For a refusal that may come in a flood (wrong passwords, bad keys): None when it is
    only to be counted (one with the same ``key`` was recorded less than ``every`` ago, so a
    flood writes one row a minute per worker, not one per attempt); else how many were
    counted since the last one recorded, to write with this one as ``repeated``. Counted
    per database (its engine) and per worker, in memory."""
    with _REPEATS_LOCK:
        counts = _REPEATS.setdefault(session.get_bind(), {})
        last = counts.get(key)
        if last is not None and now - last[0] < every:
            counts[key] = (last[0], last[1] + 1)
            return None
        if len(counts) >= _REPEATS_SIZE:
            counts.clear()
        counts[key] = (now, 0)
        return last[1] if last is not None else 0
