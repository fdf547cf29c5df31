"""Households across circuits: one record per household linking its cases, likely duplicates
flagged when a case is opened, merged (or dismissed) by a coordinator.

STUB written by the lead: the signatures and data types are the contract; the bodies come
with issue #13.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.persistence.models import Case
from engine.services.access import Actor


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


def attach(session: Session, clock: Clock, actor: Actor, case: Case,
           data: Mapping[str, Any]) -> None:
    """Give a new case its household record and flag likely duplicates (caller's unit of
    work)."""


def of_case(session: Session, clock: Clock, actor: Actor, case_id: int) -> HouseholdPanel | None:
    """The case's household panel, or None when there is nothing to show."""
    return None
