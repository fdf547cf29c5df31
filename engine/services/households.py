"""Households across circuits: one record per household linking its cases, likely duplicates
flagged when a case is opened, merged (or dismissed) by a coordinator.

A case's household is read from its start form (``nom_menage``, ``annee_naissance``,
``commune``: ``engine.core.household``). Every new case gets a record of its own; the
territory's unmerged records of the same commune (or none) and the same birth year (or
none) whose names are alike (``household.THRESHOLD``) are flagged as likely the same
household, for its coordination to merge or dismiss. Merging keeps the older record and
moves the newer one's cases to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core import household as core
from engine.core.consent import DEFAULT_CATEGORY
from engine.core.directory import MEASURES
from engine.core.orientation import STATES
from engine.errors import Conflict, FormInvalid, NotFound
from engine.persistence.db import transaction
from engine.persistence.models import Case, Circuit, Household, HouseholdMatch, Organisation
from engine.persistence.models.orientation import Orientation
from engine.services import audit
from engine.services.access import (
    Actor,
    View,
    case_scope,
    case_view,
    name_shown,
    require_coordinator,
)
from engine.services.results import Page

OPEN, MERGED, DISMISSED = "open", "merged", "dismissed"
CANDIDATES = 500  # records read per candidate query when a case is opened
MATCHES_PER_HOUSEHOLD = 3  # likely duplicates recorded for one new record, best first
MAX_CASES = 50  # cases a household page or panel lists
PER_PAGE = 20  # likely duplicates per page
VERY_LIKELY = core.VERY_LIKELY  # « très probable » from this score on
MAX_ROW_ID = 2**31 - 1  # the tables' integer keys (PostgreSQL refuses to compare past it)


@dataclass(frozen=True)
class HouseholdCase:
    """One case of a household, as its panel lists it."""

    id: int
    reference: str
    circuit: str
    status: str
    created_at: datetime
    orientations: tuple[str, ...] = ()  # « AVDL — Association X : Acceptée »


@dataclass(frozen=True)
class HouseholdPanel:
    """The household of a case: its other cases the reader may see, and (for coordination)
    its likely duplicates."""

    id: int
    cases: tuple[HouseholdCase, ...]
    duplicates: int = 0  # open likely duplicates (coordination only)


@dataclass(frozen=True)
class HouseholdPage:
    """A household's page: its cases the reader may see; its name, birth year and commune
    only where the reader may know the name of one of them (``access.name_shown``)."""

    id: int
    territory_id: int
    name: str | None
    birth_year: int | None
    commune: str
    cases: tuple[HouseholdCase, ...]
    duplicates: int = 0  # open likely duplicates (coordination only)
    coordinated: bool = False  # the reader coordinates the territory (exports, corrections)


@dataclass(frozen=True)
class Side:
    """One of the two records of a likely duplicate, as coordination compares them."""

    id: int
    name: str
    birth_year: int | None
    commune: str
    created_at: datetime
    cases: tuple[tuple[int, str, str], ...]  # (case id, reference, circuit title)


@dataclass(frozen=True)
class Duplicate:
    """Two records that are likely the same household: the newer and the older one."""

    id: int
    score: int
    likeness: str  # « très probable » / « probable »
    found_at: datetime
    newer: Side
    older: Side


@dataclass(frozen=True)
class Merged:
    """What a merge did: the record kept and how many cases moved to it."""

    kept_id: int
    moved: int


# --------------------------------------------------------------------------- opening a case


def attach(session: Session, clock: Clock, actor: Actor, case: Case,
           data: Mapping[str, Any]) -> None:
    """Give a new case its household record and flag likely duplicates (caller's unit of
    work).

    :raises FormInvalid: a birth year after this year.
    """
    now = clock.now()
    year = core.birth_year(data, now.year)
    if year is None and data.get(core.BIRTH_YEAR_FIELD) not in (None, ""):
        raise FormInvalid({core.BIRTH_YEAR_FIELD: [
            f"Année de naissance entre {core.MIN_YEAR} et {now.year} attendue."]})
    commune = core.commune_of(data)
    record = Household(territory_id=case.territory_id, name=case.household_name[:core.MAX_NAME],
                       name_key=core.name_key(case.household_name), birth_year=year,
                       commune=commune, commune_key=core.commune_key(commune), created_at=now)
    session.add(record)
    session.flush()
    case.household_id = record.id
    found = _likely(session, record)
    for other_id, score in found:
        session.add(HouseholdMatch(territory_id=record.territory_id, household_id=record.id,
                                   other_id=other_id, score=score, status=OPEN, found_at=now))
    if found:  # without names: the records' ids and scores only
        audit.record(session, clock, actor, "household.duplicates_found",
                     territory_id=record.territory_id, case=case.id, household=record.id,
                     others=[o for o, _ in found], scores=[s for _, s in found])


def _likely(session: Session, record: Household) -> list[tuple[int, int]]:
    """The territory's unmerged records likely the same as ``record``: (id, score), best
    first. Candidates are read on the indexes, bounded: names starting as the key does
    (``ix_household_name``: a swapped first name sorts the same), and, when both are known,
    the same commune and birth year (``ix_household_match``: a typo anywhere)."""
    if not record.name_key:
        return []
    columns = (Household.id, Household.name_key, Household.birth_year, Household.commune_key)
    base = select(*columns).where(Household.territory_id == record.territory_id,
                                  Household.merged_into_id.is_(None), Household.id != record.id)
    prefix = record.name_key.split()[0][:3]
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    queries = [base.where(Household.name_key >= prefix, Household.name_key < upper)
               .order_by(Household.name_key).limit(CANDIDATES)]
    if record.commune_key and record.birth_year is not None:
        queries.append(base.where(Household.commune_key == record.commune_key,
                                  Household.birth_year == record.birth_year)
                       .order_by(Household.id.desc()).limit(CANDIDATES))
    scored: dict[int, int] = {}
    for query in queries:
        for hid, key, year, commune in session.execute(query):
            if hid in scored or not core.compatible(record.birth_year, year,
                                                    record.commune_key, commune):
                continue
            score = core.likeness(record.name_key, key)
            if score >= core.THRESHOLD:
                scored[hid] = score
    best = sorted(scored.items(), key=lambda item: (-item[1], -item[0]))
    return best[:MATCHES_PER_HOUSEHOLD]


def found_for(session: Session, clock: Clock, actor: Actor, case_id: int) -> int:
    """For coordination, right after opening a case: how many likely duplicates its household
    has (0 for anyone else)."""
    row = session.execute(select(Case.territory_id, Case.household_id)
                          .where(Case.id == case_id)).first()
    if row is None or row.household_id is None or not actor.is_coordinator(row.territory_id):
        return 0
    return _open_count(session, row.household_id)


def _open_count(session: Session, household_id: int) -> int:
    return session.scalar(select(func.count()).select_from(HouseholdMatch).where(
        HouseholdMatch.status == OPEN, or_(HouseholdMatch.household_id == household_id,
                                           HouseholdMatch.other_id == household_id))) or 0


# --------------------------------------------------------------------------- reading


def of_case(session: Session, clock: Clock, actor: Actor, case_id: int,
            view: View | None = None) -> HouseholdPanel | None:
    """The case's household panel, or None when there is nothing to show (no household, no
    other case the reader may see, no likely duplicate; or the reader's minimal view).
    ``view``: the reader's ``access.case_view`` when the caller has decided it.

    :raises NotFound: the case is out of the actor's reach.
    """
    case = session.get(Case, case_id)
    if case is None or not actor.is_member(case.territory_id):
        raise NotFound(code="svc.case_not_found")
    if case.household_id is None:
        return None
    if (view or case_view(session, actor, case_id, case.territory_id, clock.now())).minimal:
        return None  # the minimal view is the reference, the status and the steps only
    others = tuple(c for c in _cases(session, clock, actor, case.household_id,
                                     case.territory_id) if c.id != case_id)
    duplicates = _open_count(session, case.household_id) \
        if actor.is_coordinator(case.territory_id) else 0
    if not others and not duplicates:
        return None
    return HouseholdPanel(case.household_id, others, duplicates)


def get(session: Session, clock: Clock, actor: Actor, household_id: int) -> HouseholdPage:
    """A household's page (a merged record shows the record it was merged into).

    :raises NotFound: unknown record, or none of its cases is within the reader's reach.
    """
    record = session.get(Household, household_id) if household_id <= MAX_ROW_ID else None
    if record is not None and record.merged_into_id is not None:
        record = session.get(Household, record.merged_into_id)
    if record is None or not actor.is_member(record.territory_id):
        raise NotFound(code="svc.household_not_found")
    listed = _cases(session, clock, actor, record.id, record.territory_id)
    if not listed:
        raise NotFound(code="svc.household_not_found")
    coordinates = actor.is_coordinator(record.territory_id)
    named = coordinates or bool(session.scalar(select(exists().where(
        Case.household_id == record.id,
        name_shown(actor, record.territory_id, Case.id, clock.now())))))
    return HouseholdPage(record.id, record.territory_id, record.name if named else None,
                         record.birth_year if named else None,
                         record.commune if named else "", listed,
                         _open_count(session, record.id) if coordinates else 0, coordinates)


def _cases(session: Session, clock: Clock, actor: Actor, household_id: int,
           territory_id: int) -> tuple[HouseholdCase, ...]:
    """The household's cases the reader may find in a list (``access.case_scope``), oldest
    first, with their orientations where the reader reads the case's social assessment."""
    rows = session.execute(
        select(Case.id, Case.reference, Circuit.title, Case.status, Case.created_at)
        .join(Circuit, Circuit.id == Case.circuit_id)
        # « + 0 »: SQLite, without statistics, would read the territory's listing index for
        # its order, every case of the territory (1 s at 100k cases), not the household's few
        .where(Case.household_id == household_id, Case.territory_id + 0 == territory_id,
               case_scope(actor, territory_id, Case.id))
        .order_by(Case.created_at, Case.id).limit(MAX_CASES)).all()
    oriented = _orientations(session, [r.id for r in rows])
    if not actor.is_coordinator(territory_id):
        now = clock.now()
        # an orientation says much of a situation (a health partner...): as the case's data
        oriented = {cid: lines for cid, lines in oriented.items() if case_view(
            session, actor, cid, territory_id, now).sees(DEFAULT_CATEGORY)}
    return tuple(HouseholdCase(r.id, r.reference, r.title, r.status, r.created_at,
                               tuple(oriented.get(r.id, ()))) for r in rows)


