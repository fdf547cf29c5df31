"""Circuit rules checked on the XML itself, beyond what SpiffWorkflow checks.

Each rule walks the parsed documents and yields ``Problem``s located at the element at
fault (file, source line, id, name). The library's own parse runs after these, in
``engine.core.spiff.compiler``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree

from engine.core import calendar, expressions, session_plans, text, timers
from engine.core.bpmnxml import (
    BPMN,
    CAMUNDA,
    NS,
    SPIFF,
    Document,
    flow_nodes,
    is_bpmn,
    lanes_by_node,
    local,
    properties,
    text_of,
    where,
)
from engine.core.bundles import Period, Role, role_for_lane
from engine.core.messages import reason
from engine.core.problems import Problem

HUMAN = ("userTask", "manualTask", "task")  # SpiffWorkflow runs a none task as a human step
UNSUPPORTED = {
    "scriptTask": "tâche de script", "serviceTask": "tâche de service",
    "businessRuleTask": "tâche de règle métier (DMN)", "sendTask": "tâche d'envoi",
    "eventBasedGateway": "passerelle basée sur événements",
    "complexGateway": "passerelle complexe", "dataStoreReference": "magasin de données",
    "transaction": "transaction", "adHocSubProcess": "sous-processus ad hoc",
    "signalEventDefinition": "signal",
    "errorEventDefinition": "erreur", "escalationEventDefinition": "escalade BPMN",
    "compensateEventDefinition": "compensation", "conditionalEventDefinition": "condition",
    "linkEventDefinition": "lien", "cancelEventDefinition": "annulation",
    "correlationProperty": "propriété de corrélation (un message est rapproché de son dossier "
                           "par la référence du dossier et le nom du message)",
}
# where a message may be awaited (``engine.core.spiff.runner.Instance.receive``); elsewhere
# (a start event, a throw or end event) it is refused with its reason
MESSAGE_CATCHERS = ("intermediateCatchEvent", "boundaryEvent")
MESSAGE_FORM = "formJsonSchemaFilename"  # the payload's form, as a step's
MESSAGE_FROM = "from"  # lane roles that may send it (coordination always may, by hand)
MESSAGE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,79}")
SCRIPT_EXTENSIONS = {
    f"{{{SPIFF}}}preScript": "preScript", f"{{{SPIFF}}}postScript": "postScript",
    f"{{{SPIFF}}}serviceTaskOperator": "serviceTaskOperator",
    f"{{{SPIFF}}}calledDecisionId": "calledDecisionId", f"{{{CAMUNDA}}}script": "camunda:script",
    f"{{{CAMUNDA}}}executionListener": "camunda:executionListener",
    f"{{{CAMUNDA}}}taskListener": "camunda:taskListener",
}
NOTIFY_FIXED = {"assignee", "coordination"}
# a throw event's ``orientation`` property: what it does to the case's orientations
EXPIRE = "expire"  # those awaiting the operator's answer become « expirée »
ORIENTATION_EFFECTS = {EXPIRE: "l'orientation en attente expire"}
COUNTER = "passages"


@dataclass
class Context:
    """What the rules need besides the documents."""

    roles: tuple[Role, ...]
    field_names: set[str] = field(default_factory=set)
    date_fields: set[str] | None = None  # None: not known, the field is not checked
    processes: set[str] = field(default_factory=set)
    periods: tuple[Period, ...] | None = None  # None: not known, a step's period unchecked
    # date fields a form may answer with a day before the case opened (no
    # ``x-aiguillage-not-before: "today"``): a deadline « avant » them may be past at once
    open_dates: set[str] = field(default_factory=set)
    labels: dict[str, str] = field(default_factory=dict)  # field name → its form's title


def check_documents(docs: list[Document], ctx: Context) -> list[Problem]:
    """Every rule over every document."""
    problems: list[Problem] = []
    for doc in docs:
        lanes = lanes_by_node(doc)
        for process in doc.processes():
            problems += _process(doc, process)
            for scope in [process, *process.iter(f"{{{BPMN}}}subProcess")]:
                problems += _scope(doc, scope, ctx)
            problems += _size(doc, process)
            problems += _loops(doc, process)
            problems += _connections(doc, process)
        for element in doc.root.iter():
            if isinstance(element.tag, str):
                problems += _element(doc, element, ctx, lanes)
    return problems


def _process(doc: Document, process: etree._Element) -> list[Problem]:
    out = []
    if not process.get("id"):
        out.append(where(doc, process, "bpmn.process_no_id"))
    elif process.get("isExecutable") != "true":
        out.append(where(doc, process, "bpmn.not_executable"))
    if not list(process.iter(f"{{{BPMN}}}endEvent")):
        out.append(where(doc, process, "bpmn.no_end"))
    return out


def _scope(doc: Document, scope: etree._Element, ctx: Context) -> list[Problem]:
    starts = [n for n in flow_nodes(scope) if is_bpmn(n, "startEvent")]
    if len(starts) > 1:
        return [where(doc, s, "bpmn.multiple_start") for s in starts[1:]]
    return []


def _element(doc: Document, el: etree._Element, ctx: Context,  # noqa: C901 - a rule table
             lanes: dict[str, str]) -> Iterator[Problem]:
    name = local(el)
    if el.tag in SCRIPT_EXTENSIONS:
        owner = el.getparent().getparent() if el.getparent() is not None else el
        yield where(doc, owner if owner is not None else el, "bpmn.script",
                    what=SCRIPT_EXTENSIONS[el.tag])
        return
    if not el.tag.startswith(f"{{{BPMN}}}"):
        return
    if name in UNSUPPORTED:
        target = el.getparent() if name.endswith("EventDefinition") else el
        yield where(doc, target if target is not None else el, "bpmn.unsupported",
                    what=UNSUPPORTED[name])
    elif name in ("standardLoopCharacteristics", "multiInstanceLoopCharacteristics"):
        yield where(doc, el.getparent(), "bpmn.multi_instance")
    elif name == "subProcess" and el.get("triggeredByEvent") == "true":
        yield where(doc, el, "bpmn.event_subprocess")
    elif name == "startEvent" and el.find("bpmn:timerEventDefinition", NS) is not None:
        yield from _timer_start(doc, el)
    elif name in HUMAN:
        yield from _human(doc, el, ctx, lanes)
    elif name in ("exclusiveGateway", "inclusiveGateway"):
        yield from _gateway(doc, el)
    elif name == "sequenceFlow":
        yield from _condition(doc, el, ctx)
    elif name == "timerEventDefinition":
        yield from _timer(doc, el, ctx)
    elif name == "messageEventDefinition":
        yield from _message_event(doc, el, ctx)
    elif name == "receiveTask":
        yield from _message_ref(doc, el, el, ctx)
    elif name == "callActivity":
        called = el.get("calledElement")
        if not called or called not in ctx.processes:
            yield where(doc, el, "bpmn.call_unresolved", process=called or "?")
    if name in ("intermediateThrowEvent", "task", "endEvent"):
        yield from _notify(doc, el, ctx)
    if el.tag.startswith(f"{{{BPMN}}}"):
        yield from _orientation(doc, el)


def _message_event(doc: Document, definition: etree._Element, ctx: Context) -> Iterator[Problem]:
    """A message is awaited by an intermediate catch event or a boundary event (of a step);
    a message start, throw or end event is refused with its reason."""
    owner = definition.getparent()
    if owner is None:
        return
    kind = local(owner)
    if kind == "startEvent":
        yield where(doc, owner, "bpmn.message_start")
    elif kind not in MESSAGE_CATCHERS:
        yield where(doc, owner, "bpmn.message_throw")
    else:
        yield from _message_ref(doc, definition, owner, ctx)


def _message_ref(doc: Document, ref_holder: etree._Element, owner: etree._Element,
                 ctx: Context) -> Iterator[Problem]:
    """The awaited message is a declared ``bpmn:message`` whose name can be sent (it is the
    last part of the address the API receives it on); ``from`` names roles of the
    territory."""
    ref = ref_holder.get("messageRef")
    found = doc.root.xpath("//bpmn:message[@id=$id]", namespaces=NS, id=ref) if ref else []
    if not found:
        yield where(doc, owner, "bpmn.message_undeclared", ref=ref or "")
    else:
        name = found[0].get("name") or ""
        if not MESSAGE_NAME.fullmatch(name):
            yield where(doc, owner, "bpmn.message_name", ref=ref or "", value=name)
    senders = properties(owner).get(MESSAGE_FROM)
    if senders is not None:
        known = {r.key for r in ctx.roles}
        for role in (r.strip() for r in senders.split(",")):
            if role not in known:
                yield where(doc, owner, "bpmn.message_from", value=role,
                            roles=", ".join(sorted(known)) or "aucun")


def _lane_of(el: etree._Element, lanes: dict[str, str]) -> str | None:
    node: etree._Element | None = el
    while node is not None:
        if node.get("id") in lanes:
            return lanes[node.get("id", "")]
        node = node.getparent()
    return None


def _human(doc: Document, el: etree._Element, ctx: Context,
           lanes: dict[str, str]) -> Iterator[Problem]:
    lane = _lane_of(el, lanes)
    if lane is None:
        yield where(doc, el, "bpmn.no_lane")
    elif role_for_lane(ctx.roles, lane) is None:
        known = ", ".join(f"{r.key} ({r.label})" for r in ctx.roles) or "aucun"
        yield where(doc, el, "bpmn.unknown_lane", lane=lane, roles=known)
    props = properties(el)
    yield from _due(doc, el, props, ctx)
    instructions = el.find("bpmn:extensionElements/spiffworkflow:instructionsForEndUser", NS)
    documentation = el.find("bpmn:documentation", NS)
    if not text_of(documentation) and instructions is None:
        yield where(doc, el, "bpmn.no_documentation", severity="warning")
    for source in (documentation, instructions):
        for refused in text.check_template(text_of(source)):
            yield where(doc, el, "bpmn.instructions_as_written" if refused.warning else
                        "bpmn.instructions", severity="warning" if refused.warning else "error",
                        reason=reason(refused.code, refused.detail))


def _due(doc: Document, el: etree._Element, props: dict[str, str],
         ctx: Context) -> Iterator[Problem]:
    """A deadline is a number and a unit (``dueIn``) or a number of working days, in the words
    the modeler's panel uses for the same mistake; one counted from a date of the case
    (``dueRelative``) names a date field of one of the circuit's forms."""
    due_in = props.get("dueIn")
    working = props.get("dueInWorkingDays")
    step = el.get("name") or el.get("id") or "?"
    relative = props.get("dueRelative")
    found = None if relative is None else timers.relative_problem(relative, ctx.date_fields,
                                                                 ctx.field_names)
    if found:
        yield where(doc, el, "bpmn.deadline", step=step, reason=reason(*found))
    elif relative is not None:
        yield from _before_opening(doc, el, relative, "bpmn.deadline_before_opening", step, ctx)
    for value, working_days in ((due_in, False), (working, True)):
        code = None if value is None else timers.deadline_problem(value, working_days)
        if code:
            yield where(doc, el, "bpmn.deadline", step=step, reason=reason(code))
    if due_in is not None and working is not None:
        yield where(doc, el, "bpmn.deadline_both", severity="warning", step=step)
    if props.get("period") is not None:
        own = relative is not None or due_in is not None or working is not None
        yield from _period(doc, el, props["period"], own, step, ctx)


