"""The directory of services (annuaire): which organisation runs which measure, where, with
how many places; kept by the territory's coordination and by each organisation for its own
entries, read by every member of the territory (it holds no personal data).

Search and filters run in SQL on the folded columns ``search_text``, ``domain_tags`` and
``commune_tags`` (``engine.core.directory.fold``), within one territory on an index that
leads with it. Every change is audited; every change of the places available is kept in
``directory_place_change`` with its comment. CSV export and import use data·inclusion's
service field names where they fit (``engine.core.directory.COLUMNS``): they are in
``directory_csv``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.directory import (
    COLUMNS,
    DOMAINS,
    EMAIL,
    MAX_COMMENT,
    MAX_COMMUNE,
    MAX_COMMUNES,
    MAX_CONTACT,
    MAX_DESCRIPTION,
    MAX_EMAIL,
    MAX_HOURS,
    MAX_LANGUAGES,
    MAX_NAME,
    MAX_PHONE,
    MAX_PLACES,
    MAX_PUBLIC,
    MAX_SEARCH,
    MEASURES,
    PHONE,
    SEPARATOR,
    fold,
    searchable,
    tags,
)
from engine.core.messages import render
from engine.errors import FormInvalid, InvalidInput, NotFound, PermissionDenied
from engine.persistence.db import transaction
from engine.persistence.models import (
    DirectoryPlaceChange,
    DirectoryService,
    Organisation,
    User,
)
from engine.services import audit
from engine.services.access import (
    Actor,
    may_edit_service,
    require_coordinator,
    require_member,
    require_service_editor,
)
from engine.services.results import COUNT_CAP, Page

__all__ = ["COLUMNS", "DOMAINS", "MAX_COMMENT", "MEASURES"]  # the vocabulary the web app reads

MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Problem:
    """One refusal of a value: its field (or CSV column), a message code and its values."""

    name: str
    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def text(self, lang: str) -> str:
        """The message in ``lang``."""
        return render(self.code, lang, self.params)


class EntryRefused(FormInvalid):
    """An entry's values were refused; ``problems`` says which and why (any language)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors: dict[str, list[str]] = {}
        for p in problems:
            errors.setdefault(p.name, []).append(p.text("fr"))
        super().__init__(errors)

    def errors_in(self, lang: str) -> dict[str, list[str]]:
        """Field → messages in ``lang``."""
        errors: dict[str, list[str]] = {}
        for p in self.problems:
            errors.setdefault(p.name, []).append(p.text(lang))
        return errors


@dataclass(frozen=True)
class Entry:
    """What a directory entry says (the values a form or a CSV line gives)."""

    organisation_id: int
    measure: str
    name: str
    description: str = ""
    domains: tuple[str, ...] = ()
    communes: tuple[str, ...] = ()
    public: str = ""
    capacity: int | None = None
    places_available: int | None = None
    waiting_list: int | None = None
    phone: str = ""
    email: str = ""
    address: str = ""
    hours_walk_in: str = ""
    hours_appointment: str = ""
    languages: str = ""
    charter_signed: bool = False


@dataclass(frozen=True)
class Filters:
    """The directory list's search and filters (all optional)."""

    text: str = ""
    measure: str | None = None
    domain: str | None = None
    commune: str = ""
    available_only: bool = False
    inactive: bool = False  # also the deactivated entries (coordination)


@dataclass(frozen=True)
class ServiceItem:
    """A service as the directory list shows it."""

    id: int
    name: str
    organisation: str
    measure: str
    communes: list[str]
    capacity: int | None
    places_available: int | None
    waiting_list: int | None
    active: bool


@dataclass(frozen=True)
class PlaceChange:
    """One change of the places available."""

    at: datetime
    who: str
    before: int | None
    after: int | None
    comment: str


@dataclass(frozen=True)
class Service:
    """A directory entry in full, with what the reader may do with it."""

    id: int
    territory_id: int
    organisation_id: int
    organisation: str
    entry: Entry
    active: bool
    updated_at: datetime
    updated_by: str | None
    may_edit: bool
    may_deactivate: bool
    history: list[PlaceChange]


# --------------------------------------------------------------------------- reading


