"""Hostile files (issue #10, findings 8 and 9): deep JSON, other encodings, broken territory
files, MIWG-like diagrams, very long circuits and costly instruction templates are refused
with a located French problem, never a traceback, and check, deploy and import agree."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import cli
from engine.core import forms, safejson, text
from engine.core.bundles import CircuitBundle, Role
from engine.core.expressions import ExpressionError, parse
from engine.core.messages import reason, render
from engine.core.problems import Problem
from engine.core.spiff.compiler import check, compile_circuit
from engine.errors import ProcessDefinitionError
from tests.conftest import mini_bundle

HOSTILE = Path(__file__).parent / "fixtures" / "hostile"
ROLES = (Role("coordination", "Coordination de la plateforme"),)
DATA = {"nom_menage": "Ménage Test", "liste": ["a", "b"], "nb": 2, "texte": "e" * 5000}


def _bundle(name: str, raw: bytes | None = None) -> CircuitBundle:
    return CircuitBundle("p", name, {name: raw or (HOSTILE / name).read_bytes()}, roles=ROLES)


def _codes(problems: list[Problem]) -> set[str]:
    return {p.code for p in problems if p.is_error}


def chain(steps: int) -> bytes:
    """A linear circuit of ``steps`` manual tasks, all in the coordination lane."""
    ids = ["s", *(f"t{i}" for i in range(steps)), "e"]
    refs = "".join(f"<bpmn:flowNodeRef>{i}</bpmn:flowNodeRef>" for i in ids)
    body = ['<bpmn:startEvent id="s"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>']
    body += [f'<bpmn:manualTask id="t{i}" name="Étape {i}"><bpmn:documentation>Faire.'
             f'</bpmn:documentation><bpmn:incoming>f{i}</bpmn:incoming>'
             f'<bpmn:outgoing>f{i + 1}</bpmn:outgoing></bpmn:manualTask>' for i in range(steps)]
    body.append(f'<bpmn:endEvent id="e"><bpmn:incoming>f{steps}</bpmn:incoming></bpmn:endEvent>')
    body += [f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>'
             for i, (a, b) in enumerate(zip(ids, ids[1:], strict=False))]
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn='
            '"http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">\n'
            '<bpmn:process id="p" name="Chaîne" isExecutable="true"><bpmn:laneSet id="ls">'
            f'<bpmn:lane id="l" name="coordination">{refs}</bpmn:lane></bpmn:laneSet>\n'
            + "\n".join(body) + "\n</bpmn:process></bpmn:definitions>\n").encode()


# --------------------------------------------------------------------------- JSON at the door

def test_a_form_file_nested_3000_levels_is_a_located_problem_not_a_recursion_error() -> None:
    deep = (HOSTILE / "deep-form.json").read_bytes()
    with pytest.raises(forms.FormError) as caught:
        forms.load_json_form(deep)
    assert "imbriquées trop profondément (plus de 64 niveaux)" in render(
        caught.value.code, "fr", {"detail": caught.value.detail})
    base = mini_bundle()
    found = check(replace(base, forms={**base.forms, "mini-decision.json": deep}))
    problem = next(p for p in found if p.code == "bpmn.form_invalid")
    assert problem.element_id == "decision" and problem.line
    assert "trop profondément" in problem.message()


def test_a_form_file_that_is_not_utf8_is_refused_with_its_line() -> None:
    with pytest.raises(forms.FormError) as caught:
        forms.load_json_form((HOSTILE / "latin-1-form.json").read_bytes())
    message = render(caught.value.code, "fr", {"detail": caught.value.detail})
    assert "pas en UTF-8 (ligne 1)" in message


@pytest.mark.parametrize(("raw", "code"), [
    (b"[" * 3000 + b"]" * 3000, "json.too_deep"),
    (b'{"a": ' * 65 + b"1" + b"}" * 65, "json.too_deep"),
    (b'"caf\xe9"', "json.encoding"),
    (b"[NaN]", "json.invalid"),
    (b'"\\ud800"', "json.invalid"),
    (b"1" * 5000, "json.invalid"),
    (b'{"a": 1,}', "json.syntax"),
    (b" " * (safejson.MAX_BYTES + 1), "json.too_big"),
])
def test_the_json_door_refuses_with_our_codes(raw: bytes, code: str) -> None:
    with pytest.raises(safejson.JsonError) as caught:
        safejson.loads(raw)
    assert caught.value.code == code


def test_the_json_door_accepts_ordinary_json_and_a_bom() -> None:
    assert safejson.loads(b'\xef\xbb\xbf{"a": ["\\"[", 1]}') == {"a": ['"[', 1]}
    assert safejson.loads('{"a": ' * 64 + "1" + "}" * 64)
    assert safejson.depth([[{"a": [1]}]]) == 4


def test_deep_data_is_a_form_error_not_a_crash(mini: object) -> None:
    form = forms.load_json_form(b'{"type": "object", "properties": {"x": {"type": "string"}}}')
    deep: object = "x"
    for _ in range(3000):
        deep = [deep]
    assert list(form.validate({"x": deep})) == [""]


# --------------------------------------------------------------------------- encodings

@pytest.mark.parametrize(("name", "code", "line"), [
    ("iso-8859-1.bpmn", "xml.encoding_declared", 1),
    ("utf-16.bpmn", "xml.encoding", 1),
    ("latin-1-undeclared.bpmn", "xml.encoding", 3),
])
def test_other_encodings_are_refused_by_check_and_deploy_alike(name: str, code: str,
                                                               line: int) -> None:
    [problem] = check(_bundle(name))
    assert (problem.code, problem.line) == (code, line)
    assert "UTF-8" in problem.message()
    with pytest.raises(ProcessDefinitionError):
        compile_circuit(_bundle(name))


# --------------------------------------------------------------------------- territory files

@pytest.mark.parametrize(("folder", "expected"), [
    ("no-territory", "n'a pas de fichier territory.json"),
    ("bad-territory", "Fichier de territoire invalide : JSON mal formé (ligne 2)"),
])
def test_deploy_without_a_valid_territory_file_says_why(folder: str, expected: str,
                                                        tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIGUILLAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite'}")
    result = CliRunner().invoke(cli, ["circuits", "deploy", str(HOSTILE / folder)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert expected in result.output and "Traceback" not in result.output


# --------------------------------------------------------------------------- graph rules

def test_miwg_flows_without_source_are_located_not_a_key_error() -> None:
    found = check(_bundle("miwg-no-source.bpmn"))
    located = {(p.code, p.element_id) for p in found}
    assert ("bpmn.flow_no_source", "f2") in located
    assert ("bpmn.flow_no_target", "f4") in located
    assert ("bpmn.flow_no_source", "f6") in located


def test_miwg_flows_into_another_scope_are_located_not_a_key_error() -> None:
    found = check(_bundle("miwg-other-scope.bpmn"))
    located = {(p.code, p.element_id) for p in found}
    assert ("bpmn.flow_other_scope", "f2") in located
    assert ("bpmn.flow_other_scope", "f3") in located


@pytest.mark.parametrize("steps", [500, 5000])
def test_a_very_long_circuit_is_refused_by_a_stated_limit(steps: int) -> None:
    began = time.perf_counter()
    [problem] = check(_bundle("chaine.bpmn", chain(steps)))
    assert problem.code == "bpmn.too_many_nodes" and problem.element_id == "p"
    assert f"{steps + 2} éléments dans ce processus, 300 au plus" in problem.message()
    assert time.perf_counter() - began < 10


def test_a_circuit_just_under_the_limit_compiles() -> None:
    assert compile_circuit(_bundle("chaine.bpmn", chain(290))).process_id == "p"


# --------------------------------------------------------------------------- French wording

def test_library_messages_come_out_in_plain_french() -> None:
    [xsd] = [p for p in check(_bundle("bad-id.bpmn")) if p.code == "xml.xsd"]
    assert "« a b » n'est pas un identifiant valable" in xsd.message()
    assert "is not a valid value" in xsd.message("en")
    [deep] = check(_bundle("deep.bpmn"))
    assert "imbriqués trop profondément (plus de 256 niveaux)" in deep.message()
    assert "Excessive depth" not in deep.message()
    with pytest.raises(ExpressionError) as caught:
        parse("decision = 'oui'")
    rendered = render("bpmn.condition", "fr", {"expression": "decision = 'oui'",
                                               "reason": reason(caught.value.code,
                                                                caught.value.detail)})
    assert "syntaxe invalide (écriture non reconnue)" in rendered
    assert "invalid syntax" not in rendered


def test_sizes_are_said_in_ko_and_mo() -> None:
    [big] = check(_bundle("big.bpmn", b"<a>" + b" " * (3 * 1024 * 1024) + b"</a>"))
    assert big.message() == "Fichier trop volumineux (3 Mo ; 2 Mo au plus)."
    assert big.message("en") == "File too large (3 MB; 2 MB at most)."


# --------------------------------------------------------------------------- instructions

COSTLY = [
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "{{ 'x' * 50000000 }}",
    "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
    "{% for a in liste %}{% for b in liste %}{% for c in liste %}.{% endfor %}{% endfor %}"
    "{% endfor %}",
    "{{ 10 ** 10000000 }}",
    "{% for i in range(nb) %}{% endfor %}",
]


@pytest.mark.parametrize("template", COSTLY)
def test_the_check_refuses_instructions_it_cannot_bound(template: str) -> None:
    refused = text.check_template(template)
    assert refused and not refused[0].warning
    bundle = mini_bundle()
    source = bundle.bpmn["mini.bpmn"].decode().replace(
        "Analysez la demande de {{ nom_menage }}.",
        template.replace("&", "&amp;").replace("<", "&lt;"))
    found = check(replace(bundle, bpmn={**bundle.bpmn, "mini.bpmn": source.encode()}))
    problem = next(p for p in found if p.code == "bpmn.instructions")
    assert problem.element_id == "analyse" and problem.is_error


@pytest.mark.parametrize("template", [
    *COSTLY,
    "{% set a = texte ~ texte %}{% set b = a ~ a %}{% set c = b ~ b %}{{ c }}",
    "{% for x in texte %}{{ texte }}{% endfor %}",
    "{{ 'x'.ljust(100000000) }}", "{{ '{:>100000000}'.format(1) }}",
    "{{ '%100000000d' % 1 }}", "{{ texte|replace('e', texte) }}",
    "{{ texte.replace('e', texte) }}", "{{ texte + texte + texte + texte + texte }}",
])
def test_rendering_has_a_hard_bound_on_work_and_output(template: str) -> None:
    began = time.perf_counter()
    shown = text.render_instructions(None, template, DATA)
    assert time.perf_counter() - began < 2
    assert len(shown) <= text.MAX_OUTPUT + 200
    assert shown == text.OVERRUN or len(shown) < 200


def test_ordinary_instructions_still_render() -> None:
    template = ("{{ nom_menage }} : {% for x in liste %}{{ x }} {% endfor %}{{ nb * 3 }} "
                "{% for i in range(3) %}{{ i }}{% endfor %}")
    assert text.check_template(template) == []
    assert text.render_instructions(None, template, DATA) == "<p>Ménage Test : a b 6 012</p>"
