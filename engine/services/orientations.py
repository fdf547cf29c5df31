"""Orientations: a case proposed to a service of the directory, answered by its operator
(with an account, or through a signed link), reminded and expired by the circuit's timers,
cancelled with its case; coded refusal reasons per territory (``engine.core.orientation``).

STUB written by the lead: the signatures and data types are the contract the other parts
(tasks, cases, runtime, web pages, answer links) call; the bodies come with issue #13.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.forms import FormSpec
from engine.persistence.models import Case
from engine.services.access import Actor


@dataclass(frozen=True)
class EventItem:
    """One move of an orientation, as the case page tells it."""

    at: datetime
    who: str  # a person's name, « Lien de réponse (Organisation) », « Minuteur du circuit »
    before: str | None  # state label; None when created
    after: str  # state label
    comment: str = ""


@dataclass(frozen=True)
class OrientationItem:
    """An orientation as the case page shows it (labels, never codes)."""

    id: int
    case_id: int
    service_id: int
    service_name: str
    organisation_name: str
    measure: str  # label
    state: str  # code (engine.core.orientation.STATES)
    state_label: str
    created_at: datetime
    answered_at: datetime | None
    reasons: tuple[str, ...] = ()  # labels
    reason_detail: str = ""
    message_referrer: str = ""
    answer_household: str = ""
    place_taken: bool = False
    events: tuple[EventItem, ...] = ()
    may_send_link: bool = False  # the reader may send a signed answer link now


@dataclass(frozen=True)
class ReasonItem:
    """A refusal reason of the territory."""

    id: int
    code: str
    label: str
    needs_detail: bool
    active: bool
    position: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def of_case(session: Session, clock: Clock, actor: Actor, case_id: int) -> list[OrientationItem]:
    """The case's orientations, newest first, as far as the reader sees the case."""
    return []


def with_services(session: Session, clock: Clock, territory_id: int, form: FormSpec | None,
                  data: Mapping[str, Any]) -> FormSpec | None:
    """The form as offered: an orientation field becomes a choice of matching services (free
    places shown); an answer form's reasons become the territory's active reasons."""
    return form


def from_answers(session: Session, clock: Clock, actor: Actor, case: Case,
                 form: FormSpec | None, data: Mapping[str, Any], step: str,
                 via: str = "compte") -> None:
    """Create or answer an orientation from a completed form (in the caller's unit of work)."""


def expire_open(session: Session, clock: Clock, case_id: int, comment: str) -> int:
    """The case's orientations still awaiting an answer become « expirée »; their count."""
    return 0


def end_of_case(session: Session, clock: Clock, actor: Actor, case_id: int,
                cancelled: bool) -> None:
    """The case ends: open orientations are cancelled, places taken are given back."""
