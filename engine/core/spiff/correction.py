"""Correct a case's answers where the workflow holds them (the right to rectification), or
rewrite them all (anonymisation).

SpiffWorkflow copies the data from step to step: an answer given at the start lives in the
data of every step that followed, of the call activities' sub-workflows and of the workflow
itself. A correction replaces it in each of them, so that the case page, the next steps,
their instructions and an export all read the corrected value; nothing else changes (no
step runs, no timer moves).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from itertools import chain
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

_LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def correct(workflow: BpmnWorkflow, values: Mapping[str, Any]) -> list[str]:
    """Replace the answers to ``values``' fields in every data set of ``workflow`` that holds
    them; a field held nowhere yet (left empty at the start) is added to the data the next
    steps read. Return the fields whose value changed, in ``values``' order."""
    changed: list[str] = []
    holders = list(_data_sets(workflow))
    live = [task.data for task in _tasks(workflow) if task.state & _LIVE]
    for name, value in values.items():
        held = [data for data in holders if name in data]
        if not held:
            held = live or [workflow.data]
        if any(data.get(name) != value for data in held):
            changed.append(name)
        for data in held:
            data[name] = value
    return changed


def _tasks(workflow: BpmnWorkflow) -> Iterator[Any]:
    for tasks in chain((workflow.tasks,), (s.tasks for s in workflow.subprocesses.values())):
        yield from tasks.values()


def _data_sets(workflow: BpmnWorkflow) -> Iterator[dict[str, Any]]:
    """Every dict of answers: each step's, each sub-workflow's and the workflow's own."""
    for task in _tasks(workflow):
        yield task.data
    for sub in workflow.subprocesses.values():
        yield sub.data
    yield workflow.data


def rewrite(workflow: BpmnWorkflow, scrubs: Mapping[str, Callable[[Any], Any]]) -> list[str]:
    """Rewrite the answers to ``scrubs``' fields in every data set of ``workflow`` that holds
    them, each by its function (anonymisation: nothing is added where a field is not held).
    Return the fields whose value changed somewhere."""
    changed: set[str] = set()
    for data in _data_sets(workflow):
        for name, scrub in scrubs.items():
            if name in data:
                value = scrub(data[name])
                if value != data[name]:
                    data[name] = value
                    changed.add(name)
    return sorted(changed)