def _before_opening(doc: Document, el: etree._Element, value: str, code: str, name: str,
                    ctx: Context) -> Iterator[Problem]:
    """A deadline or timer counted « avant » a date a form may answer with a day before the
    case opened: it would be past at once (a warning, suggesting the form's constraint)."""
    rel = timers.parse_relative(value)
    if rel.sign < 0 and rel.field in ctx.open_dates:
        yield where(doc, el, code, severity="warning", name=name,
                    counted=timers.describe_relative(rel, ctx.labels.get(rel.field)))


def _period(doc: Document, el: etree._Element, value: str, own_deadline: bool, step: str,
            ctx: Context) -> Iterator[Problem]:
    """A step's ``period`` rule (``shift:treve_hivernale``) names a period of the territory
    and a deadline of the step's own to move."""
    found = calendar.parse_period_rule(value)
    rule, _, key = value.partition(":")
    if found is None and rule.strip() in calendar.PERIOD_RULES and not key.strip():
        yield where(doc, el, "bpmn.period_names_nothing", step=step, value=value.strip())
        return
    if found is None:
        yield where(doc, el, "bpmn.period_format", step=step, value=value.strip())
        return
    if not own_deadline:
        yield where(doc, el, "bpmn.period_no_deadline", step=step, value=value.strip())
    if ctx.periods is not None and found[1] not in {p.key for p in ctx.periods}:
        known = ", ".join(p.key for p in ctx.periods) or "aucune"
        yield where(doc, el, "bpmn.period_unknown", step=step, period=found[1], known=known,
                    value=value.strip())


