"""Guards around SpiffWorkflow 3.2's known hazards (SPIFFWORKFLOW.md §4, §6, §7).

- ``CaseWorkflow`` defaults to the safe script engine, so a workflow rebuilt by the
  serializer (which forgets the engine) can never fall back to ``eval``.
- Task iteration has no depth cap and ancestry checks are iterative: long-lived cases with
  loops neither stall silently at depth 1000 nor hit ``RecursionError``.
- Timer event definitions read "now" from the workflow's clock instead of the wall clock,
  so simulations and the scheduler decide when a timer is due.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.util.subworkflow import BpmnBaseWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState

from engine.core.spiff.scripts import SafeScriptEngine


def _is_descendant_of(self: SpiffTask, task: SpiffTask) -> bool:
    parent = self.parent
    while parent is not None:
        if parent == task:
            return True
        parent = parent.parent
    return False


def _tasks_iterator(self: BpmnBaseWorkflow, first_task: SpiffTask | None = None,
                    **kwargs: Any) -> BpmnTaskIterator:
    kwargs.setdefault("max_depth", sys.maxsize)
    return BpmnTaskIterator(first_task or self.task_tree, **kwargs)


def _is_completed(self: BpmnBaseWorkflow) -> bool:
    if not self.completed:
        self.completed = not any(t.has_state(TaskState.NOT_FINISHED_MASK)
                                 for t in self.tasks.values())
    return bool(self.completed)


SpiffTask.is_descendant_of = _is_descendant_of
BpmnBaseWorkflow.get_tasks_iterator = _tasks_iterator
BpmnBaseWorkflow.is_completed = _is_completed


class CaseWorkflow(BpmnWorkflow):  # type: ignore[misc]
    """A BPMN workflow that is safe by default: expression-only engine, no depth cap."""

    def __init__(self, spec: Any, subprocess_specs: Any = None, script_engine: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(spec, subprocess_specs, script_engine=script_engine or SafeScriptEngine(),
                         **kwargs)

    get_tasks_iterator = _tasks_iterator
    is_completed = _is_completed


def now_for(task: SpiffTask) -> datetime:
    """The instant the task's workflow considers "now" (its engine's clock)."""
    engine = task.workflow.script_engine
    clock = getattr(engine, "clock", None)
    if clock is None:  # a workflow that escaped CaseWorkflow: refuse rather than guess
        raise RuntimeError("workflow has no Aiguillage clock")
    return clock.now()  # type: ignore[no-any-return]


# the due time of a timer counted from a date the case does not hold yet
NEVER = "9999-12-31T23:59:59+00:00"


class ClockedTimeDate(TimeDateEventDefinition):  # type: ignore[misc]
    """``timeDate`` timer that reads the workflow clock."""

    def has_fired(self, my_task: SpiffTask) -> bool:
        value = my_task._get_internal_data("event_value")
        if value is None:
            # an empty timeDate is filled by the runner from a date of the case
            # (``timerRelative``): until that date is answered, the timer never fires
            value = NEVER if not (self.expression or "").strip(" \t\n'\"") else \
                my_task.workflow.script_engine.evaluate(my_task, self.expression)
            my_task._set_internal_data(event_value=value)
        if TimerEventDefinition.parse_time_or_duration(value) <= now_for(my_task):
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


class ClockedDuration(DurationTimerEventDefinition):  # type: ignore[misc]
    """``timeDuration`` timer that reads the workflow clock."""

    def has_fired(self, my_task: SpiffTask) -> bool:
        value = my_task._get_internal_data("event_value")
        now = now_for(my_task)
        if value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            parsed = TimerEventDefinition.parse_iso_duration(expression)
            value = (now + TimerEventDefinition.get_timedelta_from_start(parsed, now)).isoformat()
            my_task._set_internal_data(event_value=value)
        if TimerEventDefinition.get_datetime(value) <= now:
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


class ClockedCycle(CycleTimerEventDefinition):  # type: ignore[misc]
    """``timeCycle`` timer that reads the workflow clock; fires one cycle per refresh."""

    def cycle_complete(self, my_task: SpiffTask) -> bool:
        value = my_task._get_internal_data("event_value")
        now = now_for(my_task)
        if value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            value = _first_cycle(expression, now)
        ready = False
        if value["cycles"] != 0:
            due = datetime.fromisoformat(value["next"])
            if due <= now:
                value["next"] = (due + timedelta(seconds=value["duration"])).isoformat()
                value["cycles"] -= 1
                ready = True
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
        my_task._set_internal_data(event_value=value)
        return ready


def _first_cycle(expression: str, now: datetime) -> dict[str, Any]:
    parts = expression.upper().replace("--", "/").strip("R").split("/")
    cycles = int(parts[0]) if parts[0] else -1
    first = TimerEventDefinition.parse_time_or_duration(parts[1])
    second = TimerEventDefinition.parse_time_or_duration(parts[2]) if len(parts) == 3 else None
    if isinstance(first, datetime):
        start, duration = first, TimerEventDefinition.get_timedelta_from_start(second, first)
    elif isinstance(second, datetime):
        duration = TimerEventDefinition.get_timedelta_from_end(first, second)
        start = second - duration
    else:
        duration = TimerEventDefinition.get_timedelta_from_start(first, now)
        start = now + duration
    return {"cycles": cycles, "next": start.isoformat(), "duration": duration.total_seconds()}


CLOCKED = {TimeDateEventDefinition: ClockedTimeDate,
           DurationTimerEventDefinition: ClockedDuration,
           CycleTimerEventDefinition: ClockedCycle}


def use_clocked_timers(task_spec: Any) -> None:
    """Swap a parsed timer definition for its clock-aware subclass (same attributes)."""
    definition = getattr(task_spec, "event_definition", None)
    replacement = CLOCKED.get(type(definition))
    if replacement is not None:
        definition.__class__ = replacement
