"""The household's consent on a case: which part may read which data categories, for which
purpose, on what basis, until when; recorded on the case page or by a form answer, withdrawn
with a reason.

One row per (part, purpose, category) of a decision (``case_consent``); the rows of one
decision share who recorded it, when, on what basis. A withdrawal fills ``withdrawn_at``
(nothing is deleted), and the next request's ``access.case_view`` reads the table: it takes
effect at once. Every change is audited with keys only (``consent.given``,
``consent.withdrawn``); a refused attempt on a case of the territory is audited too
(``consent.refused``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core import consent as vocabulary
from engine.core.calendar import PARIS
from engine.core.forms import FormSpec
from engine.core.spiff.compiler import CompiledCircuit
from engine.core.spiff.runner import start_form
from engine.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engine.persistence.db import transaction
from engine.persistence.models import Case, CaseConsent, Territory, User
from engine.services import audit
from engine.services.access import Actor, View, case_view, may_record_consent

PAGE_SOURCE = "Page du dossier"
MAX_SOURCE = 300  # case_consent.source


@dataclass(frozen=True)
class Choice:
    """A key and its French label (a part, a purpose, a category, a basis)."""

    key: str
    label: str


@dataclass(frozen=True)
class Decision:
    """One decision of the household for one part: the categories it lets that part read
    for one purpose, on what basis, until when; withdrawn when, by whom, why."""

    part: Choice
    purpose: Choice
    categories: tuple[Choice, ...]
    basis: Choice
    witness: str | None
    source: str
    given_at: datetime
    valid_until: datetime | None  # the last instant (23:59:59 in Paris of the day chosen)
    recorded_by: str | None
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    withdraw_reason: str | None
    active: bool  # not withdrawn and not past its end


@dataclass(frozen=True)
class PartConsent:
    """Whether the household's consent currently covers a part of the case (any purpose)."""

    part: Choice
    given: bool


@dataclass(frozen=True)
class CaseConsents:
    """The consent section of a case page, as much of it as the reader may see."""

    case_id: int
    minimal: bool  # the reader sees only ``parts`` (whether consent exists per part)
    decisions: tuple[Decision, ...]  # current first, then past; empty for a minimal reader
    parts: tuple[PartConsent, ...]  # the territory's parts, in the order of its file
    can_record: bool  # the reader may record and withdraw consent
    purposes: tuple[Choice, ...]
    categories: tuple[Choice, ...]
    bases: tuple[Choice, ...]  # those a person records on the page (not « form »)

    def active_parts(self) -> list[Choice]:
        """Parts with a consent in force (what the « Retirer » buttons offer)."""
        return [p.part for p in self.parts if p.given]


def _choices(labels: Mapping[str, str]) -> tuple[Choice, ...]:
    return tuple(Choice(k, v) for k, v in labels.items())


def _parts(session: Session, territory_id: int) -> dict[str, str]:
    territory = session.get(Territory, territory_id)
    return {p["key"]: p["label"] for p in (territory.parts or [])} if territory else {}


