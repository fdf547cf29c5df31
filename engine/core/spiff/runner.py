"""A running case: start, list ready steps, complete one, advance time, repair.

The only place workflows are driven. Every call checks what the library does not
(SPIFFWORKFLOW.md §2): a step is completed only when READY, human, and in the caller's
lane; data is validated against its form and written with a plain update; library
exceptions become ``WorkflowError``s naming the element.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from itertools import chain
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState

from engine.clock import Clock
from engine.core import calendar, expressions, text, timers
from engine.core.bundles import role_for_lane
from engine.core.forms import FormSpec, as_day, clean
from engine.core.messages import render
from engine.core.rules import COUNTER, MESSAGE_FORM, MESSAGE_FROM
from engine.core.snapshots import (
    EndView,
    FiredTimer,
    MessageView,
    NoticeView,
    OrientationEffect,
    TaskView,
    TimerView,
    UndatedTimer,
)
from engine.core.spiff import compat, serializer
from engine.core.spiff.compat import CaseWorkflow
from engine.core.spiff.compiler import CompiledCircuit
from engine.core.spiff.scripts import SafeScriptEngine, ScriptsDisabled
from engine.errors import (
    Conflict,
    FormInvalid,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    WorkflowError,
)

MAX_ROUNDS = 200  # engine passes per call: catches runaway cycles instead of hanging
START_FORM = "formJsonSchemaFilename"


class Instance:
    """A running instance of a circuit (one case), in memory. Persist it with ``dump()``."""

    def __init__(self, circuit: CompiledCircuit, workflow: CaseWorkflow, clock: Clock) -> None:
        self.circuit = circuit
        self.workflow = workflow
        self.clock = clock
        self.workflow.script_engine = SafeScriptEngine(clock)  # never trust what a load left
        self.notices: list[NoticeView] = []
        self.effects: list[OrientationEffect] = []

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def start(cls, circuit: CompiledCircuit, data: Mapping[str, Any], clock: Clock) -> Instance:
        """Open a case with its start-form ``data``; raise ``FormInvalid`` if it fails."""
        form = start_form(circuit)
        initial = _validated(form, data, _today(clock), {}, _labels(circuit))
        workflow = CaseWorkflow(circuit.spec, circuit.subprocess_specs)
        case = cls(circuit, workflow, clock)
        counters = {ts.bpmn_id: 0 for process in [circuit.spec, *circuit.subprocess_specs.values()]
                    for ts in process.task_specs.values() if getattr(ts, "manual", False)}
        workflow.task_tree.data.update({**initial, COUNTER: counters})
        _remember_answers(workflow, form, initial)
        case._run()
        return case

    @classmethod
    def load(cls, circuit: CompiledCircuit, state: str, clock: Clock) -> Instance:
        """Rebuild a stored case (state text from ``dump``)."""
        specs = (circuit.spec, circuit.subprocess_specs)
        return cls(circuit, serializer.load_state(state, circuit.spec_json, specs), clock)

    def dump(self) -> str:
        """The state to store (JSON text without the spec; store as TEXT, never JSONB)."""
        return serializer.dump_state(self.workflow)

    # ------------------------------------------------------------------ reading

    @property
    def completed(self) -> bool:
        """True once the case reached an end state."""
        return bool(self.workflow.is_completed())

    def end(self) -> EndView | None:
        """The end state reached (the last top-level end event), if finished."""
        if not self.completed:
            return None
        ends = [t for t in self.workflow.tasks.values() if isinstance(t.task_spec, EndEvent)
                and t.state == TaskState.COMPLETED]
        if not ends:
            return None
        last = max(ends, key=lambda t: t.internal_data.get("seq", 0))
        return EndView(last.task_spec.bpmn_id, last.task_spec.bpmn_name or last.task_spec.bpmn_id)

    def data(self) -> dict[str, Any]:
        """The case data as the next step would see it, each answer as last given anywhere in
        the case (``_remember_answers``: a parallel branch's steps carry older copies); a
        copy."""
        if self.completed:
            return copy.deepcopy(dict(self.workflow.data)) or self._last_data()
        ready = self._ready()
        source = ready[0].data if ready else self._last_data()
        return copy.deepcopy({**source, **self.workflow.data})

    def _last_data(self) -> dict[str, Any]:
        done = [t for t in self.workflow.get_tasks(state=TaskState.COMPLETED)]
        return dict(done[-1].data) if done else dict(self.workflow.task_tree.data)

    def ready_tasks(self, instructions: bool = True) -> list[TaskView]:
        """READY human steps, oldest first (``instructions=False`` skips rendering them)."""
        return sorted((self._view(t, instructions) for t in self._each(TaskState.READY)
                       if t.task_spec.manual), key=lambda v: (v.ready_at, v.name))

    def task(self, task_id: str, data: Mapping[str, Any] | None = None) -> TaskView:
        """A READY human step by id, its instructions filled with ``data`` (by default the
        step's own data); raise ``NotFound`` or ``InvalidTransition``."""
        return self._view(self._ready_task(task_id), data=data)

    def form_for(self, task_id: str) -> FormSpec | None:
        """The form a READY step shows (None for a step without form)."""
        return self._form(self._ready_task(task_id).task_spec)

    def waiting_timers(self) -> list[TimerView]:
        """Timers armed and not yet fired, soonest first."""
        out = []
        for task in self._each(TaskState.WAITING):
            view = _timer_view(task, self)
            if view is not None:
                out.append(view)
        return sorted(out, key=lambda v: v.due_at)

    def undated_timers(self) -> list[UndatedTimer]:
        """Timers counted from a date of the case not answered yet (no due time: waiting)."""
        out = []
        for task in self._each(TaskState.WAITING):
            value = task.internal_data.get("event_value")
            rule = _props(task).get("timerRelative")
            if rule and value == compat.NEVER:
                out.append(UndatedTimer(str(task.id), task.task_spec.bpmn_id,
                                        task.task_spec.bpmn_name or task.task_spec.bpmn_id,
                                        _dated(self, task, rule) or ""))
        return sorted(out, key=lambda v: v.name)

    def waiting_messages(self) -> list[MessageView]:
        """Messages the case waits for from outside, longest waiting first."""
        out = []
        for task in self._each(TaskState.WAITING):
            definition = getattr(task.task_spec, "event_definition", None)
            if not isinstance(definition, MessageEventDefinition):
                continue
            props = _props(task)
            since = task.internal_data.get("waiting_since")
            boundary = type(task.task_spec).__name__ == "BoundaryEvent"
            out.append(MessageView(
                id=str(task.id), name=definition.name, bpmn_id=task.task_spec.bpmn_id,
                label=task.task_spec.bpmn_name or definition.name,
                since=datetime.fromisoformat(since) if since else self.clock.now(),
                form=props.get(MESSAGE_FORM) or None,
                senders=tuple(r.strip() for r in (props.get(MESSAGE_FROM) or "").split(",")
                              if r.strip()),
                attached_to=_attached_step(task) if boundary else None,
                interrupting=boundary and bool(getattr(task.task_spec, "cancel_activity",
                                                       True))))
        return sorted(out, key=lambda v: (v.since, v.label, v.id))

    def message_senders(self, name: str) -> tuple[str, ...] | None:
        """The lane roles the circuit lets send message ``name`` (``from`` of every element
        that awaits it, wherever the case is); None if no element of the circuit awaits it."""
        return message_senders(self.circuit, name)

    def message_form(self, name: str) -> FormSpec | None:
        """The form of awaited message ``name`` (None: it carries no data).

        :raises Conflict: the case waits for no message of that name.
        """
        return self._awaited(name)[1]

    def receive(self, name: str, payload: Mapping[str, Any]) -> list[MessageView]:
        """Receive message ``name`` with its form's ``payload`` and run what follows; the
        answers land in the case data under their form's keys. Returns what was awaited.

        :raises Conflict: the case waits for no message of that name.
        :raises FormInvalid: ``payload`` fails the message's form; nothing changes.
        """
        awaited, form = self._awaited(name)
        task_ids = {v.id for v in awaited}
        values = _validated(form, payload, _today(self.clock),
                            {n: self.workflow.data.get(n) for n in _compared(form)},
                            _labels(self.circuit))
        for task in self._each(TaskState.WAITING):
            if str(task.id) in task_ids:
                task.data.update(values)
        _remember_answers(self.workflow, form, values)
        self._guard(lambda: self.workflow.send_event(
            BpmnEvent(MessageEventDefinition(name), payload=copy.deepcopy(values))))
        self._run()
        return awaited

    def _awaited(self, name: str) -> tuple[list[MessageView], FormSpec | None]:
        awaited = [v for v in self.waiting_messages() if v.name == name]
        if not awaited:
            raise Conflict(code="svc.message_not_awaited", name=name)
        form_name = next((v.form for v in awaited if v.form), None)
        return awaited, self.circuit.forms.get(form_name) if form_name else None

    def progress(self) -> tuple[set[str], set[str]]:
        """BPMN ids of the main process: (current: ready or waiting, done: completed)."""
        current, done = set(), set()
        for task in self.workflow.tasks.values():
            bpmn_id = getattr(task.task_spec, "bpmn_id", None)
            if bpmn_id is None:
                continue
            if task.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED):
                current.add(bpmn_id)
            elif task.state == TaskState.COMPLETED:
                done.add(bpmn_id)
        return current, done - current

    def timer_outcome(self, task_id: str) -> str:
        """What became of a timer that is no longer waiting: ``fired`` or ``cancelled``."""
        try:
            task = self.workflow.get_task_from_id(UUID(task_id))
        except (ValueError, SpiffWorkflowException):
            task = None
        if task is None or task.state == TaskState.CANCELLED:
            return "cancelled"
        if task.state == TaskState.WAITING and not isinstance(
                getattr(task.task_spec, "event_definition", None), compat.ClockedCycle):
            return "cancelled"  # moved: counted from a date of the case that was corrected
        return "fired"  # COMPLETED, or a cycle that moved on to its next occurrence

    def next_due(self) -> datetime | None:
        """The earliest timer due time, if any."""
        timers_ = self.waiting_timers()
        return timers_[0].due_at if timers_ else None

    # ------------------------------------------------------------------ acting

    def complete(self, task_id: str, data: Mapping[str, Any],
                 roles: Iterable[str] | None = None) -> None:
        """Complete a READY step with form ``data``.

        :raises NotFound: no such step in this case.
        :raises InvalidTransition: the step is not ready (already done, or not yet).
        :raises PermissionDenied: the step's lane is not one of ``roles``.
        :raises FormInvalid: ``data`` fails the step's form.
        """
        task = self._ready_task(task_id)
        if roles is not None and _role(self, task) not in set(roles):
            raise PermissionDenied(f"step {task.task_spec.bpmn_id} belongs to another lane")
        form = self._form(task.task_spec)
        case_data = {name: _case_value(self, task, name) for name in _compared(form)}
        values = _validated(form, data, _today(self.clock), case_data, _labels(self.circuit))
        counters = dict(task.data.get(COUNTER) or {})
        counters[task.task_spec.bpmn_id] = counters.get(task.task_spec.bpmn_id, 0) + 1
        answers = {**_replaced(form, values, {**self.workflow.data, **task.data}), **values}
        task.data.update({**answers, COUNTER: counters})
        _remember_answers(self.workflow, form, answers)
        self._guard(task.run)
        self._run()

    def advance(self) -> list[FiredTimer]:
        """Fire every timer due at the clock's instant and run what follows."""
        before = {v.id: v for v in self.waiting_timers()}
        self._run()
        after = {v.id: v for v in self.waiting_timers()}
        now = self.clock.now()
        return [FiredTimer(v.id, v.bpmn_id, v.name, v.due_at, now) for v in before.values()
                if v.due_at <= now and (v.id not in after or after[v.id].due_at != v.due_at)]

    def reset_to(self, step: str) -> None:
        """Repair: make a step (task id, or BPMN id of its latest run) ready again."""
        target = self._find(step)
        self._guard(lambda: self.workflow.reset_from_task_id(target.id))
        self.workflow.completed = False
        # The library leaves the deleted branch's timers registered (they then crash the
        # next refresh): forget every waiting event whose task is no longer in the tree.
        manager = self.workflow.event_manager
        for task_id, task in list(manager.tasks.items()):
            try:
                alive = self.workflow.get_task_from_id(task_id) is task
            except SpiffWorkflowException:
                alive = False
            if not alive:
                del manager.tasks[task_id]
        for key in ("ready_at", "due_at"):
            target.internal_data.pop(key, None)
        self._run()

    def settle(self) -> None:
        """Run what is runnable and stamp new ready steps (after a repair or a move)."""
        self.workflow.completed = False
        self._run()

    def drain_notices(self) -> list[NoticeView]:
        """Notices produced since the last drain."""
        out, self.notices = self.notices, []
        return out

    def drain_effects(self) -> list[OrientationEffect]:
        """Orientation effects (property ``orientation``) produced since the last drain."""
        out, self.effects = self.effects, []
        return out

    # ------------------------------------------------------------------ internals

    def _each(self, state: int) -> Iterator[SpiffTask]:
        """Tasks in ``state``, of the main process and of its subprocesses, in no particular
        order: reading the task tables costs a fraction of the library's tree walk, which
        the hot path (every save and every timer) used to do ten times per call."""
        workflow = self.workflow
        for tasks in chain((workflow.tasks,), (s.tasks for s in workflow.subprocesses.values())):
            for task in tasks.values():
                if task.state & state:
                    yield task

    def _ready(self) -> list[SpiffTask]:
        return list(self.workflow.get_tasks(state=TaskState.READY, manual=True))

    def _ready_task(self, task_id: str) -> SpiffTask:
        try:
            task = self.workflow.get_task_from_id(UUID(str(task_id)))
        except (ValueError, SpiffWorkflowException):
            task = None
        if task is None or not getattr(task.task_spec, "manual", False):
            raise NotFound(f"no step {task_id} in this case")
        if task.state != TaskState.READY:
            state = "completed" if task.state == TaskState.COMPLETED else TaskState.get_name(
                task.state).lower()
            raise InvalidTransition(f"step {task.task_spec.bpmn_id} is {state}")
        return task

    def _find(self, step: str) -> SpiffTask:
        try:
            task = self.workflow.get_task_from_id(UUID(step))
        except (ValueError, SpiffWorkflowException):
            matches = [t for t in self.workflow.get_tasks() if t.task_spec.bpmn_id == step
                       and t.state in (TaskState.COMPLETED, TaskState.READY)]
            task = matches[-1] if matches else None
        if task is None:
            raise NotFound(f"no step {step} in this case")
        return task

    def _form(self, task_spec: Any) -> FormSpec | None:
        ext = getattr(task_spec, "extensions", None) or {}
        name = ext.get("properties", {}).get(START_FORM) or ext.get("camunda_form")
        return self.circuit.forms.get(name) if name else None

    def _guard(self, action: Any) -> Any:
        try:
            return action()
        except (SpiffWorkflowException, expressions.ExpressionError, ScriptsDisabled,
                timers.TimerValueError) as exc:
            spec = getattr(exc, "task_spec", None)
            raise WorkflowError(_describe(exc), element_id=getattr(spec, "bpmn_id", None)) \
                from exc
        except Exception as exc:  # the library raises bare Exception for bad durations
            if type(exc) is Exception:
                raise WorkflowError(str(exc)) from exc
            raise

    def _run(self) -> None:
        for _ in range(MAX_ROUNDS):
            self._guard(self.workflow.refresh_timers)
            self._guard(self.workflow.do_engine_steps)
            self._stamp()
            if not any(not t.task_spec.manual for t in self._each(TaskState.READY)):
                return
        raise WorkflowError("the case does not settle (runaway timer cycle?)")

    def _stamp(self) -> None:
        now = self.clock.now()
        for task in self._each(TaskState.WAITING):
            if _props(task).get("timerRelative"):
                _follow_date(self, task)
            _stamp_message(task, now)
        for task in self._each(TaskState.READY):
            if task.task_spec.manual and "ready_at" not in task.internal_data:
                task.internal_data["ready_at"] = now.isoformat()
                due = _due_at(self, task, now)
                task.internal_data["due_at"] = due.isoformat() if due else None
            elif task.task_spec.manual and (_props(task).get("dueRelative")
                                            or _relative_timer_on(task)):
                # counted from a date of the case: follows that date when it is corrected
                due = _due_at(self, task, datetime.fromisoformat(task.internal_data["ready_at"]))
                task.internal_data["due_at"] = due.isoformat() if due else None
        seq = self.workflow.data.setdefault("aiguillage_seq", 0)
        # in the order they completed (what "the last end event" means)
        for task in sorted(self._each(TaskState.COMPLETED), key=lambda t: t.last_state_change):
            ext = getattr(task.task_spec, "extensions", None) or {}
            if isinstance(task.task_spec, EndEvent) and "seq" not in task.internal_data:
                seq += 1
                task.internal_data["seq"] = seq
            props = ext.get("properties", {})
            notify = props.get("notify")
            if notify and "noticed" not in task.internal_data:
                task.internal_data["noticed"] = now.isoformat()
                about = _attached_step(task)
                self.notices.append(NoticeView(str(task.id), task.task_spec.bpmn_id,
                                               task.task_spec.bpmn_name or "", notify, about))
            effect = props.get("orientation")
            if effect and "oriented" not in task.internal_data:
                # once per run of the event, like a notice: a later pass or a reload
                # must not expire an orientation created after it
                task.internal_data["oriented"] = now.isoformat()
                self.effects.append(OrientationEffect(
                    str(task.id), task.task_spec.bpmn_id,
                    task.task_spec.bpmn_name or task.task_spec.bpmn_id, effect))
        self.workflow.data["aiguillage_seq"] = seq

    def _view(self, task: SpiffTask, instructions: bool = True,
              data: Mapping[str, Any] | None = None) -> TaskView:
        spec = task.task_spec
        ext = getattr(spec, "extensions", None) or {}
        props = ext.get("properties", {})
        due = task.internal_data.get("due_at")
        role = _role(self, task)
        return TaskView(
            id=str(task.id), bpmn_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id,
            lane=spec.lane, role=role, process_id=task.workflow.spec.name,
            form=props.get(START_FORM) or ext.get("camunda_form"),
            documentation=text.render_instructions(
                spec.documentation, ext.get("instructionsForEndUser"),
                task.data if data is None else data)
            if instructions else "",
            ready_at=datetime.fromisoformat(task.internal_data["ready_at"]),
            due_at=datetime.fromisoformat(due) if due else None,
            part=self.circuit.lane_parts.get(spec.lane) if spec.lane else None,
            dated=_dated(self, task, props["dueRelative"]) if props.get("dueRelative") else None,
        )


def message_senders(circuit: CompiledCircuit, name: str) -> tuple[str, ...] | None:
    """The lane roles ``circuit`` lets send message ``name``; None if it never awaits it."""
    found: set[str] | None = None
    for process in [circuit.spec, *circuit.subprocess_specs.values()]:
        for spec in process.task_specs.values():
            definition = getattr(spec, "event_definition", None)
            if isinstance(definition, MessageEventDefinition) and definition.name == name:
                props = (getattr(spec, "extensions", None) or {}).get("properties", {})
                found = (found or set()) | {r.strip() for r in (props.get(MESSAGE_FROM) or "")
                                            .split(",") if r.strip()}
    return None if found is None else tuple(sorted(found))


def start_form(circuit: CompiledCircuit) -> FormSpec | None:
    """The form of the circuit's start event, if it names one."""
    for ts in circuit.spec.task_specs.values():
        if type(ts).__name__ == "StartEvent":
            name = (getattr(ts, "extensions", None) or {}).get("properties", {}).get(START_FORM)
            if name:
                return circuit.forms.get(name)
    return None


def _validated(form: FormSpec | None, data: Mapping[str, Any], today: date | None = None,
               case: Mapping[str, Any] | None = None,
               labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    if form is None:
        if data:
            raise FormInvalid({k: ["Ce champ n'existe pas dans le formulaire."] for k in data})
        return {}
    errors = form.validate(data, today=today, case=case, labels=labels)
    if errors:
        raise FormInvalid(errors)
    return clean(form, data)


def _today(clock: Clock) -> date:
    """The day it is in Paris (a date answered « not in the past » compares with it)."""
    return clock.now().astimezone(calendar.PARIS).date()


def _compared(form: FormSpec | None) -> set[str]:
    """Fields of other forms this form's dates may not come before."""
    if form is None:
        return set()
    return {f.not_before for f in form.fields
            if f.not_before and f.not_before != "today" and f.not_before not in form.field_names()}


def _labels(circuit: CompiledCircuit) -> dict[str, str]:
    """Field name → label over every form of the circuit (to name a field of another form)."""
    return {f.name: f.label for form in circuit.forms.values() for f in form.fields}


def _replaced(form: FormSpec | None, values: Mapping[str, Any],
              data: Mapping[str, Any]) -> dict[str, None]:
    """An operator's answer to an orientation replaces the previous answer as a whole: the
    fields of its form left blank this time are emptied (elsewhere a blank field keeps the
    earlier value), so that an acceptance never shows the reasons of an earlier refusal."""
    if form is None or form.answer_field() is None:
        return {}
    return {f.name: None for f in form.fields if f.name not in values and f.name in data}


def _role(case: Instance, task: SpiffTask) -> str | None:
    role = role_for_lane(case.circuit.roles, task.task_spec.lane)
    return role.key if role else None


def _boundary_timers(task: SpiffTask) -> list[tuple[datetime, bool]]:
    parent = task.parent
    if parent is None or type(parent.task_spec).__name__ != "BoundaryEventSplit":
        return []
    out = []
    for sibling in parent.children:
        view = _timer_view(sibling)
        if view is not None:
            out.append((view.due_at, view.interrupting))
    return out


def _relative_timer_on(task: SpiffTask) -> bool:
    """Does a boundary timer counted from a date of the case hang on this step?"""
    parent = task.parent
    if parent is None or type(parent.task_spec).__name__ != "BoundaryEventSplit":
        return False
    return any(_props(sibling).get("timerRelative") for sibling in parent.children)


def _props(task: SpiffTask) -> dict[str, str]:
    props: dict[str, str] = (getattr(task.task_spec, "extensions", None) or {}).get(
        "properties", {})
    return props


def _stamp_message(task: SpiffTask, now: datetime) -> None:
    """Since when a waiting message is awaited (the case page's « attendue depuis »)."""
    if "waiting_since" not in task.internal_data and isinstance(
            getattr(task.task_spec, "event_definition", None), MessageEventDefinition):
        task.internal_data["waiting_since"] = now.isoformat()


def _remember_answers(workflow: CaseWorkflow, form: FormSpec | None,
                      values: Mapping[str, Any]) -> None:
    """Keep the case's latest answer to each field in the workflow's own data: the tasks of
    a parallel branch carry copies made before the other branch's answers (C4's acts beside
    its support), so the case page must not show an old stage, and a timer firing there
    must not bring an old date back."""
    for spec in form.fields if form is not None else ():
        if spec.name in values:
            workflow.data[spec.name] = values[spec.name]


def _case_value(case: Instance, task: SpiffTask, name: str) -> Any:
    """The case's latest answer to ``name``: as last answered (``_remember_answers``);
    otherwise (a case started before dates were remembered) the last completed task
    carrying the field."""
    if name in case.workflow.data:
        return case.workflow.data[name]
    latest = max((t for t in case._each(TaskState.COMPLETED) if name in t.data),
                 key=lambda t: t.last_state_change, default=None)
    return latest.data.get(name) if latest is not None else task.data.get(name)


def _due_at(case: Instance, task: SpiffTask, now: datetime) -> datetime | None:
    """A step's deadline; ``now`` is when it became ready. A deadline of the step's own is
    moved out of (``shift``) or lengthened by (``suspend``) the period its ``period`` rule
    names."""
    own = _own_due_at(case, task, now)
    if own is not None:
        return _in_period(case, task, *own)
    found = _boundary_timers(task)
    interrupting = [due for due, stops in found if stops]
    candidates = interrupting or [due for due, _ in found]
    return min(candidates) if candidates else None


Counted = tuple[datetime, date, bool]  # a due time, the day it is counted from, in working days


def _own_due_at(case: Instance, task: SpiffTask, now: datetime) -> Counted | None:
    """The deadline a step's properties set (``dueRelative``, ``dueIn``, working days)."""
    props = _props(task)
    if props.get("dueRelative"):
        found = _relative(case, task, props["dueRelative"])
        if found is not None:
            return found
    ready = now.astimezone(calendar.PARIS).date()
    if props.get("dueIn"):
        return (timers.parse_duration(props["dueIn"].strip().strip("'\"")).after(now), ready,
                False)
    if props.get("dueInWorkingDays"):
        return (calendar.add_working_days(now, int(props["dueInWorkingDays"]),
                                          case.circuit.holiday_subdivision), ready, True)
    return None


def _relative(case: Instance, task: SpiffTask, value: str) -> Counted | None:
    """The end of the day ``value`` (``-7D:date_audience``) names from the case's date; None
    when the date is not answered (or not a date)."""
    rel = timers.parse_relative(value)
    answer = _case_value(case, task, rel.field)
    due = timers.relative_due(rel, answer, case.circuit.holiday_subdivision)
    origin = as_day(answer)
    if due is None or origin is None:
        return None
    return due, origin, rel.unit == "working_days"


def _in_period(case: Instance, task: SpiffTask, due: datetime, origin: date,
               working: bool) -> datetime:
    period = (getattr(task.task_spec, "extensions", None) or {}).get("period")
    if period and period.get("rule") == "shift":
        return calendar.shift_out_of_period(due, period["from"], period["to"])
    if period and period.get("rule") == "suspend":
        return calendar.suspend_in_period(origin, due, period["from"], period["to"],
                                          case.circuit.holiday_subdivision, working)
    return due


def _follow_date(case: Instance, task: SpiffTask) -> None:
    """A waiting timer counted from a date of the case (``timerRelative``) is due when that
    date says, recomputed at every pass: it follows a correction of the date. Until the date
    is answered the timer keeps its own value (a fallback duration, or never)."""
    found = _relative(case, task, _props(task)["timerRelative"])
    if found is None:
        return
    due = _in_period(case, task, *found)
    if task.internal_data.get("event_value") != due.isoformat():
        task.internal_data["event_value"] = due.isoformat()
        task.internal_data.pop("event_fired", None)


def _dated(case: Instance, task: SpiffTask, value: str) -> str | None:
    """« 7 jours avant date_audience », or « dépend de date_audience, non renseignée »."""
    try:
        rel = timers.parse_relative(value)
    except timers.TimerValueError:
        return None
    label = next((f.label for form in case.circuit.forms.values() for f in form.fields
                  if f.name == rel.field), None)
    if as_day(_case_value(case, task, rel.field)) is None:
        return timers.unanswered(rel.field, label)
    return timers.describe_relative(rel, label)


def _timer_view(task: SpiffTask, case: Instance | None = None) -> TimerView | None:
    definition = getattr(task.task_spec, "event_definition", None)
    if not isinstance(definition, TimerEventDefinition) or task.state != TaskState.WAITING:
        return None
    value = definition.details(task).value
    if not isinstance(value, str) or value == compat.NEVER:
        return None
    kind = {"ClockedCycle": "cycle", "ClockedTimeDate": "date"}.get(type(definition).__name__,
                                                                     "duration")
    attached = _attached_step(task)
    return TimerView(
        id=str(task.id), bpmn_id=task.task_spec.bpmn_id,
        name=task.task_spec.bpmn_name or definition.name or task.task_spec.bpmn_id,
        kind=kind,  # type: ignore[arg-type]
        due_at=TimerEventDefinition.get_datetime(value),
        attached_to=attached,
        interrupting=bool(getattr(task.task_spec, "cancel_activity", True)),
        dated=_dated(case, task, rule) if case is not None and (
            rule := _props(task).get("timerRelative")) else None,
    )


def _attached_step(task: SpiffTask) -> str | None:
    """The human step a boundary timer (or the branch that follows it) hangs on."""
    node: SpiffTask = task
    while node.parent is not None and not getattr(node.task_spec, "manual", False):
        if type(node.parent.task_spec).__name__ == "BoundaryEventSplit":
            if type(node.task_spec).__name__ != "BoundaryEvent":
                return None
            for child in node.parent.children:
                if getattr(child.task_spec, "manual", False):
                    return str(child.task_spec.bpmn_id)
            return None
        node = node.parent
    return None


def _describe(exc: Exception) -> str:
    if isinstance(exc, expressions.ExpressionError):
        return render(exc.code, "fr", {"detail": exc.detail})
    inner = getattr(exc, "exception", None)
    if isinstance(inner, expressions.ExpressionError):
        return _describe(inner)
    return str(exc.args[0]) if exc.args else type(exc).__name__
