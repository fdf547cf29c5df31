"""Property-based tests (issue #10): whatever people send, only our own errors come out of
form validation, the expression check, instruction templates and the BPMN and JSON loaders."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core import bpmnxml, expressions, forms, safejson, text
from engine.core.bundles import CircuitBundle, Role
from engine.core.spiff.compiler import check

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children,
                                                                      max_size=4),
    max_leaves=20)
SCHEMA = forms.load_json_form(b"""{"type": "object", "required": ["nom"], "properties": {
  "nom": {"type": "string", "maxLength": 20},
  "nb": {"type": "integer", "minimum": 0},
  "montant": {"type": "number"},
  "ok": {"type": "boolean"},
  "quand": {"type": "string", "format": "date"},
  "choix": {"type": "string", "oneOf": [{"const": "a", "title": "A"}]},
  "plusieurs": {"type": "array", "uniqueItems": true,
                "items": {"type": "string", "enum": ["x", "y"]}},
  "groupe": {"type": "object", "properties": {"n": {"type": "integer"}}}}}""")
NAMES = ["nom", "nb", "montant", "ok", "quand", "choix", "plusieurs", "groupe", "autre"]


@FAST
@given(st.dictionaries(st.sampled_from(NAMES), JSON, max_size=6))
def test_form_validation_only_returns_messages(data: dict[str, Any]) -> None:
    errors = SCHEMA.validate(data)
    assert all(isinstance(k, str) and all(isinstance(m, str) for m in v)
               for k, v in errors.items())


@FAST
@given(st.dictionaries(st.sampled_from([f.path for f in SCHEMA.fields]),
                       st.text() | st.lists(st.text(), max_size=3), max_size=6))
def test_coercing_posted_text_only_returns_messages(raw: dict[str, Any]) -> None:
    data, errors = forms.coerce(SCHEMA, raw)
    assert isinstance(data, dict) and isinstance(errors, dict)


@FAST
@given(st.text(max_size=200) | st.text(alphabet="()[]{}'\"+-*/%<>=!&|~^.,:0123456789abc _",
                                        max_size=120))
def test_the_expression_check_only_raises_expression_errors(source: str) -> None:
    try:
        expressions.check(source)
    except expressions.ExpressionError:
        pass


@FAST
@given(st.text(alphabet="{}%#()[]~*+|.'\" abcnrgefoi0123456789", max_size=200) | st.text(
    max_size=200), st.dictionaries(st.sampled_from(["a", "b", "nom", "liste"]), JSON, max_size=4))
def test_instruction_templates_always_give_a_bounded_string(template: str,
                                                            data: dict[str, Any]) -> None:
    shown = text.render_instructions(template, template, data)
    assert isinstance(shown, str) and len(shown) <= text.MAX_INSTRUCTIONS
    assert all(isinstance(r, text.TemplateRefused) for r in text.check_template(template))


@FAST
@given(st.binary(max_size=400) | st.text(max_size=300).map(str.encode))
def test_the_json_door_only_raises_json_errors(raw: bytes) -> None:
    try:
        safejson.loads(raw)
    except safejson.JsonError:
        pass


XML_BITS = ["<", ">", "/", "=", '"', "bpmn:", "process", "definitions", "task", " id", "&",
            "<!DOCTYPE", "<?xml", "encoding='latin-1'", "?>", "\x00", "é", "\n", "<!--", "]]>"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | st.lists(st.sampled_from(XML_BITS), max_size=40).map(
    lambda parts: "".join(parts).encode("utf-8", "surrogatepass")))
def test_the_bpmn_loader_only_reports_problems(raw: bytes) -> None:
    doc, problems = bpmnxml.parse_document("x.bpmn", raw)
    assert doc is not None or problems
    found = check(CircuitBundle(None, "x.bpmn", {"x.bpmn": raw},
                                roles=(Role("coordination", "Coordination"),)))
    assert all(p.message() and p.message("en") for p in found)
