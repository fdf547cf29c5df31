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
