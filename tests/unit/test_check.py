"""The circuit check: a corpus of bad diagrams, each refused with a located, specific
problem, never a traceback or a hang; and diagrams from other modelers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.core.bundles import MAX_FILE_BYTES, CircuitBundle
from engine.core.loader import load_path
from engine.core.problems import Problem
from engine.core.spiff.compiler import check, compile_circuit
from engine.core.spiff.runner import Instance
from engine.errors import ProcessDefinitionError
from tests.conftest import MINI, mini_bundle

MODELERS = Path(__file__).parent / "fixtures" / "modelers"


def mutated(old: str | list[str], new: str | list[str], file: str = "mini.bpmn") -> CircuitBundle:
    base = mini_bundle()
    text = base.bpmn[file].decode()
    olds, news = ([old], [new]) if isinstance(old, str) else (old, new)
    for before, after in zip(olds, news, strict=True):
        assert before in text, before
        text = text.replace(before, after, 1)
    return replace(base, bpmn={**base.bpmn, file: text.encode()})


def errors(bundle: CircuitBundle) -> list[Problem]:
    return [p for p in check(bundle) if p.is_error]


def only(bundle: CircuitBundle, code: str) -> Problem:
    found = [p for p in errors(bundle) if p.code == code]
    assert found, [p.format() for p in check(bundle)]
    return found[0]


def test_the_test_circuit_is_clean() -> None:
    assert check(mini_bundle()) == []


CORPUS = [
    # (description, old text, new text, expected code, element id)
    ("script task",
     ['<bpmn:userTask id="escalade"', "<bpmn:outgoing>f_esc</bpmn:outgoing>\n    </bpmn:userTask>"],
     ['<bpmn:scriptTask id="escalade"', "<bpmn:outgoing>f_esc</bpmn:outgoing>\n    </bpmn:scriptTask>"],
     "bpmn.unsupported", "escalade"),
    ("pre-script", "<spiffworkflow:properties>\n          <spiffworkflow:property name=\"formJsonSchemaFilename\" value=\"mini-decision.json\" />",
     "<spiffworkflow:preScript>import os</spiffworkflow:preScript><spiffworkflow:properties>\n          <spiffworkflow:property name=\"formJsonSchemaFilename\" value=\"mini-decision.json\" />",
     "bpmn.script", "decision"),
    ("escaping condition", "decision == 'acceptee'",
     "().__class__.__base__.__subclasses__() and decision == 'acceptee'",
     "bpmn.condition", "f_ok"),
    ("import in condition", "decision == 'acceptee'", "__import__('os').system('id') == 0",
     "bpmn.condition", "f_ok"),
    ("Camunda JUEL condition", "decision == 'acceptee'", "${decision == 'acceptee'}",
     "bpmn.condition", "f_ok"),
    ("unquoted timer", '>"P10D"<', ">P10D<", "bpmn.timer_unquoted", "relance_timer"),
    ("invalid duration", '>"P10D"<', '>"P3X"<', "bpmn.timer", "relance_timer"),
    ("timer that escapes", '>"P10D"<', ">__import__('os').system('id') and 'P1D'<",
     "bpmn.timer", "relance_timer"),
    ("naive date", '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P10D"</bpmn:timeDuration>',
     '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">"2027-01-15T09:00:00"</bpmn:timeDate>',
     "bpmn.timer", "relance_timer"),
    ("date where a duration belongs", '>"P10D"<', '>"2027-01-15T09:00:00Z"<', "bpmn.timer",
     "relance_timer"),
    ("missing process id", '<bpmn:process id="mini"', '<bpmn:process', "bpmn.process_no_id", None),
    ("not executable", 'isExecutable="true"', 'isExecutable="false"', "bpmn.not_executable",
     "mini"),
    ("unknown lane", 'name="operateur"', 'name="Psychologue"', "bpmn.unknown_lane", "decision"),
    ("no lane", "<bpmn:flowNodeRef>decision</bpmn:flowNodeRef>", "", "bpmn.no_lane", "decision"),
    ("gateway without default", ' default="f_retour"', "", "bpmn.no_default", "gw"),
    ("missing form", 'value="mini-decision.json"', 'value="absent.json"', "bpmn.form_missing",
     "decision"),
    ("form outside forms/", 'value="mini-decision.json"', 'value="../../etc/passwd"',
     "file.unsafe_name", "decision"),
    ("bad deadline", 'name="dueInWorkingDays" value="2"', 'name="dueInWorkingDays" value="deux"',
     "bpmn.deadline", "analyse"),
    ("bad dueIn", 'name="dueInWorkingDays" value="2"', 'name="dueIn" value="15 jours"',
     "bpmn.deadline", "analyse"),
    ("unresolved call", 'calledElement="mini_commission"', 'calledElement="fantome"',
     "bpmn.call_unresolved", "commission"),
    ("two start events", '<bpmn:endEvent id="end_ok"',
     '<bpmn:startEvent id="start2"><bpmn:outgoing>f_x</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:sequenceFlow id="f_x" sourceRef="start2" targetRef="analyse" /><bpmn:endEvent id="end_ok"',
     "bpmn.multiple_start", "start2"),
    ("message event", '<bpmn:timerEventDefinition id="td_rel">',
     '<bpmn:messageEventDefinition id="m1" /><bpmn:timerEventDefinition id="td_rel">',
     "bpmn.message_undeclared", "relance_timer"),
    ("complex gateway",
     ['<bpmn:exclusiveGateway id="gw" name="Décision ?" default="f_retour">', "</bpmn:exclusiveGateway>"],
     ['<bpmn:complexGateway id="gw" name="Décision ?">', "</bpmn:complexGateway>"],
     "bpmn.unsupported", "gw"),
    ("dangling flow reference", "<bpmn:outgoing>f3</bpmn:outgoing>",
     "<bpmn:outgoing>f_absent</bpmn:outgoing>", "bpmn.missing_flow", "decision"),
    ("unreachable end", '<bpmn:sequenceFlow id="f_c2" sourceRef="commission" targetRef="end_commission" />',
     "", "bpmn.unreachable", "end_commission"),
    ("unknown notify", 'name="notify" value="assignee"', 'name="notify" value="tout_le_monde"',
     "bpmn.notify", "relance"),
    ("unknown attribute", '<bpmn:userTask id="escalade"', '<bpmn:userTask assignee="bob" id="escalade"',
     "xml.xsd", None),
]


@pytest.mark.parametrize(("old", "new", "code", "element"),
                         [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_bad_diagrams_get_a_located_specific_problem(old: str, new: str, code: str,
                                                     element: str | None) -> None:
    problem = only(mutated(old, new), code)
    assert problem.file == "mini.bpmn"
    assert problem.line is not None and problem.line > 1
    if element:
        assert problem.element_id == element
    assert problem.message("fr") and problem.message("en")
    assert problem.message("fr") != problem.code
    with pytest.raises(ProcessDefinitionError):
        compile_circuit(mutated(old, new))


def test_all_problems_are_reported_at_once() -> None:
    bundle = mutated(' default="f_retour"', "")
    text = bundle.bpmn["mini.bpmn"].decode().replace('>"P10D"<', ">P10D<").replace(
        'name="operateur"', 'name="Psychologue"')
    codes = {p.code for p in errors(replace(bundle, bpmn={**bundle.bpmn,
                                                          "mini.bpmn": text.encode()}))}
    assert {"bpmn.no_default", "bpmn.timer_unquoted", "bpmn.unknown_lane"} <= codes


@pytest.mark.parametrize(("raw", "code"), [
    (b"<bpmn:definitions xmlns:bpmn='x'><unclosed></bpmn:definitions>", "xml.syntax"),
    (b"", "xml.empty"),
    (b"<?xml version='1.0'?><!DOCTYPE d [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>"
     b"<d>&xxe;</d>", "xml.doctype"),
    (b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>" +
     b"".join(b"<!ENTITY lol%d '&lol%d;&lol%d;&lol%d;&lol%d;'>" % (i + 1, i, i, i, i)
              for i in range(9)) + b"]><lolz>&lol9;</lolz>", "xml.doctype"),
    (b"<html><body>hello</body></html>", "xml.not_bpmn"),
    (b"<x/>" + b" " * (MAX_FILE_BYTES + 1), "xml.too_big"),
])
def test_hostile_or_broken_files_are_refused_without_parsing_them(raw: bytes, code: str) -> None:
    bundle = replace(mini_bundle(), bpmn={"mini.bpmn": raw})
    assert [p.code for p in check(bundle)] == [code]


def test_invalid_form_file_is_reported_on_the_step() -> None:
    base = mini_bundle()
    bundle = replace(base, forms={**base.forms, "mini-decision.json": b"{not json"})
    problem = only(bundle, "bpmn.form_invalid")
    assert problem.element_id == "decision"


def test_unbounded_loop_is_a_warning() -> None:
    bundle = mutated("decision == 'refusee' and passages['decision'] &gt;= 2",
                     "decision == 'refusee' and nb_refus &gt;= 2")
    codes = {(p.code, p.severity) for p in check(bundle)}
    assert ("bpmn.loop_unbounded", "warning") in codes
    assert ("bpmn.condition_name", "warning") in codes


def test_camunda_modeler_diagram_runs_with_its_form() -> None:
    loaded = load_path(MODELERS, MINI / "forms")
    bundle = dict(loaded.bundles)["modelers/camunda-modeler.bpmn"]
    assert errors(bundle) == []
    from datetime import UTC, datetime

    from engine.clock import FixedClock
    case = Instance.start(compile_circuit(bundle), {}, FixedClock(datetime(2026, 1, 5, tzinfo=UTC)))
    [task] = case.ready_tasks()
    assert task.role == "aller_vers"
    assert (task.due_at - task.ready_at).days == 2
    form = case.form_for(task.id)
    assert form is not None and [f.name for f in form.fields][:2] == ["visit_date",
                                                                     "children_present"]
    case.complete(task.id, {"visit_date": "2026-01-06", "risk": "high"})
    assert case.end() is not None and case.end().bpmn_id == "EndEvent_1"


def test_bpmn_io_default_diagram_is_refused_with_reasons() -> None:
    loaded = load_path(MODELERS, MINI / "forms")
    codes = {p.code for p in errors(dict(loaded.bundles)["modelers/bpmn-io.bpmn"])}
    assert {"bpmn.not_executable", "bpmn.no_lane"} <= codes


def test_spiff_arena_diagram_scripts_are_refused() -> None:
    loaded = load_path(MODELERS, MINI / "forms")
    found = errors(dict(loaded.bundles)["modelers/spiff-arena.bpmn"])
    assert {(p.code, p.element_id) for p in found} >= {
        ("bpmn.unsupported", "Activity_score"), ("bpmn.script", "Activity_form"),
        ("bpmn.form_missing", "Activity_form")}