def _gateway(doc: Document, el: etree._Element) -> Iterator[Problem]:
    outgoing = [f for f in doc.root.iter(f"{{{BPMN}}}sequenceFlow")
                if f.get("sourceRef") == el.get("id")]
    if local(el) == "exclusiveGateway" and len(outgoing) > 1 and not el.get("default"):
        yield where(doc, el, "bpmn.no_default")


def _condition(doc: Document, flow: etree._Element, ctx: Context) -> Iterator[Problem]:
    cond = flow.find("bpmn:conditionExpression", NS)
    if cond is None:
        return
    text = text_of(cond)
    try:
        if text.startswith("${") or text.startswith("#{"):
            raise expressions.ExpressionError("expr.syntax", "expression Camunda (JUEL)")
        read = expressions.names(text)
    except expressions.ExpressionError as exc:
        yield where(doc, flow, "bpmn.condition", expression=text, reason=reason(exc.code,
                                                                                 exc.detail))
        return
    for missing in sorted(read - ctx.field_names - {COUNTER}):
        yield where(doc, flow, "bpmn.condition_name", severity="warning", expression=text,
                    name=missing)


def _timer_start(doc: Document, start: etree._Element) -> Iterator[Problem]:
    """A timer start event plans the commission's sessions: only a cycle with a bound and a
    first date (``R12/2027-01-05T14:00:00+01:00/P1M``), its properties readable
    (``engine.core.session_plans``)."""
    cycle = start.find("bpmn:timerEventDefinition/bpmn:timeCycle", NS)
    if cycle is None:
        yield where(doc, start, "bpmn.timer_start")
        return
    try:
        session_plans.plan_of(start.get("id") or "", start.get("name") or "",
                              text_of(cycle).strip().strip('"'), properties(start))
    except session_plans.PlanError as exc:
        yield where(doc, start, "bpmn.timer_start_plan", reason=str(exc))


