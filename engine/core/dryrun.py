"""The dry-run protocol: a walk of a compiled circuit carried by the page between requests.

The page carries the start instant, the start answers and the steps played so far; each
request replays them (in memory, simulated time), applies one action (start, answer a step,
let time pass) and returns what to show. Pure code: no database, no web framework.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from engine.core import safejson, simulate
from engine.core.forms import FieldSpec, FormSpec, coerce
from engine.core.snapshots import EndView, MessageView, TaskView, TimerView, UndatedTimer
from engine.core.spiff.compiler import CompiledCircuit
from engine.core.spiff.runner import start_form
from engine.errors import FormInvalid

MAX_STEPS = 200
START, ANSWER, WAIT, RESTART = "commencer", "terminer", "attendre", "recommencer"
RECEIVE = "recevoir"  # an outside answer (a message the walk awaits) arrives
Errors = Mapping[str, list[str]]


@dataclass(frozen=True)
class State:
    """What the page carries: start instant, start answers (None before the start), steps."""

    start: datetime
    data: dict[str, Any] | None = None
    steps: tuple[dict[str, Any], ...] = ()

    def dumps(self, what: str) -> str:
        """A hidden field's value (``data`` or ``steps``)."""
        return json.dumps(self.data if what == "data" else list(self.steps), ensure_ascii=False)


@dataclass(frozen=True)
class Posted:
    """One request of the dry-run page: the carried state, the action and its values."""

    action: str = ""
    start: str = ""
    data: str = ""
    steps: str = ""
    task: str = ""
    duration: str = ""
    message: str = ""  # the name of the message received (``RECEIVE``)
    answers: Mapping[str, list[str]] = field(default_factory=dict)  # every value as a list


@dataclass(frozen=True)
class Walk:
    """A replayed walk as the page shows it."""

    events: tuple[simulate.Event, ...]
    end: EndView | None
    ready: tuple[TaskView, ...]
    timers: tuple[TimerView, ...]
    undated: tuple[UndatedTimer, ...] = ()  # counted from a date not answered yet
    messages: tuple[MessageView, ...] = ()  # outside answers awaited


@dataclass(frozen=True)
class DryRun:
    """A walk of a circuit, the forms of its ready steps (by BPMN id) and its start form."""

    walk: Walk
    forms: Mapping[str, FormSpec | None]
    start_form: FormSpec | None
    message_forms: Mapping[str, FormSpec | None] = field(default_factory=dict)  # by name


@dataclass(frozen=True)
class Outcome:
    """After one request: the state to carry on, the walk (None before the start), the
    errors per field (``""`` for the whole step) and the start form."""

    state: State
    run: DryRun | None
    errors: Errors
    start_form: FormSpec | None


