"""Moving a running case onto another version of its circuit (SpiffWorkflow's diff helpers).

Alignment is by BPMN id. A move is refused while a step or timer the new version removed
is active (the case would lose where it stands); steps the new version changed are reset,
so their form must be filled again. The library forgets nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState

from engine.core.spiff.compiler import CompiledCircuit
from engine.core.spiff.runner import Instance
from engine.core.spiff.serializer import REGISTRY
from engine.errors import Conflict

ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


@dataclass(frozen=True)
class MovePreview:
    """What moving a case would do."""

    blocked: bool
    removed_active: list[str] = field(default_factory=list)
    changed_active: list[str] = field(default_factory=list)
    removed_done: list[str] = field(default_factory=list)


def _names(tasks: list[object]) -> list[str]:
    return sorted({str(getattr(t.task_spec, "bpmn_name", None)  # type: ignore[attr-defined]
                       or t.task_spec.bpmn_id) for t in tasks  # type: ignore[attr-defined]
                   if getattr(t.task_spec, "bpmn_id", None)})  # type: ignore[attr-defined]


def preview(instance: Instance, target: CompiledCircuit) -> MovePreview:
    """The steps a move would remove or reset (nothing is changed)."""
    top, subs = diff_workflow(REGISTRY, instance.workflow, target.spec, target.subprocess_specs)
    removed = list(top.removed)
    changed = list(top.changed)
    blocked_subprocess = False
    for sp_id, diff in subs.items():
        if diff is None:
            sp = instance.workflow.subprocesses[sp_id]
            blocked_subprocess |= not sp.is_completed()
            continue
        removed += diff.removed
        changed += diff.changed
    removed_active = [t for t in removed if t.has_state(ACTIVE)]
    return MovePreview(
        blocked=bool(removed_active) or blocked_subprocess,
        removed_active=_names(removed_active)
        + (["sous-processus supprimé"] if blocked_subprocess else []),
        changed_active=_names([t for t in changed if t.has_state(ACTIVE)]),
        removed_done=_names([t for t in removed if not t.has_state(ACTIVE)]))


def move(instance: Instance, target: CompiledCircuit) -> Instance:
    """The same case on ``target``; raise ``Conflict`` if the preview is blocked."""
    found = preview(instance, target)
    if found.blocked:
        raise Conflict(code="svc.move_blocked", steps=", ".join(found.removed_active))
    workflow = instance.workflow
    top, subs = diff_workflow(REGISTRY, workflow, target.spec, target.subprocess_specs)
    migrate_workflow(top, workflow, target.spec)
    for sp_id, diff in subs.items():
        if diff is not None:
            sub = workflow.subprocesses[sp_id]
            migrate_workflow(diff, sub, target.subprocess_specs[sub.spec.name])
    workflow.subprocess_specs = target.subprocess_specs
    moved = Instance(target, workflow, instance.clock)
    moved.settle()
    return moved