def _timer(doc: Document, definition: etree._Element, ctx: Context) -> Iterator[Problem]:
    owner = definition.getparent()
    found = [(k, definition.find(f"bpmn:{tag}", NS)) for k, tag in
             (("duration", "timeDuration"), ("date", "timeDate"), ("cycle", "timeCycle"))]
    present = [(k, e) for k, e in found if e is not None]
    props = properties(owner) if owner is not None else {}
    if props.get("timerRelative") is not None:
        yield from _relative_timer(doc, owner, props, present, ctx)
        return
    if props.get("period") is not None:
        timer = owner.get("name") or owner.get("id") or "?"
        yield where(doc, owner, "bpmn.period_no_deadline", step=timer,
                    value=props["period"].strip())
    if not present or not text_of(present[0][1]):
        yield where(doc, owner, "bpmn.timer", expression="", reason=reason("timer.empty"))
        return
    kind, element = present[0]
    text = text_of(element)
    yield from _timer_value(doc, owner, text, kind)  # type: ignore[arg-type]


def _relative_timer(doc: Document, owner: etree._Element, props: dict[str, str],
                    present: list[tuple[str, etree._Element | None]],
                    ctx: Context) -> Iterator[Problem]:
    """A timer counted from a date of the case (``timerRelative``): a readable value naming a
    date field; its own value left empty (``timeDate``, the engine fills it) or a fallback
    duration (``timeDuration``, used while the date is not answered)."""
    timer = owner.get("name") or owner.get("id") or "?"
    found = timers.relative_problem(props["timerRelative"], ctx.date_fields, ctx.field_names)
    if found:
        yield where(doc, owner, "bpmn.timer_relative", timer=timer, reason=reason(*found))
    else:
        yield from _before_opening(doc, owner, props["timerRelative"],
                                   "bpmn.timer_before_opening", timer, ctx)
    kind, element = present[0] if present else ("date", None)
    own = text_of(element) if element is not None else ""
    if kind == "duration" and own:
        yield from _timer_value(doc, owner, own, "duration")
    elif own or kind == "cycle":
        yield where(doc, owner, "bpmn.timer_relative_own", timer=timer)
    if props.get("period") is not None:
        yield from _period(doc, owner, props["period"], True, timer, ctx)


