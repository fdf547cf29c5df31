"""Every territory folder of processes/ passes the check with no error (STYLE.md 26)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.loader import load_path
from engine.core.spiff.compiler import check

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = sorted(p for p in (ROOT / "processes").iterdir() if (p / "territory.json").is_file())


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_territory_circuits_pass_the_check(folder: Path) -> None:
    loaded = load_path(folder, ROOT / "forms")
    assert loaded.problems == []
    assert loaded.bundles
    for label, bundle in loaded.bundles:
        errors = [p.format() for p in check(bundle) if p.is_error]
        assert errors == [], label


def test_reference_territory_has_the_four_circuits() -> None:
    loaded = load_path(ROOT / "processes" / "reference", ROOT / "forms")
    assert [label for label, _ in loaded.bundles] == [
        "reference/coordination", "reference/mutualisation", "reference/commission",
        "reference/expulsions"]