def _case(session: Session, actor: Actor, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None or not actor.is_member(case.territory_id):
        raise NotFound(code="svc.case_not_found")
    return case


def of_case(session: Session, clock: Clock, actor: Actor, case_id: int,
            view: View | None = None) -> CaseConsents:
    """The consent decisions of a case, current first (newest first within each), readable by
    whoever reads the case; a reader of the minimal view learns only whether consent exists
    per part. ``view``: the reader's ``access.case_view`` when the caller has decided it.

    :raises NotFound: unknown case, or out of the actor's reach.
    """
    case = _case(session, actor, case_id)
    now = clock.now()
    allowed = may_record_consent(session, actor, case.id, case.territory_id, case.referent_id)
    minimal = not allowed and (view or case_view(session, actor, case.id, case.territory_id,
                                                 now)).minimal
    labels = _parts(session, case.territory_id)
    rows = list(session.scalars(select(CaseConsent).where(CaseConsent.case_id == case.id)
                                .order_by(CaseConsent.given_at, CaseConsent.id)))
    live = {r.part for r in rows if _active(r, now)}
    parts = tuple(PartConsent(Choice(k, v), k in live) for k, v in labels.items())
    decisions = () if minimal else tuple(_decisions(session, rows, labels, now))
    bases = {k: v for k, v in vocabulary.BASES.items() if k != "form"}
    return CaseConsents(case.id, minimal, decisions, parts, allowed,
                        _choices(vocabulary.PURPOSES), _choices(vocabulary.CATEGORIES),
                        _choices(bases))


def _active(row: CaseConsent, now: datetime) -> bool:
    return (row.withdrawn_at is None and row.given_at <= now
            and (row.valid_until is None or row.valid_until > now))


def _decisions(session: Session, rows: list[CaseConsent], labels: Mapping[str, str],
               now: datetime) -> Iterator[Decision]:
    ids = sorted({i for r in rows for i in (r.recorded_by_id, r.withdrawn_by_id)
                  if i is not None})
    people: dict[int, str] = {uid: name for uid, name in session.execute(
        select(User.id, User.display_name).where(User.id.in_(ids)))} if ids else {}
    grouped: dict[tuple[Any, ...], list[CaseConsent]] = {}
    for r in rows:
        key = (r.part, r.purpose, r.basis, r.witness, r.source, r.given_at, r.valid_until,
               r.recorded_by_id, r.withdrawn_at, r.withdrawn_by_id, r.withdraw_reason)
        grouped.setdefault(key, []).append(r)
    order = list(vocabulary.CATEGORIES)
    found = []
    for group in grouped.values():
        r = group[0]
        categories = sorted({g.category for g in group},
                            key=lambda c: order.index(c) if c in order else len(order))
        found.append(Decision(
            part=Choice(r.part, labels.get(r.part, r.part)),
            purpose=Choice(r.purpose, vocabulary.PURPOSES.get(r.purpose, r.purpose)),
            categories=tuple(Choice(c, vocabulary.CATEGORIES.get(c, c)) for c in categories),
            basis=Choice(r.basis, vocabulary.BASES.get(r.basis, r.basis)),
            witness=r.witness, source=r.source, given_at=r.given_at, valid_until=r.valid_until,
            recorded_by=people.get(r.recorded_by_id) if r.recorded_by_id else None,
            withdrawn_at=r.withdrawn_at,
            withdrawn_by=people.get(r.withdrawn_by_id) if r.withdrawn_by_id else None,
            withdraw_reason=r.withdraw_reason, active=_active(r, now)))
    part_order = list(labels)
    found.sort(key=lambda d: d.given_at, reverse=True)
    found.sort(key=lambda d: (not d.active, part_order.index(d.part.key)
                              if d.part.key in part_order else len(part_order)))
    yield from found


@contextmanager
def _refusals_audited(session: Session, clock: Clock, actor: Actor, case_id: int,
                      attempt: str) -> Iterator[None]:
    """Audit a refused attempt on an existing case (after the rollback): who tried what."""
    try:
        yield
    except (NotFound, PermissionDenied):
        territory_id = session.scalar(select(Case.territory_id).where(Case.id == case_id))
        if territory_id is not None:
            with transaction(session):
                audit.record(session, clock, actor, "consent.refused",
                             territory_id=territory_id, case_id=case_id, attempt=attempt)
        raise


def _allowed(session: Session, clock: Clock, actor: Actor, case: Case) -> None:
    """:raises NotFound: out of reach. :raises PermissionDenied: reads it, may not record."""
    if may_record_consent(session, actor, case.id, case.territory_id, case.referent_id):
        return
    case_view(session, actor, case.id, case.territory_id, clock.now())  # NotFound if out of reach
    raise PermissionDenied(code="svc.consent_not_allowed")


def record(session: Session, clock: Clock, actor: Actor, case_id: int, parts: Iterable[str],
           purpose: str, categories: Iterable[str], basis: str, witness: str | None = None,
           valid_until: date | None = None, source: str = PAGE_SOURCE) -> int:
    """Record the household's consent: one row per part and category, for one purpose.
    Return the number of rows written.

    Who may: the territory's coordination, the case's référent·e, the people of the
    organisation that referred the case.

    :raises NotFound: unknown case, or out of the actor's reach.
    :raises PermissionDenied: the actor reads the case but may not record consent.
    :raises InvalidInput: no part, or one the territory does not declare; an unknown purpose,
        category or basis; no witness for an oral consent, or one too long; an end date past.
    """
    parts, categories = list(dict.fromkeys(parts)), list(dict.fromkeys(categories))
    witness = (witness or "").strip() or None
    with _refusals_audited(session, clock, actor, case_id, "record"), transaction(session):
        case = _case(session, actor, case_id)
        _allowed(session, clock, actor, case)
        _check(session, case, parts, purpose, categories, basis, witness)
        until = _end_of(valid_until, clock.now())
        source = (source or PAGE_SOURCE)[:MAX_SOURCE]
        now = clock.now()
        for part in parts:
            for category in categories:
                session.add(CaseConsent(
                    case_id=case.id, part=part, purpose=purpose, category=category,
                    basis=basis, witness=witness, source=source, given_at=now,
                    valid_until=until, recorded_by_id=actor.user_id))
        audit.record(session, clock, actor, "consent.given", territory_id=case.territory_id,
                     case_id=case.id, parts=parts, purpose=purpose, categories=categories,
                     basis=basis, until=valid_until.isoformat() if valid_until else None)
    return len(parts) * len(categories)


def _check(session: Session, case: Case, parts: list[str], purpose: str,
           categories: list[str], basis: str, witness: str | None) -> None:
    declared = _parts(session, case.territory_id)
    unknown = [p for p in parts if p not in declared]
    if not parts or unknown:
        raise InvalidInput(code="svc.consent_part_unknown",
                           part=", ".join(unknown) or "—",
                           parts=", ".join(declared.values()) or "aucune")
    if purpose not in vocabulary.PURPOSES:
        raise InvalidInput(code="svc.consent_purpose_unknown",
                           purposes=", ".join(vocabulary.PURPOSES.values()))
    if not categories or any(c not in vocabulary.CATEGORIES for c in categories):
        raise InvalidInput(code="svc.consent_category_unknown",
                           categories=", ".join(vocabulary.CATEGORIES.values()))
    if basis not in vocabulary.BASES or basis == "form":
        raise InvalidInput(code="svc.consent_basis_unknown")
    if basis == "oral" and not witness:
        raise InvalidInput(code="svc.consent_witness_required")
    if witness is not None and len(witness) > vocabulary.MAX_WITNESS:
        raise InvalidInput(code="svc.consent_witness_too_long", maximum=vocabulary.MAX_WITNESS)


def _end_of(day: date | None, now: datetime) -> datetime | None:
    """The last instant of ``day`` in Paris, in UTC (None: no end).

    :raises InvalidInput: that instant is already past.
    """
    if day is None:
        return None
    end = datetime.combine(day, time(23, 59, 59), tzinfo=PARIS).astimezone(UTC)
    if end <= now:
        raise InvalidInput(code="svc.consent_until_past")
    return end


def withdraw(session: Session, clock: Clock, actor: Actor, case_id: int, part: str,
             reason: str, purpose: str | None = None) -> int:
    """Withdraw the consent in force for a part of the case (for one purpose, or all of
    them), with a reason; return the number of rows withdrawn. The next request of that
    part's people reads the case without those categories.

    :raises NotFound: unknown case, or out of the actor's reach.
    :raises PermissionDenied: the actor reads the case but may not withdraw consent.
    :raises InvalidInput: no reason, or one too long; an unknown part or purpose.
    :raises Conflict: nothing in force for that part (and purpose): a stale page.
    """
    reason = (reason or "").strip()
    with _refusals_audited(session, clock, actor, case_id, "withdraw"), transaction(session):
        case = _case(session, actor, case_id)
        _allowed(session, clock, actor, case)
        if part not in _parts(session, case.territory_id):
            raise InvalidInput(code="svc.consent_part_unknown", part=part,
                               parts=", ".join(_parts(session, case.territory_id).values())
                               or "aucune")
        if purpose is not None and purpose not in vocabulary.PURPOSES:
            raise InvalidInput(code="svc.consent_purpose_unknown",
                               purposes=", ".join(vocabulary.PURPOSES.values()))
        if not reason:
            raise InvalidInput(code="svc.consent_reason_required")
        if len(reason) > vocabulary.MAX_REASON:
            raise InvalidInput(code="svc.reason_too_long", maximum=vocabulary.MAX_REASON)
        count = _withdraw(session, clock, actor, case, [part],
                          [purpose] if purpose else None, None, reason)
        if not count:
            raise Conflict(code="svc.consent_none_active")
    return count


def _withdraw(session: Session, clock: Clock, actor: Actor, case: Case, parts: list[str],
              purposes: list[str] | None, categories: list[str] | None, reason: str) -> int:
    """Withdraw the rows in force of ``parts`` (of those purposes and categories if given),
    audited; return how many."""
    now = clock.now()
    where = [CaseConsent.case_id == case.id, CaseConsent.part.in_(parts),
             CaseConsent.withdrawn_at.is_(None), CaseConsent.given_at <= now,
             (CaseConsent.valid_until.is_(None)) | (CaseConsent.valid_until > now)]
    if purposes is not None:
        where.append(CaseConsent.purpose.in_(purposes))
    if categories is not None:
        where.append(CaseConsent.category.in_(categories))
    result = session.execute(
        update(CaseConsent).where(*where).values(
            withdrawn_at=now, withdrawn_by_id=actor.user_id,
            withdraw_reason=reason[:vocabulary.MAX_REASON])
        .execution_options(synchronize_session=False))
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        audit.record(session, clock, actor, "consent.withdrawn",
                     territory_id=case.territory_id, case_id=case.id, parts=parts,
                     purpose=purposes[0] if purposes and len(purposes) == 1 else None,
                     categories=categories, rows=count)
    return count


def from_answers(session: Session, clock: Clock, actor: Actor, case: Case,
                 form: FormSpec | None, data: Mapping[str, Any], step: str) -> None:
    """Record or withdraw the consent a completed form's answers say (inside the caller's
    unit of work): a consent field answered « oui » grants its parts its categories for its
    purpose (rows already in force are kept as they are), « non » withdraws them. A part the
    territory does not declare is skipped (the circuit is shared by territories that may not
    all have it)."""
    fields = form.consent_fields() if form is not None else []
    if not fields:
        return
    declared = _parts(session, case.territory_id)
    now = clock.now()
    source = f"Étape « {step} »"[:MAX_SOURCE]
    for spec in fields:
        answer, grant = data.get(spec.name), spec.consent
        if grant is None or not isinstance(answer, bool):
            continue
        parts = [p for p in grant.parts if p in declared]
        if not parts:
            continue
        if answer is False:
            _withdraw(session, clock, actor, case, parts, [grant.purpose],
                      list(grant.categories), f"Réponse « non » à l'étape « {step} »")
            continue
        held = {(p, c) for p, c in session.execute(select(
            CaseConsent.part, CaseConsent.category).where(
            CaseConsent.case_id == case.id, CaseConsent.purpose == grant.purpose,
            CaseConsent.part.in_(parts), CaseConsent.withdrawn_at.is_(None),
            CaseConsent.given_at <= now,
            (CaseConsent.valid_until.is_(None)) | (CaseConsent.valid_until > now)))}
        added = [(p, c) for p in parts for c in grant.categories if (p, c) not in held]
        for part, category in added:
            session.add(CaseConsent(case_id=case.id, part=part, purpose=grant.purpose,
                                    category=category, basis="form", witness=None,
                                    source=source, given_at=now, valid_until=None,
                                    recorded_by_id=actor.user_id))
        if added:
            audit.record(session, clock, actor, "consent.given",
                         territory_id=case.territory_id, case_id=case.id,
                         parts=sorted({p for p, _ in added}), purpose=grant.purpose,
                         categories=sorted({c for _, c in added}), basis="form",
                         field=spec.name)
    session.flush()


def from_start(session: Session, clock: Clock, actor: Actor, case: Case,
               circuit: CompiledCircuit, data: Mapping[str, Any]) -> None:
    """``from_answers`` for the start form of a new case (the saisine may collect consent)."""
    form = start_form(circuit)
    if form is not None and form.consent_fields():
        from_answers(session, clock, actor, case, form, data, form.title or "Saisine")
