"""From a circuit bundle (bytes) to a runnable, checked circuit, or the list of problems.

Order: safe XML parse, XSD (every error, with lines), forms, our rules
(``engine.core.rules``), then SpiffWorkflow's own parse, whose exceptions are translated
into located problems. Nothing here evaluates diagram text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

from engine.core import bpmnxml, calendar, forms, rules
from engine.core.bpmnxml import Document, camunda_fields, properties, where
from engine.core.bundles import CircuitBundle, Part, Period, Role, safe_name
from engine.core.messages import reason
from engine.core.problems import Problem, has_errors
from engine.core.spiff import compat, serializer
from engine.errors import ProcessDefinitionError

_ENGINE_MESSAGES = {
    "No start event found": "bpmn.no_start",
    "Multiple outgoing flows are not supported": "bpmn.multiple_outgoing",
    "Non-default exclusive outgoing sequence flow without condition":
        "bpmn.flow_without_condition",
    "When looking for a task spec": "bpmn.dangling_flow",
}


@dataclass
class CompiledCircuit:
    """A checked circuit, ready to start cases on."""

    process_id: str
    title: str
    spec: Any = field(repr=False)
    subprocess_specs: dict[str, Any] = field(repr=False)
    spec_json: str = field(repr=False)
    forms: dict[str, forms.FormSpec] = field(repr=False)
    roles: tuple[Role, ...] = ()
    # lane name → the part of the case its steps are offered to (a lane absent: the role
    # across the territory)
    lane_parts: dict[str, str] = field(default_factory=dict)
    holiday_subdivision: str | None = None
    checksum: str = ""
    warnings: list[Problem] = field(default_factory=list)
    # the main process's documentation: what the circuit is for (the new-case page)
    description: str = ""


def check(bundle: CircuitBundle) -> list[Problem]:
    """Every problem of ``bundle`` (errors and warnings), all at once."""
    return check_and_compile(bundle)[0]


def compile_circuit(bundle: CircuitBundle) -> CompiledCircuit:
    """The runnable circuit; raise ``ProcessDefinitionError`` listing every error."""
    problems, compiled = check_and_compile(bundle)
    if compiled is None:
        raise ProcessDefinitionError([p for p in problems if p.is_error])
    return compiled


def check_and_compile(bundle: CircuitBundle) -> tuple[list[Problem], CompiledCircuit | None]:
    """Every problem of ``bundle`` and, unless one is an error, the runnable circuit: both
    from one pass (the check parses and compiles anyway), for callers that need both."""
    compiled, problems = _build(bundle)
    return problems, None if compiled is None or has_errors(problems) else compiled


def _build(bundle: CircuitBundle) -> tuple[CompiledCircuit | None, list[Problem]]:
    problems: list[Problem] = []
    docs: list[Document] = []
    for name, raw in sorted(bundle.bpmn.items()):
        doc, found = bpmnxml.parse_document(name, raw)
        problems += found
        if doc is not None:
            problems += _xsd(doc)
            docs.append(doc)
    if not docs:
        return None, problems
    form_specs, form_problems = _forms(docs, bundle.forms)
    problems += form_problems + _unknown_parts(docs, form_specs, bundle.parts)
    lane_parts, lane_problems = _lane_parts(docs, bundle.parts)
    problems += lane_problems
    field_names = {n for spec in form_specs.values() for n in spec.field_names()}
    processes = _process_ids(docs, problems)
    date_fields = {f.name for spec in form_specs.values() for f in spec.fields
                   if f.kind == "date"}
    problems += _unknown_order(docs, form_specs, date_fields)
    open_dates = {f.name for spec in form_specs.values() for f in spec.fields
                  if f.kind == "date" and f.not_before != forms.TODAY}
    ctx = rules.Context(roles=bundle.roles, field_names=field_names, date_fields=date_fields,
                        processes=processes, periods=bundle.periods, open_dates=open_dates,
                        labels={f.name: f.label for spec in form_specs.values()
                                for f in spec.fields if f.kind == "date"})
    problems += rules.check_documents(docs, ctx)
    process_id = bundle.process_id or _main_process(docs, bundle.main_file, problems)
    if has_errors(problems) or process_id is None:
        return None, _sorted(problems)
    spec, subs, parse_problems = _spiff_parse(docs, process_id)
    problems += parse_problems
    if spec is None:
        return None, _sorted(problems)
    _decorate(spec, subs, docs, bundle.periods or ())
    workflow = compat.CaseWorkflow(spec, subs)
    digest = hashlib.sha256()
    for name, raw in sorted([*bundle.bpmn.items(), *bundle.forms.items()]):
        digest.update(name.encode() + b"\0" + raw + b"\0")
    compiled = CompiledCircuit(
        process_id=process_id, title=bundle.title or spec.description or process_id,
        spec=spec, subprocess_specs=subs, spec_json=serializer.dump_spec(workflow),
        forms=form_specs, roles=bundle.roles, lane_parts=lane_parts,
        holiday_subdivision=bundle.holiday_subdivision,
        checksum=digest.hexdigest(), warnings=[p for p in problems if not p.is_error],
        description=_description(docs, process_id),
    )
    return compiled, _sorted(problems)


def _description(docs: list[Document], process_id: str) -> str:
    """The documentation of process ``process_id`` (its own, not its steps'), spaces tidied."""
    for doc in docs:
        for process in doc.processes():
            if process.get("id") == process_id:
                return " ".join(bpmnxml.text_of(
                    process.find("bpmn:documentation", bpmnxml.NS)).split())
    return ""


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.file or "", p.line or 0, p.code))