def _timer_value(doc: Document, owner: etree._Element, text: str,
                 kind: timers.TimerKind) -> Iterator[Problem]:
    try:
        tree = expressions.parse(text)
    except expressions.ExpressionError as exc:
        if _looks_iso(text):
            yield where(doc, owner, "bpmn.timer_unquoted", expression=text)
        else:
            yield where(doc, owner, "bpmn.timer", expression=text,
                        reason=reason(exc.code, exc.detail))
        return
    body = tree.body
    if isinstance(body, ast.Constant) and isinstance(body.value, str):
        try:
            timers.check_for_kind(body.value, kind)
        except timers.TimerValueError as exc:
            yield where(doc, owner, "bpmn.timer", expression=text, reason=reason(exc.code))
    elif _looks_iso(text):
        yield where(doc, owner, "bpmn.timer_unquoted", expression=text)
    elif not isinstance(body, ast.Name):
        yield where(doc, owner, "bpmn.timer", expression=text,
                    reason=reason("timer.not_literal"))


def _looks_iso(text: str) -> bool:
    try:
        timers.classify(text)
    except timers.TimerValueError:
        return False
    return True


def _notify(doc: Document, el: etree._Element, ctx: Context) -> Iterator[Problem]:
    value = properties(el).get("notify")
    if value is None:
        return
    if value not in NOTIFY_FIXED and value not in {r.key for r in ctx.roles}:
        yield where(doc, el, "bpmn.notify", value=value)


def _orientation(doc: Document, el: etree._Element) -> Iterator[Problem]:
    """``orientation`` is known, and only on a throw event (the runner applies it when the
    event runs: on a step or a gateway it would read as something it does not do)."""
    if local(el) not in _NODES:
        return
    value = properties(el).get("orientation")
    if value is None:
        return
    if local(el) not in ("intermediateThrowEvent", "endEvent"):
        yield where(doc, el, "bpmn.orientation_where", value=value)
    elif value not in ORIENTATION_EFFECTS:
        yield where(doc, el, "bpmn.orientation", value=value,
                    known=", ".join(ORIENTATION_EFFECTS))


# --------------------------------------------------------------------------- connections

_NODES = ("userTask", "manualTask", "task", "exclusiveGateway", "inclusiveGateway",
          "parallelGateway", "callActivity", "subProcess", "intermediateThrowEvent",
          "intermediateCatchEvent", "endEvent", "startEvent", "boundaryEvent", "receiveTask")


_COUNTED = {*_NODES, "scriptTask", "serviceTask", "sendTask", "businessRuleTask",
            "eventBasedGateway", "complexGateway", "transaction", "adHocSubProcess"}
MAX_NODES = 300  # SpiffWorkflow parses a path recursively: 300 steps stay inside its limit


def _size(doc: Document, process: etree._Element) -> list[Problem]:
    """Refuse a process too big for the engine, with the limit, before the library parses it."""
    count = sum(1 for el in process.iter() if is_bpmn(el, *_COUNTED))
    if count > MAX_NODES:
        return [where(doc, process, "bpmn.too_many_nodes", count=count, limit=MAX_NODES)]
    return []