def search(session: Session, actor: Actor, territory_id: int, filters: Filters,
           page: int = 1, per_page: int = 20,
           after: tuple[str, int] | None = None) -> Page[ServiceItem]:
    """The territory's services matching the filters, by name (paged and counted in SQL).
    ``after``: the (name, id) of the last service already read: the list goes on after it
    (keyset, in SQL); the page is then 1 and the count is that of the services after it.

    :raises NotFound: the actor has no role in the territory.
    :raises InvalidInput: a search text too long, an unknown measure or need domain.
    """
    require_member(actor, territory_id)
    if len(filters.text) > MAX_SEARCH or len(filters.commune) > MAX_SEARCH:
        raise InvalidInput(code="svc.search_too_long", maximum=MAX_SEARCH)
    if filters.measure is not None and filters.measure not in MEASURES:
        raise InvalidInput(code="svc.directory_measure_unknown")
    if filters.domain is not None and filters.domain not in DOMAINS:
        raise InvalidInput(code="svc.directory_domain_unknown")
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    page = 1 if after is not None else max(page, 1)
    s = DirectoryService
    where = _matching(actor, territory_id, filters)
    if after is not None:
        where.append(or_(s.name > after[0], and_(s.name == after[0], s.id > after[1])))
    total = session.scalar(select(func.count()).select_from(
        select(s.id).where(*where).limit(COUNT_CAP + 1).subquery())) or 0
    rows = session.execute(
        select(s.id, s.name, Organisation.name, s.measure, s.communes, s.capacity,
               s.places_available, s.waiting_list, s.active)
        .join(Organisation, Organisation.id == s.organisation_id).where(*where)
        .order_by(s.name, s.id).limit(per_page).offset((page - 1) * per_page)).all()
    return Page([ServiceItem(r[0], r[1], r[2], r[3], list(r[4] or []), r[5], r[6], r[7], r[8])
                 for r in rows], total, page, per_page)


def _matching(actor: Actor, territory_id: int, filters: Filters) -> list[Any]:
    """The conditions of the services the filters keep (checked beforehand)."""
    s = DirectoryService
    where: list[Any] = [s.territory_id == territory_id]
    if not (filters.inactive and actor.is_coordinator(territory_id)):
        where.append(s.active.is_(True))
    for word in fold(filters.text).split():
        where.append(s.search_text.contains(word, autoescape=True))
    if filters.measure is not None:
        where.append(s.measure == filters.measure)
    if filters.domain is not None:
        where.append(s.domain_tags.contains(f"{SEPARATOR}{filters.domain}{SEPARATOR}",
                                            autoescape=True))
    if fold(filters.commune):
        where.append(s.commune_tags.contains(SEPARATOR + fold(filters.commune),
                                             autoescape=True))
    if filters.available_only:
        where.append(s.places_available > 0)
    return where


def get(session: Session, actor: Actor, service_id: int) -> Service:
    """One entry with its places' history, for a member of its territory.

    :raises NotFound: unknown, or of a territory where the actor has no role.
    """
    row = _row(session, actor, service_id)
    organisation = session.scalar(select(Organisation.name).where(
        Organisation.id == row.organisation_id)) or ""
    updated_by = session.scalar(select(User.display_name).where(
        User.id == row.updated_by_id)) if row.updated_by_id is not None else None
    return Service(row.id, row.territory_id, row.organisation_id, organisation, _entry(row),
                   row.active, row.updated_at, updated_by,
                   may_edit_service(actor, row.territory_id, row.organisation_id),
                   actor.is_coordinator(row.territory_id), _history(session, row.id))


def _history(session: Session, service_id: int) -> list[PlaceChange]:
    c = DirectoryPlaceChange
    rows = session.execute(
        select(c.at, User.display_name, c.before, c.after, c.comment)
        .outerjoin(User, User.id == c.user_id).where(c.service_id == service_id)
        .order_by(c.at.desc(), c.id.desc()).limit(50)).all()
    return [PlaceChange(at, who or "système", before, after, comment)
            for at, who, before, after, comment in rows]


def organisations_for(session: Session, actor: Actor, territory_id: int,
                      keep: int | None = None) -> list[tuple[int, str]]:
    """The organisations the actor may give an entry to: every active one of the territory
    for its coordination, else their own (``keep``: the entry's current one, always listed).

    :raises NotFound: the actor has no role in the territory.
    """
    require_member(actor, territory_id)
    query = select(Organisation.id, Organisation.name).where(
        Organisation.territory_id == territory_id, Organisation.active.is_(True))
    if not actor.is_coordinator(territory_id):
        own = sorted(actor.organisations.get(territory_id, frozenset()) | (
            {keep} if keep is not None else set()))
        query = query.where(Organisation.id.in_(own))
    return [(i, n) for i, n in session.execute(query.order_by(Organisation.name))]


def may_create(actor: Actor, territory_id: int) -> bool:
    """Coordination creates entries (and imports, exports, deactivates)."""
    return actor.is_coordinator(territory_id)