def _xsd(doc: Document) -> list[Problem]:
    VALIDATOR.preprocess(doc.root)
    schema = VALIDATOR.validator
    if schema.validate(doc.root):
        return []
    return [Problem("xml.xsd", file=doc.name, line=e.line or None,
                    params={"detail": e.message}) for e in schema.error_log]


def _forms(docs: list[Document], files: dict[str, bytes]) -> tuple[dict[str, forms.FormSpec],
                                                                     list[Problem]]:
    specs: dict[str, forms.FormSpec] = {}
    problems: list[Problem] = []
    for doc in docs:
        for element in doc.root.iter():
            if not isinstance(element.tag, str) or element.get("id") is None:
                continue
            props = properties(element)
            name, ui_name = props.get("formJsonSchemaFilename"), props.get("formUiSchemaFilename")
            if name:
                problems += _json_form(doc, element, name, ui_name, files, specs)
            fields = camunda_fields(element)
            if fields:
                key = camunda_form_key(doc.name, element.get("id", ""))
                try:
                    specs[key] = forms.form_from_camunda(fields, element.get("name") or "")
                except forms.FormError as exc:
                    problems.append(where(doc, element, "bpmn.form_invalid",
                                          name="camunda:formData",
                                          reason=reason(exc.code, exc.detail)))
    return specs, problems


def _unknown_order(docs: list[Document], specs: dict[str, forms.FormSpec],
                   date_fields: set[str]) -> list[Problem]:
    """A date field that may not come before a date no form of the circuit asks for
    (``x-aiguillage-not-before``): an error at the step that shows the form."""
    problems = []
    for doc, element, name, spec in _form_steps(docs, specs):
        for ordered in spec.fields:
            if ordered.not_before and ordered.not_before != forms.TODAY \
                    and ordered.not_before not in date_fields:
                problems.append(where(doc, element, "bpmn.form_not_before_unknown", form=name,
                                      field=ordered.label, other=ordered.not_before))
    return problems


def _form_steps(docs: list[Document], specs: dict[str, forms.FormSpec]
                ) -> Iterator[tuple[Document, Any, str, forms.FormSpec]]:
    """(document, element, form file, form) of each element that shows a known form."""
    for doc in docs:
        for element in doc.root.iter():
            if not isinstance(element.tag, str) or element.get("id") is None:
                continue
            name = properties(element).get("formJsonSchemaFilename") or ""
            spec = specs.get(name)
            if spec is not None:
                yield doc, element, name, spec


def _unknown_parts(docs: list[Document], specs: dict[str, forms.FormSpec],
                   parts: tuple[Part, ...] | None) -> list[Problem]:
    """A form field naming a part the territory does not declare, as the organisation it asks
    for (``x-aiguillage-part``) or among the parts its answer grants consent to
    (``x-aiguillage-consent``): an error at the step that shows the form (not checked when
    the parts are not known)."""
    if parts is None:
        return []
    known = {p.key for p in parts}
    listed = _listed(parts)
    problems = []
    for doc, element, name, spec in _form_steps(docs, specs):
        for named in spec.part_fields():
            if named.part not in known:
                problems.append(where(
                    doc, element, "bpmn.form_unknown_part", field=named.name, part=named.part,
                    parts=listed))
        for granting in spec.consent_fields():
            assert granting.consent is not None
            for part in granting.consent.parts:
                if part not in known:
                    problems.append(where(
                        doc, element, "bpmn.form_consent_unknown_part", form=name,
                        field=granting.name, part=part, parts=listed))
    return problems


def _lane_parts(docs: list[Document], parts: tuple[Part, ...] | None,
                ) -> tuple[dict[str, str], list[Problem]]:
    """Lane name → the part its steps are offered to; an error at each lane naming a part
    the territory does not declare (when the parts are known), and at a lane bound to
    another part than a lane of the same name (steps find their part by lane name)."""
    known = None if parts is None else {p.key for p in parts}
    bound: dict[str, str] = {}
    problems: list[Problem] = []
    for doc in docs:
        for lane, name, part in bpmnxml.lanes(doc):
            if part is None:
                continue
            if known is not None and part not in known:
                problems.append(where(doc, lane, "bpmn.lane_unknown_part", lane=name, part=part,
                                      parts=_listed(parts or ())))
            elif bound.setdefault(name, part) != part:
                problems.append(where(doc, lane, "bpmn.lane_part_conflict", lane=name, part=part,
                                      other=bound[name]))
    return bound, problems


