"""Case state as JSON text, with the circuit's spec stored once per version.

Hazards guarded (SPIFFWORKFLOW.md §5): task data is rebuilt from parent deltas only when the
parent is restored first, so the ``tasks`` mappings are put back parents-first before every
load, whatever a database did to key order; the spec is split off at save and re-inserted
at load; the workflow class defaults to the safe script engine.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.event_definition import (
    TimerConditionalEventDefinitionConverter,
)
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from engine.core.spiff.compat import CLOCKED, CaseWorkflow

PRELOADED = "_aiguillage_specs"
_DUMPING = threading.local()


class CaseWorkflowConverter(BpmnWorkflowConverter):  # type: ignore[misc]
    """Rebuilds a case on spec objects already restored for its version (the spec is the
    costliest part of a load), or from the spec in the document when none are given; and
    leaves the spec out of a case's state when asked (converting it only to drop it cost a
    tenth of every save)."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        if not getattr(_DUMPING, "state_only", False):
            return super().to_dict(workflow)  # type: ignore[no-any-return]
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> Any:
        specs = dct.pop(PRELOADED, None)
        if specs is None:
            return super().from_dict(dct)
        dct.pop("spec", None)
        dct.pop("subprocess_specs", None)
        workflow = self.target_class(specs[0], specs[1], deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_CONFIG = dict(SPIFF_CONFIG)
_CONFIG[CaseWorkflow] = CaseWorkflowConverter
for _clocked in CLOCKED.values():
    _CONFIG[_clocked] = TimerConditionalEventDefinitionConverter
REGISTRY = BpmnWorkflowSerializer.configure(_CONFIG)
SERIALIZER = BpmnWorkflowSerializer(REGISTRY)
SPEC_KEYS = ("spec", "subprocess_specs")


def _to_dict(workflow: CaseWorkflow, state_only: bool = False) -> dict[str, Any]:
    REGISTRY._encoder_mode = True
    _DUMPING.state_only = state_only
    try:
        data: dict[str, Any] = SERIALIZER.to_dict(workflow)
    finally:
        REGISTRY._encoder_mode = False
        _DUMPING.state_only = False
    data[SERIALIZER.VERSION_KEY] = SERIALIZER.VERSION
    return data


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, cls=SERIALIZER._encoder_cls, separators=(",", ":"),
                      ensure_ascii=False)


def dump_spec(workflow: CaseWorkflow) -> str:
    """The spec part of a workflow (stored once per circuit version)."""
    data = _to_dict(workflow)
    return _dumps({key: data[key] for key in SPEC_KEYS})


def dump_state(workflow: CaseWorkflow) -> str:
    """The case state without its spec, as JSON text (never reorder it: store as TEXT)."""
    return _dumps(_to_dict(workflow, state_only=True))


def restore_spec(spec: str) -> tuple[Any, dict[str, Any]]:
    """The spec objects of a stored spec text (restore once per version, then share)."""
    data = json.loads(spec)
    return (REGISTRY.restore(data["spec"]),
            {name: REGISTRY.restore(sub) for name, sub in data["subprocess_specs"].items()})


def load_state(state: str, spec: str,
               specs: tuple[Any, dict[str, Any]] | None = None) -> CaseWorkflow:
    """Rebuild a workflow from its state text and its version's spec (text, or objects
    already restored from that text when the state is in the current format)."""
    data: dict[str, Any] = json.loads(state)
    if specs is not None and data.get(SERIALIZER.VERSION_KEY) == SERIALIZER.VERSION:
        data[PRELOADED] = specs
    else:
        data.update(json.loads(spec))
    _parents_first(data)
    for sub in data.get("subprocesses", {}).values():
        _parents_first(sub)
    SERIALIZER.migrate(data)
    workflow = SERIALIZER.from_dict(data)
    if not isinstance(workflow, CaseWorkflow):
        raise TypeError(f"unexpected workflow class {type(workflow).__name__}")
    return workflow


def _parents_first(data: dict[str, Any]) -> None:
    """Reorder ``data['tasks']`` so every task comes after its parent."""
    tasks: dict[str, Any] = data.get("tasks", {})
    children: dict[str | None, list[str]] = {}
    for task_id, task in tasks.items():
        children.setdefault(task.get("parent"), []).append(task_id)
    roots = [t for t, task in tasks.items() if task.get("parent") not in tasks]
    ordered: dict[str, Any] = {}
    queue = deque(roots)
    while queue:
        task_id = queue.popleft()
        if task_id in ordered:
            continue
        ordered[task_id] = tasks[task_id]
        queue.extend(tasks[task_id].get("children") or children.get(task_id, []))
    for task_id, task in tasks.items():  # anything unreachable keeps its place at the end
        ordered.setdefault(task_id, task)
    data["tasks"] = ordered