# --------------------------------------------------------------------------- writing


def create(session: Session, clock: Clock, actor: Actor, territory_id: int,
           entry: Entry) -> int:
    """Coordinator: add a service to the territory's directory; its id.

    :raises NotFound: the actor has no role in the territory.
    :raises PermissionDenied: the actor does not coordinate it.
    :raises EntryRefused: a value refused (which field, why).
    """
    audit.coordination_only(session, clock, actor, territory_id, "directory.refused", "create")
    with transaction(session):
        entry = _checked(session, actor, territory_id, entry, None)
        row = DirectoryService(territory_id=territory_id, created_at=clock.now(), active=True)
        _fill(session, clock, actor, row, entry)
        session.add(row)
        session.flush()
        if entry.places_available is not None:
            _place_change(session, clock, actor, row.id, None, entry.places_available,
                          "Création du service")
        audit.record(session, clock, actor, "directory.created", territory_id=territory_id,
                     service=row.id, name=row.name)
        return row.id


def update(session: Session, clock: Clock, actor: Actor, service_id: int,
           entry: Entry, comment: str = "") -> None:
    """Edit an entry: its coordination, or a person of the organisation running it (who
    cannot give it to another organisation). A change of places is kept in the history.

    :raises NotFound: unknown entry, or out of the actor's territories.
    :raises PermissionDenied: neither coordination nor of the organisation running it.
    :raises EntryRefused: a value refused.
    """
    with _refusals_audited(session, clock, actor, service_id, "update"), transaction(session):
        row = _row(session, actor, service_id, lock=True)
        require_service_editor(actor, row.territory_id, row.organisation_id)
        entry = _checked(session, actor, row.territory_id, entry, row.organisation_id)
        before = _entry(row)
        changed = sorted(k for k, v in asdict(entry).items() if asdict(before)[k] != v)
        if not changed:
            return
        if before.places_available != entry.places_available:
            _place_change(session, clock, actor, row.id, before.places_available,
                          entry.places_available, _comment(comment) or "Fiche modifiée")
        _fill(session, clock, actor, row, entry)
        audit.record(session, clock, actor, "directory.updated", territory_id=row.territory_id,
                     service=row.id, name=row.name, fields=changed)


def update_places(session: Session, clock: Clock, actor: Actor, service_id: int,
                  places: int, comment: str, waiting_list: int | None = None) -> None:
    """Set the places available now (and the waiting list), with a comment kept in the
    history: its coordination, or a person of the organisation running it.

    :raises NotFound: unknown entry, or out of the actor's territories.
    :raises PermissionDenied: neither coordination nor of the organisation running it.
    :raises EntryRefused: a number out of range, more places than the capacity, no comment
        or one too long.
    """
    with _refusals_audited(session, clock, actor, service_id, "places"), transaction(session):
        row = _row(session, actor, service_id, lock=True)
        require_service_editor(actor, row.territory_id, row.organisation_id)
        problems = _places_problems(places, row.capacity, waiting_list)
        if not comment.strip():
            problems.append(Problem("comment", "dir.required"))
        elif len(comment.strip()) > MAX_COMMENT:
            problems.append(Problem("comment", "dir.too_long", {"limit": MAX_COMMENT}))
        if problems:
            raise EntryRefused(problems)
        _place_change(session, clock, actor, row.id, row.places_available, places,
                      _comment(comment))
        before = row.places_available
        row.places_available, row.waiting_list = places, waiting_list
        row.updated_at, row.updated_by_id = clock.now(), actor.user_id
        audit.record(session, clock, actor, "directory.places", territory_id=row.territory_id,
                     service=row.id, name=row.name, before=before, after=places)


def take_place(session: Session, clock: Clock, actor: Actor, service_id: int,
               comment: str) -> bool:
    """One place fewer (an orientation accepted), kept in the history; False when no place
    was counted free (nothing changes: the caller decides, e.g. a waiting list). For the
    orientation records to come (issue #13, item 2): called inside their unit of work.

    :raises NotFound: unknown entry, or out of the actor's territories.
    :raises PermissionDenied: neither coordination nor of the organisation running it.
    """
    return _shift_places(session, clock, actor, service_id, -1, comment)


def give_back_place(session: Session, clock: Clock, actor: Actor, service_id: int,
                    comment: str) -> bool:
    """One place more (a support ended), never above the capacity; False when nothing
    changes.

    :raises NotFound: unknown entry, or out of the actor's territories.
    :raises PermissionDenied: neither coordination nor of the organisation running it.
    """
    return _shift_places(session, clock, actor, service_id, 1, comment)


