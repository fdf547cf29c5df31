"""Lanes bound to a part of the case (issue #12): read from the diagram's XML, checked against
the territory's parts, exposed by the compiled circuit and carried by the ready steps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.clock import FixedClock
from engine.core.bundles import CircuitBundle
from engine.core.loader import load_path
from engine.core.spiff.compiler import check, compile_circuit
from engine.core.spiff.runner import Instance

ROOT = Path(__file__).resolve().parents[2]
MINI = ROOT / "tests" / "unit" / "fixtures" / "mini"
PARTS = [{"key": "operator", "label": "Opérateur d'accompagnement"},
         {"key": "referrer", "label": "Structure qui oriente"}]
BOUND = ('<bpmn:lane id="lane_op" name="operateur">\n'
         '        <bpmn:extensionElements><spiffworkflow:properties>'
         '<spiffworkflow:property name="part" value="{part}" />'
         '</spiffworkflow:properties></bpmn:extensionElements>')


def _mini(tmp_path: Path, part: str | None, parts: list[dict[str, str]] | None = PARTS,
          ) -> CircuitBundle:
    """The small circuit with its operator lane bound to ``part``, in a territory declaring
    ``parts`` (None: a stored version, whose parts are not known)."""
    folder = tmp_path / "mini"
    shutil.copytree(MINI, folder)
    diagram = folder / "mini.bpmn"
    text = diagram.read_text(encoding="utf-8")
    if part is not None:
        text = text.replace('<bpmn:lane id="lane_op" name="operateur">', BOUND.format(part=part))
    diagram.write_text(text, encoding="utf-8")
    settings = json.loads((folder / "territory.json").read_text(encoding="utf-8"))
    settings["parts"] = parts or []
    (folder / "territory.json").write_text(json.dumps(settings), encoding="utf-8")
    [(_, bundle)] = load_path(folder, folder / "forms").bundles
    if parts is None:
        bundle.parts = None
    return bundle


def test_a_lane_names_its_part_and_the_circuit_exposes_it(tmp_path: Path) -> None:
    compiled = compile_circuit(_mini(tmp_path, "operator"))
    assert compiled.lane_parts == {"operateur": "operator"}


def test_an_unbound_circuit_has_no_lane_parts(tmp_path: Path) -> None:
    assert compile_circuit(_mini(tmp_path, None)).lane_parts == {}


def test_ready_steps_carry_their_lane_s_part(tmp_path: Path, clock: FixedClock) -> None:
    compiled = compile_circuit(_mini(tmp_path, "operator"))
    case = Instance.start(compiled, {"nom_menage": "Ménage Essai"}, clock)
    [analyse] = case.ready_tasks()
    assert (analyse.bpmn_id, analyse.part) == ("analyse", None)  # the coordination lane
    case.complete(analyse.id, {"mesure": "avdl"})
    [decision] = case.ready_tasks()
    assert (decision.bpmn_id, decision.role, decision.part) == ("decision", "operateur",
                                                                 "operator")


def test_an_unknown_part_is_an_error_naming_the_lane_and_the_territory_s_parts(
        tmp_path: Path) -> None:
    problems = [p for p in check(_mini(tmp_path, "bailleur")) if p.is_error]
    assert [(p.code, p.element_id) for p in problems] == [("bpmn.lane_unknown_part", "lane_op")]
    message = problems[0].message("fr")
    assert "« operateur »" in message and "« bailleur »" in message
    assert "operator (Opérateur d'accompagnement)" in message
    assert "referrer (Structure qui oriente)" in message
    assert problems[0].line is not None


def test_a_stored_version_is_not_checked_for_lane_parts_it_cannot_know(tmp_path: Path) -> None:
    compiled = compile_circuit(_mini(tmp_path, "operator", parts=None))
    assert compiled.lane_parts == {"operateur": "operator"}


def test_two_lanes_of_one_name_bound_to_different_parts_are_refused(tmp_path: Path) -> None:
    bundle = _mini(tmp_path, "operator")
    text = bundle.bpmn["mini.bpmn"].decode()
    text = text.replace(
        '<bpmn:lane id="lane_coord" name="Coordination de la plateforme">',
        '<bpmn:lane id="lane_coord" name="operateur">'
        '<bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="part" value="referrer" />'
        '</spiffworkflow:properties></bpmn:extensionElements>')
    bundle.bpmn["mini.bpmn"] = text.encode()
    codes = [(p.code, p.element_id) for p in check(bundle) if p.is_error]
    assert ("bpmn.lane_part_conflict", "lane_op") in codes


@pytest.mark.parametrize(("parts", "flagged"), [(["operator"], False),
                                                (["operator", "bailleur"], True)])
def test_a_consent_field_naming_an_undeclared_part_is_an_error_naming_form_and_field(
        tmp_path: Path, parts: list[str], flagged: bool) -> None:
    bundle = _mini(tmp_path, None)
    schema = json.loads(bundle.forms["mini-analyse.json"])
    schema["properties"]["accord"] = {
        "type": "boolean", "title": "Accord de la personne",
        "x-aiguillage-consent": {"parts": parts, "purpose": "support",
                                 "categories": ["identity"]}}
    bundle.forms["mini-analyse.json"] = json.dumps(schema).encode()
    problems = [p for p in check(bundle) if p.code == "bpmn.form_consent_unknown_part"]
    assert bool(problems) is flagged
    if flagged:
        message = problems[0].message("fr")
        assert problems[0].is_error and problems[0].element_id == "analyse"
        assert "« accord »" in message and "« mini-analyse.json »" in message
        assert "« bailleur »" in message and "operator (Opérateur d'accompagnement)" in message


def test_the_version_diff_tells_a_lane_s_new_part(tmp_path: Path) -> None:
    from engine.core.diff import diff_files
    before = {p.name: p.read_bytes() for p in MINI.glob("*.bpmn")}
    after = dict(before)
    after["mini.bpmn"] = _mini(tmp_path, "operator").bpmn["mini.bpmn"]
    [change] = diff_files(before, after, parts={p["key"]: p["label"] for p in PARTS})
    assert change.element_id == "lane_op"
    assert change.text() == ("Couloir « operateur » : partie du dossier aucun → "
                             "Opérateur d'accompagnement")