def _listed(parts: tuple[Part, ...]) -> str:
    return ", ".join(f"{p.key} ({p.label})" for p in parts) or "aucune"


def camunda_form_key(file: str, element_id: str) -> str:
    """The key under which an element's Camunda form is stored."""
    return f"camunda:{file}#{element_id}"


def _json_form(doc: Document, element: etree._Element, name: str, ui_name: str | None,
               files: dict[str, bytes], specs: dict[str, forms.FormSpec]) -> list[Problem]:
    if name in specs:
        return []
    for wanted in filter(None, (name, ui_name)):
        if not safe_name(wanted):
            return [where(doc, element, "file.unsafe_name", name=wanted)]
        if wanted not in files:
            return [where(doc, element, "bpmn.form_missing", name=wanted)]
    try:
        specs[name] = forms.load_json_form(files[name], files[ui_name] if ui_name else None)
    except forms.FormError as exc:
        return [where(doc, element, "bpmn.form_invalid", name=name,
                      reason=reason(exc.code, exc.detail))]
    return []


def _process_ids(docs: list[Document], problems: list[Problem]) -> set[str]:
    seen: dict[str, str] = {}
    for doc in docs:
        for process in doc.processes():
            pid = process.get("id")
            if pid and pid in seen:
                problems.append(where(doc, process, "bpmn.duplicate_process", process=pid))
            elif pid:
                seen[pid] = doc.name
    return set(seen)


def _main_process(docs: list[Document], main_file: str, problems: list[Problem]) -> str | None:
    doc = next((d for d in docs if d.name == main_file), docs[0])
    executable = [str(p.get("id")) for p in doc.processes()
                  if p.get("id") and p.get("isExecutable") == "true"]
    if not executable:
        problems.append(Problem("bpmn.no_process", file=doc.name))
        return None
    return executable[0]


def _spiff_parse(docs: list[Document], process_id: str) -> tuple[Any, dict[str, Any],
                                                                   list[Problem]]:
    parser = SpiffBpmnParser(validator=None)
    by_name = {d.name: d for d in docs}
    try:
        for doc in docs:
            parser.add_bpmn_xml(doc.root, filename=doc.name)
        spec = parser.get_spec(process_id)
        subs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        if isinstance(exc.__cause__ or exc.__context__, RecursionError) or \
                "RecursionError" in str(exc):  # the library parses a path recursively
            return None, {}, [Problem("bpmn.too_deep", file=exc.file_name or None)]
        return None, {}, [_translate(exc, by_name)]
    except RecursionError:
        return None, {}, [Problem("bpmn.too_deep")]
    except SpiffWorkflowException as exc:
        return None, {}, [Problem("bpmn.engine", params={"detail": str(exc)})]
    return spec, subs, []


def _translate(exc: ValidationException, docs: dict[str, Document]) -> Problem:
    raw = str(exc.args[0]) if exc.args else str(exc)
    code = next((c for prefix, c in _ENGINE_MESSAGES.items() if raw.startswith(prefix)),
                "bpmn.engine")
    doc = docs.get(exc.file_name or "")
    line = None
    if doc is not None and exc.id:
        found = doc.root.xpath("//*[@id=$id]", id=exc.id)
        line = found[0].sourceline if found else None
    return Problem(code, file=exc.file_name or None, line=line, element_id=exc.id or None,
                   element_name=exc.name or None, params={"detail": raw})


def _decorate(spec: Any, subs: dict[str, Any], docs: Iterable[Document],
              periods: Iterable[Period] = ()) -> None:
    """Put our reading of each element's properties and forms onto the task specs, and make
    timers read the workflow clock. Extensions are serialized with the spec: a step's
    ``period`` rule carries the period's bounds, which the territory row does not hold."""
    by_key = {p.key: p for p in periods}
    index = {(d.name, e.get("id")): (d, e) for d in docs for e in d.root.iter()
             if isinstance(e.tag, str) and e.get("id")}
    for process in [spec, *subs.values()]:
        for task_spec in process.task_specs.values():
            compat.use_clocked_timers(task_spec)
            found = index.get((process.file, getattr(task_spec, "bpmn_id", None)))
            if found is None:
                continue
            doc, element = found
            extensions = dict(getattr(task_spec, "extensions", None) or {})
            extensions["properties"] = properties(element)
            rule = calendar.parse_period_rule(extensions["properties"].get("period") or "")
            period = by_key.get(rule[1]) if rule else None
            if rule and period:
                extensions["period"] = {"rule": rule[0], "key": period.key,
                                        "from": period.start, "to": period.end}
            if camunda_fields(element):
                extensions["camunda_form"] = camunda_form_key(doc.name, element.get("id"))
            task_spec.extensions = extensions
