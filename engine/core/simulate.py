"""Walking a circuit with scripted answers and simulated time (no database).

Used by ``aiguillage circuits simulate``, by the circuit tests (straight and with a
save/load between every step) and, later, by the dry-run in the browser.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.clock import FixedClock
from engine.core import timers
from engine.core.snapshots import EndView, MessageView, TaskView
from engine.core.spiff.compiler import CompiledCircuit
from engine.core.spiff.runner import Instance
from engine.errors import EngineError


class ScenarioError(EngineError):
    """The scenario cannot go on (a step it names is not ready, bad wait value...)."""


@dataclass
class Event:
    """One line of a walk: what happened, at which simulated instant."""

    at: datetime
    kind: str  # start, ready, complete, message, timer, notice, end
    text: str
    task: TaskView | None = None


@dataclass
class Walk:
    """The outcome of a scenario."""

    events: list[Event] = field(default_factory=list)
    end: EndView | None = None
    ready: list[TaskView] = field(default_factory=list)
    case: Instance | None = None


def load_scenario(raw: bytes | str) -> dict[str, Any]:
    """Parse a scenario file and check its shape."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ScenarioError(f"scénario JSON invalide : {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("steps", []), list):
        raise ScenarioError("un scénario est un objet avec une liste « steps »")
    return data


def run(circuit: CompiledCircuit, scenario: dict[str, Any], start: datetime | None = None,
        roundtrip: bool = False) -> Walk:
    """Play ``scenario`` on ``circuit``; ``roundtrip`` saves and reloads between steps."""
    begin = start or _instant(scenario.get("start", "2026-01-05T09:00:00+01:00"))
    clock = FixedClock(begin)
    walk = Walk()
    case = Instance.start(circuit, scenario.get("data", {}), clock)
    walk.events.append(Event(clock.now(), "start", circuit.title))
    seen: set[str] = set()
    _report(case, walk, seen)
    for number, step in enumerate(scenario.get("steps", []), start=1):
        if roundtrip:
            case = Instance.load(circuit, case.dump(), clock)
        _play(case, clock, step, number, walk)
        _report(case, walk, seen)
    walk.end, walk.ready, walk.case = case.end(), case.ready_tasks(), case
    if walk.end:
        walk.events.append(Event(clock.now(), "end", f"{walk.end.bpmn_id} « {walk.end.name} »"))
    return walk


def _play(case: Instance, clock: FixedClock, step: dict[str, Any], number: int, walk: Walk) -> None:
    if not isinstance(step, dict):
        raise ScenarioError(f"étape {number} : objet attendu")
    if "task" in step:
        task = _ready(case, step["task"], number)
        case.complete(task.id, step.get("data", {}), roles=_roles(step))
        walk.events.append(Event(clock.now(), "complete", f"{task.bpmn_id} « {task.name} »",
                                 task))
        return
    if "message" in step:
        received = _receive(case, step, number)
        walk.events.append(Event(clock.now(), "message",
                                 f"{step['message']} → {received.bpmn_id} « {received.label} »"))
        return
    moves: dict[str, Callable[[], datetime]] = {
        "wait": lambda: clock.set(_duration(step["wait"], number).after(clock.now())),
        "until": lambda: clock.set(_instant(step["until"])),
    }
    for key, move in moves.items():
        if key in step:
            move()
            for fired in case.advance():
                late = ""
                walk.events.append(Event(clock.now(), "timer",
                                         f"{fired.bpmn_id} « {fired.name} »{late}"))
            return
    raise ScenarioError(f"étape {number} : « task », « message », « wait » ou « until » attendu")


def _receive(case: Instance, step: dict[str, Any], number: int) -> MessageView:
    """Receive the message the step names, with its data (checked against its form)."""
    name = step["message"]
    waiting = case.waiting_messages()
    if not isinstance(name, str) or name not in {m.name for m in waiting}:
        names = ", ".join(sorted({m.name for m in waiting})) or "aucun"
        raise ScenarioError(f"étape {number} : le dossier n'attend pas le message {name!r} "
                            f"(attendus : {names})")
    data = step.get("data", {})
    if not isinstance(data, dict):
        raise ScenarioError(f"étape {number} : « data » doit être un objet")
    return case.receive(name, data)[0]


def _roles(step: dict[str, Any]) -> list[str] | None:
    role = step.get("as")
    return [role] if isinstance(role, str) else None


def _ready(case: Instance, bpmn_id: str, number: int) -> TaskView:
    ready = case.ready_tasks()
    for task in ready:
        if task.bpmn_id == bpmn_id:
            return task
    names = ", ".join(t.bpmn_id for t in ready) or "aucune"
    raise ScenarioError(f"étape {number} : {bpmn_id} n'est pas prête (prêtes : {names})")


def _report(case: Instance, walk: Walk, seen: set[str]) -> None:
    now = case.clock.now()
    for notice in case.drain_notices():
        about = f" (étape {notice.about})" if notice.about else ""
        walk.events.append(Event(now, "notice", f"{notice.name} → {notice.recipient}{about}"))
    for task in case.ready_tasks():
        if task.id not in seen:
            seen.add(task.id)
            walk.events.append(Event(now, "ready", f"{task.bpmn_id} « {task.name} »", task))


def _duration(value: Any, number: int) -> timers.Duration:
    try:
        return timers.parse_duration(str(value))
    except timers.TimerValueError:
        raise ScenarioError(f"étape {number} : durée invalide {value!r}") from None


def _instant(value: Any) -> datetime:
    try:
        return timers.parse_instant(str(value))
    except timers.TimerValueError:
        raise ScenarioError(f"instant invalide {value!r} (ajoutez le fuseau)") from None
