"""Record the answers the statistics count (``case_fact``), as a form is submitted.

A form field marked ``"x-aiguillage-statistic": "<kind>"`` (``engine.core.statistics.KINDS``)
leaves one fact per value: the entry route of a request, each need found (with what the
territory's directory offered for it then: a service with places, only full ones, or none),
each need a commission reported unmet, each stage an eviction procedure reached. A new
answer on the entry route or the needs replaces the case's earlier one; stages add up (the
statistics take the furthest reached). Forms without the keyword cost nothing: no query.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.directory import DOMAINS, SEPARATOR
from engine.core.forms import FieldSpec, FormSpec
from engine.core.statistics import (
    ANSWERED,
    ENTRY_ROUTE,
    EVICTION_STAGE,
    MAX_LABEL,
    MAX_VALUE,
    NEED,
    NO_PLACE,
    NO_SERVICE,
    REPORTED,
    STATISTIC_KEYWORD,
    UNMET_NEED,
    StatisticSpecError,
    kind_of,
)
from engine.persistence.models import Case, CaseFact, DirectoryService

REPLACED = frozenset({ENTRY_ROUTE, NEED, UNMET_NEED})  # the latest answer is the case's


def marked(form: FormSpec | None) -> list[tuple[FieldSpec, str]]:
    """The form's top-level fields the statistics count, with their kind (an unknown kind
    is ignored: the form stays usable)."""
    if form is None:
        return []
    properties = form.schema.get("properties", {}) if isinstance(form.schema, dict) else {}
    found = []
    for spec in form.fields:
        prop = properties.get(spec.name)
        if not isinstance(prop, dict) or STATISTIC_KEYWORD not in prop:
            continue
        try:
            kind = kind_of(prop[STATISTIC_KEYWORD])
        except StatisticSpecError:
            continue
        if kind is not None:
            found.append((spec, kind))
    return found


def record(session: Session, clock: Clock, case: Case, form: FormSpec | None,
           data: Mapping[str, Any]) -> int:
    """Store the facts a submitted form's answers give (in the caller's unit of work);
    return how many."""
    fields = marked(form)
    if not fields:
        return 0
    now, added = clock.now(), 0
    for spec, kind in fields:
        if spec.name not in data:
            continue
        values = _values(spec, kind, data.get(spec.name))
        if kind in REPLACED:
            session.execute(delete(CaseFact).where(CaseFact.case_id == case.id,
                                                   CaseFact.kind == kind))
        choices = {str(c.value): c.label for c in spec.choices}
        if kind == EVICTION_STAGE:
            order = {str(c.value): i for i, c in enumerate(spec.choices)}
        for value in values:
            detail = _met(session, case.territory_id, value) if kind == NEED else \
                REPORTED if kind == UNMET_NEED else \
                f"{order.get(value, 99):02d}" if kind == EVICTION_STAGE else ""
            label = DOMAINS.get(value) if kind in (NEED, UNMET_NEED) else None
            session.add(CaseFact(territory_id=case.territory_id, case_id=case.id, kind=kind,
                                 value=value[:MAX_VALUE],
                                 label=(label or choices.get(value) or value)[:MAX_LABEL],
                                 detail=detail, recorded_at=now))
            added += 1
    return added


def _values(spec: FieldSpec, kind: str, answer: Any) -> list[str]:
    """The answer's codes (needs: the directory's domain keys; unknown ones left out)."""
    items = answer if isinstance(answer, list) else [] if answer in (None, "") else [answer]
    codes = list(dict.fromkeys(str(v).strip() for v in items if str(v).strip()))
    if kind in (NEED, UNMET_NEED):
        return [c for c in dict.fromkeys(v.lower() for v in codes) if c in DOMAINS]
    return codes


def _met(session: Session, territory_id: int, domain: str) -> str:
    """What the directory offers a need now: ``servi`` (an active service of the domain
    with a free place or places not counted), ``sans_place`` (only full ones), or
    ``sans_service``."""
    places = list(session.scalars(select(DirectoryService.places_available).where(
        DirectoryService.territory_id == territory_id, DirectoryService.active.is_(True),
        DirectoryService.domain_tags.like(f"%{SEPARATOR}{domain}{SEPARATOR}%"))))
    if not places:
        return NO_SERVICE
    return ANSWERED if any(p is None or p > 0 for p in places) else NO_PLACE