def replay(circuit: CompiledCircuit, start: datetime, data: Mapping[str, Any],
           steps: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> DryRun:
    """Replay ``steps`` (as in scenario files) on the circuit, in memory, with simulated time.

    :raises FormInvalid: answers a form refuses.
    :raises ScenarioError: a step that cannot be played (not ready, bad duration...).
    """
    walk = simulate.run(circuit, {"data": dict(data), "steps": list(steps)}, start=start)
    assert walk.case is not None
    forms = {t.bpmn_id: walk.case.form_for(t.id) for t in walk.ready}
    messages = tuple(walk.case.waiting_messages())
    shown = Walk(tuple(walk.events), walk.end, tuple(walk.ready),
                 tuple(walk.case.waiting_timers()), tuple(walk.case.undated_timers()),
                 messages)
    return DryRun(shown, forms, start_form(circuit),
                  {m.name: walk.case.message_form(m.name) for m in messages})


def state_of(posted: Posted, now: datetime) -> State:
    """The state posted back by the page (a fresh one when absent, unreadable or restarted)."""
    if posted.action == RESTART or not posted.start:
        return State(now)
    try:
        start = datetime.fromisoformat(posted.start)
        data = safejson.loads(posted.data) if posted.data else None
        steps = safejson.loads(posted.steps or "[]")
    except (ValueError, TypeError):
        return State(now)
    ok = isinstance(steps, list) and all(isinstance(s, dict) for s in steps)
    return State(start if start.tzinfo else now, data if isinstance(data, dict) else None,
                 tuple(steps[:MAX_STEPS]) if ok else ())


def answers(form: FormSpec | None, posted: Mapping[str, list[str]],
            lang: str = "fr") -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Typed answers for ``form`` from posted values, and what is wrong with them (in ``lang``):
    conversion, then the form's own rules."""
    if form is None:
        return {}, {}
    raw: dict[str, Any] = {}
    for spec in _paths(form.fields):
        values = list(posted.get(spec.path, []))
        raw[spec.path] = values if spec.kind == "multichoice" else (values[0] if values else None)
    data, errors = coerce(form, raw, lang)
    return data, errors or form.validate(data, lang)


def _paths(fields: tuple[FieldSpec, ...]) -> list[FieldSpec]:
    out: list[FieldSpec] = []
    for spec in fields:
        out += _paths(spec.children) if spec.kind == "group" else [spec]
    return out


def play(circuit: CompiledCircuit, posted: Posted, now: datetime, lang: str = "fr") -> Outcome:
    """Apply the posted action to the carried walk and replay it; a step the walk refuses is
    not kept (its errors are returned), a carried state that cannot be replayed restarts."""
    state, first = state_of(posted, now), start_form(circuit)
    try:
        if state.data is None:
            return _begin(circuit, state, posted, first, lang)
        return _go_on(circuit, state, posted, first, lang)
    except (FormInvalid, simulate.ScenarioError) as exc:  # a carried state that went wrong
        return Outcome(State(now), None, _errors(exc, lang), first)


def _begin(circuit: CompiledCircuit, state: State, posted: Posted, first: FormSpec | None,
           lang: str) -> Outcome:
    if posted.action != START:
        return Outcome(state, None, {}, first)
    data, errors = answers(first, posted.answers, lang)
    if errors:
        return Outcome(state, None, errors, first)
    try:
        return Outcome(replace(state, data=data), replay(circuit, state.start, data, ()), {},
                       first)
    except (FormInvalid, simulate.ScenarioError) as exc:
        return Outcome(state, None, _errors(exc, lang), first)


def _go_on(circuit: CompiledCircuit, state: State, posted: Posted, first: FormSpec | None,
           lang: str) -> Outcome:
    assert state.data is not None
    current = None
    if posted.action == ANSWER:
        current = replay(circuit, state.start, state.data, state.steps)
        found, errors = answers(current.forms.get(posted.task), posted.answers, lang)
        if errors:
            return Outcome(state, current, errors, first)
        step: dict[str, Any] = {"task": posted.task, "data": found}
    elif posted.action == RECEIVE:
        current = replay(circuit, state.start, state.data, state.steps)
        found, errors = answers(current.message_forms.get(posted.message), posted.answers, lang)
        if errors:
            return Outcome(state, current, errors, first)
        step = {"message": posted.message, "data": found}
    elif posted.action == WAIT:
        step = {"wait": posted.duration.strip().upper()}
    else:
        return Outcome(state, replay(circuit, state.start, state.data, state.steps), {}, first)
    moved = replace(state, steps=(*state.steps, step))
    try:
        return Outcome(moved, replay(circuit, moved.start, state.data, moved.steps), {}, first)
    except (FormInvalid, simulate.ScenarioError) as exc:
        current = current or replay(circuit, state.start, state.data, state.steps)
        return Outcome(state, current, _errors(exc, lang), first)


def _errors(exc: FormInvalid | simulate.ScenarioError, lang: str) -> dict[str, list[str]]:
    if isinstance(exc, FormInvalid):
        return dict(exc.errors)
    return {"": [exc.message_in(lang)]}
