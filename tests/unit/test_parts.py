"""Parts declared per territory in territory.json: read, checked, refused in French."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.core.bundles import TerritoryError, load_territory, parse_territory
from engine.core.loader import load_path

ROOT = Path(__file__).resolve().parents[2]
BASE = {"code": "essai", "name": "Essai", "roles": [{"key": "coordination", "label": "C"}]}


def _text(**extra: object) -> str:
    return json.dumps({**BASE, **extra})


def test_reference_and_toulouse_declare_their_parts() -> None:
    reference = load_territory(ROOT / "processes" / "reference")
    assert [p.key for p in reference.parts] == [
        "referrer", "platform", "operator", "landlord", "siao", "ccapex", "commission",
        "specialised"]
    assert dict((p.key, p.label) for p in reference.parts)["referrer"] == "Structure qui oriente"
    toulouse = load_territory(ROOT / "processes" / "toulouse")
    assert "emss" in {p.key for p in toulouse.parts}  # a variant adds its own, without code


def test_a_territory_without_parts_has_none() -> None:
    assert parse_territory(_text()).parts == ()


@pytest.mark.parametrize(("parts", "message"), [
    ([{"key": "operator", "label": "A"}, {"key": "operator", "label": "B"}],
     "parts : clé en double (operator)"),
    ([{"key": "operator", "label": "A", "colour": "red"}], "champ inconnu : colour"),
    ([{"key": "Opérateur", "label": "A"}], "format refusé"),
    ([{"key": "operator"}], "champ obligatoire manquant : label"),
    ([{"key": "operator", "label": ""}], "texte vide"),
])
def test_bad_parts_are_refused_in_french(parts: list[dict[str, str]], message: str) -> None:
    with pytest.raises(TerritoryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_territory(_text(parts=parts))


def test_the_loader_names_the_file_of_bad_parts(tmp_path: Path) -> None:
    (tmp_path / "territory.json").write_text(
        _text(parts=[{"key": "landlord", "label": "B"}, {"key": "landlord", "label": "B"}]),
        encoding="utf-8")
    problems = load_path(tmp_path, tmp_path).problems
    assert [p.code for p in problems] == ["territory.invalid"]
    assert problems[0].file == str(tmp_path / "territory.json")
    assert "clé en double" in problems[0].params["detail"]


def _mini_naming(tmp_path: Path, parts: list[dict[str, str]] | None) -> Path:
    """The small circuit whose analysis form names the operator, with ``parts`` declared."""
    import shutil
    folder = tmp_path / "mini"
    shutil.copytree(ROOT / "tests" / "unit" / "fixtures" / "mini", folder)
    form = folder / "forms" / "mini-analyse.json"
    schema = json.loads(form.read_text(encoding="utf-8"))
    schema["properties"]["operateur_choisi"] = {
        "type": "integer", "title": "Opérateur choisi", "x-aiguillage-part": "operator"}
    form.write_text(json.dumps(schema), encoding="utf-8")
    settings = json.loads((folder / "territory.json").read_text(encoding="utf-8"))
    if parts is not None:
        settings["parts"] = parts
    (folder / "territory.json").write_text(json.dumps(settings), encoding="utf-8")
    return folder


@pytest.mark.parametrize(("parts", "flagged"), [
    ([{"key": "operator", "label": "Opérateur"}], False),
    ([{"key": "landlord", "label": "Bailleur"}], True),
    ([], True),
])
def test_a_form_field_naming_an_undeclared_part_is_an_error_at_its_step(
        tmp_path: Path, parts: list[dict[str, str]], flagged: bool) -> None:
    from engine.core.spiff.compiler import check
    folder = _mini_naming(tmp_path, parts)
    [(_, bundle)] = load_path(folder, folder / "forms").bundles
    problems = [p for p in check(bundle) if p.code == "bpmn.form_unknown_part"]
    assert bool(problems) is flagged
    if flagged:
        assert problems[0].is_error and problems[0].element_id == "analyse"
        assert "operateur_choisi" in problems[0].message("fr")
        assert "operator" in problems[0].message("fr")


def test_a_stored_version_is_not_checked_for_parts_it_cannot_know(tmp_path: Path) -> None:
    from dataclasses import replace

    from engine.core.spiff.compiler import check
    folder = _mini_naming(tmp_path, [])
    [(_, bundle)] = load_path(folder, folder / "forms").bundles
    unknown = replace(bundle, parts=None)
    assert not [p for p in check(unknown) if p.code == "bpmn.form_unknown_part"]