def _shift_places(session: Session, clock: Clock, actor: Actor, service_id: int, delta: int,
                  comment: str) -> bool:
    with _refusals_audited(session, clock, actor, service_id, "places"), transaction(session):
        row = _row(session, actor, service_id, lock=True)
        require_service_editor(actor, row.territory_id, row.organisation_id)
        before = row.places_available
        if before is None:
            return False
        after = before + delta
        if after < 0 or (row.capacity is not None and after > row.capacity):
            return False
        _place_change(session, clock, actor, row.id, before, after, _comment(comment))
        row.places_available = after
        row.updated_at, row.updated_by_id = clock.now(), actor.user_id
        audit.record(session, clock, actor, "directory.places", territory_id=row.territory_id,
                     service=row.id, name=row.name, before=before, after=after)
        return True


def set_active(session: Session, clock: Clock, actor: Actor, service_id: int,
               active: bool) -> None:
    """Coordinator: deactivate an entry (it leaves the list, its history stays) or bring it
    back.

    :raises NotFound: unknown entry, or out of the actor's territories.
    :raises PermissionDenied: the actor does not coordinate its territory.
    """
    with _refusals_audited(session, clock, actor, service_id, "active"), transaction(session):
        row = _row(session, actor, service_id, lock=True)
        require_coordinator(actor, row.territory_id)
        if row.active == active:
            return
        row.active, row.updated_at, row.updated_by_id = active, clock.now(), actor.user_id
        audit.record(session, clock, actor,
                     "directory.reactivated" if active else "directory.deactivated",
                     territory_id=row.territory_id, service=row.id, name=row.name)


def refuse(session: Session, clock: Clock, actor: Actor, service_id: int,
           attempt: str) -> None:
    """Refuse, and audit, an attempt on an entry the actor reads but may not change (a page
    refused before the service is called).

    :raises NotFound: unknown entry, or out of the actor's territories.
    :raises PermissionDenied: always, else.
    """
    with _refusals_audited(session, clock, actor, service_id, attempt):
        row = _row(session, actor, service_id)
        require_service_editor(actor, row.territory_id, row.organisation_id)
        raise PermissionDenied(code="svc.directory_not_yours")


@contextmanager
def _refusals_audited(session: Session, clock: Clock, actor: Actor, service_id: int,
                      attempt: str) -> Iterator[None]:
    """Audit a refused attempt on an existing entry (after the rollback): who tried what."""
    try:
        yield
    except (NotFound, PermissionDenied):
        territory_id = session.scalar(select(DirectoryService.territory_id).where(
            DirectoryService.id == service_id))
        if territory_id is not None:
            with transaction(session):
                audit.record(session, clock, actor, "directory.refused",
                             territory_id=territory_id, service=service_id, attempt=attempt)
        raise


