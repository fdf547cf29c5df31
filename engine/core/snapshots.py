"""Snapshots of a running case (typed, frozen): the steps ready, the timers waiting, the
notices due, the end reached. What the rest of Aiguillage sees of the engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

TimerKindView = Literal["duration", "date", "cycle"]


@dataclass(frozen=True)
class TaskView:
    """A READY human step."""

    id: str
    bpmn_id: str
    name: str
    lane: str | None
    role: str | None
    process_id: str
    form: str | None
    documentation: str
    ready_at: datetime
    due_at: datetime | None
    part: str | None = None  # the part of the case its lane is bound to (None: the role only)
    # a deadline counted from a date of the case: « 7 jours avant date_audience », or
    # « dépend de date_audience, non renseignée » while the date is not answered
    dated: str | None = None


@dataclass(frozen=True)
class TimerView:
    """A timer waiting to fire."""

    id: str
    bpmn_id: str
    name: str
    kind: TimerKindView
    due_at: datetime
    attached_to: str | None
    interrupting: bool
    dated: str | None = None  # counted from a date of the case (as ``TaskView.dated``)


@dataclass(frozen=True)
class UndatedTimer:
    """A timer counted from a date of the case that is not answered yet: it waits for it."""

    id: str
    bpmn_id: str
    name: str
    dated: str  # « dépend de date_audience, non renseignée »


@dataclass(frozen=True)
class NoticeView:
    """A notice (relance) the circuit asks to send: who, and about which step."""

    id: str
    bpmn_id: str
    name: str
    recipient: str
    about: str | None


@dataclass(frozen=True)
class OrientationEffect:
    """What a throw event does to the case's orientations (its ``orientation`` property):
    ``expire`` makes those awaiting an answer « expirée »."""

    id: str
    bpmn_id: str
    name: str
    effect: str


@dataclass(frozen=True)
class EndView:
    """The end state a finished case reached."""

    bpmn_id: str
    name: str


@dataclass(frozen=True)
class FiredTimer:
    """A timer that fired during an ``advance``: when it was due, when it fired."""

    id: str
    bpmn_id: str
    name: str
    due_at: datetime
    fired_at: datetime


@dataclass(frozen=True)
class MessageView:
    """A message the case waits for from outside (an intermediate catch event, a receive
    task, or an event attached to a step): by its name it is sent, with its form's data."""

    id: str
    name: str  # the message's name: what a sender names (``reponse_caf``)
    bpmn_id: str
    label: str  # the waiting element's name (« Réponse de la CAF »)
    since: datetime
    form: str | None  # the payload's form file (None: the message carries no data)
    senders: tuple[str, ...]  # lane roles that may send it (``from``); coordination always may
    attached_to: str | None = None  # the step it hangs on (a boundary event)
    interrupting: bool = False  # a boundary event that ends its step when the message comes