def _flow_ends(doc: Document, flows: list[etree._Element],
               ids: set[str | None]) -> list[Problem]:
    """A flow names both its ends, and both are elements of its own process or sub-process."""
    problems = []
    for flow in flows:
        for attribute, missing in (("sourceRef", "bpmn.flow_no_source"),
                                   ("targetRef", "bpmn.flow_no_target")):
            ref = flow.get(attribute)
            if not ref:
                problems.append(where(doc, flow, missing))
            elif ref not in ids:
                problems.append(where(doc, flow, "bpmn.flow_other_scope", node=ref))
    return problems


def _connections(doc: Document, process: etree._Element) -> list[Problem]:
    """Every node reachable and leading somewhere; no reference to a missing flow."""
    problems = []
    for scope in [process, *process.iter(f"{{{BPMN}}}subProcess")]:
        flows = [n for n in flow_nodes(scope) if local(n) == "sequenceFlow"]
        problems += _flow_ends(doc, flows, {n.get("id") for n in flow_nodes(scope)
                                            if local(n) != "sequenceFlow"})
        ids = {f.get("id") for f in flows}
        sources = {f.get("sourceRef") for f in flows}
        targets = {f.get("targetRef") for f in flows}
        for node in flow_nodes(scope):
            kind = local(node)
            if kind not in _NODES or (kind == "subProcess" and node.get("triggeredByEvent")):
                continue
            for ref in node.iterfind("bpmn:incoming", NS):
                if text_of(ref) not in ids:
                    problems.append(where(doc, node, "bpmn.missing_flow", flow=text_of(ref)))
            for ref in node.iterfind("bpmn:outgoing", NS):
                if text_of(ref) not in ids:
                    problems.append(where(doc, node, "bpmn.missing_flow", flow=text_of(ref)))
            if kind not in ("startEvent", "boundaryEvent") and node.get("id") not in targets:
                problems.append(where(doc, node, "bpmn.unreachable"))
            if kind != "endEvent" and node.get("id") not in sources:
                problems.append(where(doc, node, "bpmn.dead_end"))
    return problems


# --------------------------------------------------------------------------- loops

def _loops(doc: Document, process: etree._Element) -> list[Problem]:
    """Warn about cycles of the flow graph that no ``passages`` condition can leave."""
    problems = []
    for scope in [process, *process.iter(f"{{{BPMN}}}subProcess")]:
        graph, conditions, nodes = _graph(scope)
        for component in _cycles(graph):
            bounded = any(COUNTER in conditions.get(n, "") for n in component)
            if not bounded:
                first = min(component, key=lambda n: nodes[n].sourceline or 0)
                names = ", ".join(sorted(nodes[n].get("name") or n for n in component))
                problems.append(where(doc, nodes[first], "bpmn.loop_unbounded",
                                      severity="warning", elements=names))
    return problems


def _graph(scope: etree._Element) -> tuple[dict[str, set[str]], dict[str, str],
                                           dict[str, etree._Element]]:
    """Edges between the nodes of ``scope`` only: a flow with a missing end, or one that
    leaves the scope, is reported by ``_flow_ends`` and left out of the graph."""
    graph: dict[str, set[str]] = {}
    conditions: dict[str, str] = {}
    nodes = {n.get("id", ""): n for n in flow_nodes(scope) if n.get("id")}
    for node in nodes.values():
        if local(node) == "sequenceFlow":
            src, dst = node.get("sourceRef", ""), node.get("targetRef", "")
            if src not in nodes or dst not in nodes:
                continue
            graph.setdefault(src, set()).add(dst)
            conditions[src] = conditions.get(src, "") + text_of(
                node.find("bpmn:conditionExpression", NS))
        elif local(node) == "boundaryEvent" and node.get("attachedToRef") in nodes:
            graph.setdefault(node.get("attachedToRef", ""), set()).add(node.get("id", ""))
    return graph, conditions, nodes


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:  # noqa: C901 - Tarjan, one piece
    """Strongly connected components with a cycle (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[set[str]] = []
    counter = 0
    for root in list(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    item = stack.pop()
                    on_stack.discard(item)
                    component.add(item)
                    if item == node:
                        break
                if len(component) > 1 or node in graph.get(node, set()):
                    result.append(component)
    return result