def _row(session: Session, actor: Actor, service_id: int,
         lock: bool = False) -> DirectoryService:
    query = select(DirectoryService).where(DirectoryService.id == service_id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None or not actor.is_member(row.territory_id):
        raise NotFound(code="svc.directory_entry_unknown")
    return row


def _entry(row: DirectoryService) -> Entry:
    return Entry(row.organisation_id, row.measure, row.name, row.description,
                 tuple(row.domains or ()), tuple(row.communes or ()), row.public, row.capacity,
                 row.places_available, row.waiting_list, row.phone, row.email, row.address,
                 row.hours_walk_in, row.hours_appointment, row.languages, row.charter_signed)


def _fill(session: Session, clock: Clock, actor: Actor, row: DirectoryService,
          entry: Entry) -> None:
    organisation = session.scalar(select(Organisation.name).where(
        Organisation.id == entry.organisation_id)) or ""
    for key, value in asdict(entry).items():
        setattr(row, key, list(value) if isinstance(value, tuple) else value)
    row.search_text = searchable(entry.name, entry.description, organisation, entry.measure)
    row.domain_tags = tags(list(entry.domains))
    row.commune_tags = tags(list(entry.communes))
    row.updated_at, row.updated_by_id = clock.now(), actor.user_id


def _place_change(session: Session, clock: Clock, actor: Actor, service_id: int,
                  before: int | None, after: int | None, comment: str) -> None:
    session.add(DirectoryPlaceChange(service_id=service_id, at=clock.now(),
                                     user_id=actor.user_id, before=before, after=after,
                                     comment=comment))


def _comment(text: str) -> str:
    return " ".join(text.split())[:MAX_COMMENT]


# --------------------------------------------------------------------------- checks

_TEXTS = (("name", MAX_NAME), ("description", MAX_DESCRIPTION), ("public", MAX_PUBLIC),
          ("phone", MAX_PHONE), ("email", MAX_EMAIL), ("address", MAX_CONTACT),
          ("hours_walk_in", MAX_HOURS), ("hours_appointment", MAX_HOURS),
          ("languages", MAX_LANGUAGES))


def problems_of(entry: Entry) -> list[Problem]:
    """Every refusal of an entry's own values (not its organisation: ``_checked``)."""
    problems: list[Problem] = []
    if not entry.name.strip():
        problems.append(Problem("name", "dir.required"))
    for name, limit in _TEXTS:
        if len(getattr(entry, name)) > limit:
            problems.append(Problem(name, "dir.too_long", {"limit": limit}))
    if entry.measure not in MEASURES:
        problems.append(Problem("measure", "dir.measure", {"value": entry.measure}))
    problems += [Problem("domains", "dir.domain", {"value": d}) for d in entry.domains
                 if d not in DOMAINS]
    if len(entry.communes) > MAX_COMMUNES:
        problems.append(Problem("communes", "dir.too_many", {"limit": MAX_COMMUNES}))
    if any(len(c) > MAX_COMMUNE for c in entry.communes):
        problems.append(Problem("communes", "dir.too_long", {"limit": MAX_COMMUNE}))
    return problems + _number_problems(entry) + _contact_problems(entry)


def _number_problems(entry: Entry) -> list[Problem]:
    problems = [Problem(name, "dir.range", {"minimum": 0, "maximum": MAX_PLACES})
                for name in ("capacity", "waiting_list")
                if getattr(entry, name) is not None
                and not 0 <= getattr(entry, name) <= MAX_PLACES]
    if entry.places_available is not None:
        problems += [p for p in _places_problems(entry.places_available, entry.capacity, None)
                     if p.name == "places_available"]
    return problems


def _contact_problems(entry: Entry) -> list[Problem]:
    problems: list[Problem] = []
    if entry.email and not EMAIL.fullmatch(entry.email):
        problems.append(Problem("email", "dir.email"))
    if entry.phone and not PHONE.fullmatch(entry.phone):
        problems.append(Problem("phone", "dir.phone"))
    return problems


def _places_problems(places: int, capacity: int | None,
                     waiting_list: int | None) -> list[Problem]:
    problems: list[Problem] = []
    if not 0 <= places <= MAX_PLACES:
        problems.append(Problem("places_available", "dir.range",
                                {"minimum": 0, "maximum": MAX_PLACES}))
    elif capacity is not None and places > capacity:
        problems.append(Problem("places_available", "dir.over_capacity"))
    if waiting_list is not None and not 0 <= waiting_list <= MAX_PLACES:
        problems.append(Problem("waiting_list", "dir.range",
                                {"minimum": 0, "maximum": MAX_PLACES}))
    return problems


def _cleaned(entry: Entry) -> Entry:
    """Spaces squeezed in one-line texts, communes and domains without duplicates."""
    def line(text: str) -> str:
        return " ".join(text.split())
    return replace(entry, name=line(entry.name), public=line(entry.public),
                   phone=line(entry.phone), email=line(entry.email),
                   address=line(entry.address), languages=line(entry.languages),
                   description=entry.description.strip(),
                   hours_walk_in=entry.hours_walk_in.strip(),
                   hours_appointment=entry.hours_appointment.strip(),
                   domains=tuple(dict.fromkeys(entry.domains)),
                   communes=tuple(dict.fromkeys(" ".join(c.split()) for c in entry.communes
                                                if c.strip())))


def _checked(session: Session, actor: Actor, territory_id: int, entry: Entry,
             current: int | None) -> Entry:
    """The entry cleaned, or every refusal at once (``EntryRefused``)."""
    entry = _cleaned(entry)
    problems = problems_of(entry)
    problems += _organisation_problems(session, actor, territory_id, entry.organisation_id,
                                       current)
    if problems:
        raise EntryRefused(problems)
    return entry


def _organisation_problems(session: Session, actor: Actor, territory_id: int,
                           organisation_id: int, current: int | None) -> list[Problem]:
    if current is not None and organisation_id == current:
        return []
    found = session.scalar(select(Organisation.id).where(
        Organisation.id == organisation_id, Organisation.territory_id == territory_id,
        Organisation.active.is_(True)))
    if found is None:
        return [Problem("organisation_id", "dir.organisation")]
    if not actor.is_coordinator(territory_id):
        return [Problem("organisation_id", "dir.organisation_not_yours")]
    return []