def _orientations(session: Session, case_ids: list[int]) -> dict[int, list[str]]:
    """Case id → its orientations as lines (« measure — organisation : state »), oldest
    first."""
    out: dict[int, list[str]] = {}
    if not case_ids:
        return out
    rows = session.execute(
        select(Orientation.case_id, Orientation.measure, Orientation.state, Organisation.name)
        .join(Organisation, Organisation.id == Orientation.organisation_id)
        .where(Orientation.case_id.in_(case_ids)).order_by(Orientation.id))
    for cid, measure, state, organisation in rows:
        out.setdefault(cid, []).append(
            f"{MEASURES.get(measure, measure)} — {organisation} : {STATES.get(state, state)}")
    return out


def duplicates(session: Session, clock: Clock, actor: Actor, territory_id: int,
               page: int = 1) -> Page[Duplicate]:
    """The territory's open likely duplicates, newest first, side by side (coordination).

    :raises NotFound: no role in the territory.
    :raises PermissionDenied: not its coordination.
    """
    require_coordinator(actor, territory_id)
    where = and_(HouseholdMatch.territory_id == territory_id, HouseholdMatch.status == OPEN)
    total = session.scalar(select(func.count()).select_from(HouseholdMatch).where(where)) or 0
    page = max(1, page)
    matches = list(session.scalars(select(HouseholdMatch).where(where)
                                   .order_by(HouseholdMatch.found_at.desc(),
                                             HouseholdMatch.id.desc())
                                   .limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
    sides = _sides(session, {i for m in matches for i in (m.household_id, m.other_id)})
    items = [Duplicate(m.id, m.score, core.degree(m.score), m.found_at,
                       sides[m.household_id], sides[m.other_id]) for m in matches]
    return Page(items, total, page, PER_PAGE)


def _sides(session: Session, ids: Iterable[int]) -> dict[int, Side]:
    wanted = sorted(ids)
    if not wanted:
        return {}
    cases: dict[int, list[tuple[int, str, str]]] = {}
    for hid, cid, reference, title in session.execute(
            select(Case.household_id, Case.id, Case.reference, Circuit.title)
            .join(Circuit, Circuit.id == Case.circuit_id)
            .where(Case.household_id.in_(wanted)).order_by(Case.created_at, Case.id)):
        if hid is not None:
            cases.setdefault(hid, []).append((cid, reference, title))
    return {h.id: Side(h.id, h.name, h.birth_year, h.commune, h.created_at,
                       tuple(cases.get(h.id, [])[:MAX_CASES]))
            for h in session.scalars(select(Household).where(Household.id.in_(wanted)))}


# --------------------------------------------------------------------------- deciding


def merge(session: Session, clock: Clock, actor: Actor, match_id: int) -> Merged:
    """Coordination: the two records are the same household. The older record is kept; the
    newer one's cases move to it, it points to it, and its other open likely duplicates are
    re-pointed to the kept record (or closed when they now pair it with itself or repeat an
    open pair). One unit of work, audited.

    :raises NotFound: unknown likely duplicate, or of a territory the actor has no role in.
    :raises PermissionDenied: not its coordination.
    :raises Conflict: already merged or dismissed.
    """
    with transaction(session):
        match, newer, older = _decidable(session, actor, match_id)
        now = clock.now()
        result = session.execute(update(Case).where(Case.household_id == newer.id)
                                 .values(household_id=older.id))
        moved = int(getattr(result, "rowcount", 0) or 0)
        session.execute(update(Household).where(Household.merged_into_id == newer.id)
                        .values(merged_into_id=older.id))
        newer.merged_into_id, newer.merged_at, newer.merged_by_id = older.id, now, actor.user_id
        match.status, match.decided_at, match.decided_by_id = MERGED, now, actor.user_id
        session.flush()
        closed = _repoint(session, clock, actor, newer.id, older.id)
        audit.record(session, clock, actor, "household.merge", territory_id=match.territory_id,
                     match=match.id, kept=older.id, merged=newer.id, cases=moved,
                     closed=closed)
        return Merged(older.id, moved)


def dismiss(session: Session, clock: Clock, actor: Actor, match_id: int) -> None:
    """Coordination: « ce ne sont pas les mêmes ménages ». Audited.

    :raises NotFound: unknown likely duplicate, or of a territory the actor has no role in.
    :raises PermissionDenied: not its coordination.
    :raises Conflict: already merged or dismissed.
    """
    with transaction(session):
        match, _, _ = _decidable(session, actor, match_id)
        match.status, match.decided_at, match.decided_by_id = DISMISSED, clock.now(), \
            actor.user_id
        audit.record(session, clock, actor, "household.dismiss",
                     territory_id=match.territory_id, match=match.id,
                     households=[match.household_id, match.other_id])


def _decidable(session: Session, actor: Actor,
               match_id: int) -> tuple[HouseholdMatch, Household, Household]:
    """The open match and its two records (newer, older), locked: the records first, in id
    order (two merges of one record wait for each other), then the match, read again."""
    match = session.get(HouseholdMatch, match_id) if match_id <= MAX_ROW_ID else None
    if match is None:
        raise NotFound(code="svc.household_match_not_found")
    require_coordinator(actor, match.territory_id)
    pair = sorted((match.household_id, match.other_id))
    locked = {h.id: h for h in session.scalars(
        select(Household).where(Household.id.in_(pair)).order_by(Household.id)
        .with_for_update().execution_options(populate_existing=True))}
    match = session.scalars(select(HouseholdMatch).where(HouseholdMatch.id == match_id)
                            .with_for_update().execution_options(populate_existing=True)).one()
    if match.status != OPEN:
        raise Conflict(code="svc.household_match_decided")
    if sorted((match.household_id, match.other_id)) != pair or any(
            h.merged_into_id is not None for h in locked.values()):
        raise Conflict(code="svc.household_match_changed")  # another merge moved it meanwhile
    first, second = (locked[i] for i in pair)
    older, newer = sorted((first, second), key=lambda h: (h.created_at, h.id))
    return match, newer, older


def _repoint(session: Session, clock: Clock, actor: Actor, merged: int, kept: int) -> int:
    """The merged record's other open likely duplicates now concern the kept one; those that
    would pair it with itself, or repeat an open pair, are closed. Their count closed."""
    closed = 0
    open_pairs = {frozenset((m.household_id, m.other_id)) for m in session.scalars(
        select(HouseholdMatch).where(HouseholdMatch.status == OPEN, or_(
            HouseholdMatch.household_id == kept, HouseholdMatch.other_id == kept)))}
    for match in session.scalars(select(HouseholdMatch).where(
            HouseholdMatch.status == OPEN, or_(HouseholdMatch.household_id == merged,
                                               HouseholdMatch.other_id == merged))
            .order_by(HouseholdMatch.id).with_for_update()):
        third = match.other_id if match.household_id == merged else match.household_id
        pair = frozenset((kept, third))
        if third == kept or pair in open_pairs:
            match.status, match.decided_at, match.decided_by_id = MERGED, clock.now(), \
                actor.user_id
            closed += 1
            continue
        open_pairs.add(pair)
        # the newer record of the pair stays ``household_id``, the older ``other_id``
        older, newer = sorted(session.scalars(select(Household).where(
            Household.id.in_(sorted(pair)))), key=lambda h: (h.created_at, h.id))
        match.household_id, match.other_id = newer.id, older.id
    return closed

