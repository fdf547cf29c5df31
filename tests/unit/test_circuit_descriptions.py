"""A circuit's description: optional in the territory file, deployed as the main process's
documentation (replacing the diagram's own), read back by the compiler (issue #14 item 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.bundles import TerritoryError, parse_territory
from engine.core.loader import describe_process, load_path
from engine.core.spiff.compiler import compile_circuit

REFERENCE = Path(__file__).resolve().parents[2] / "processes" / "reference"


def test_the_reference_circuits_carry_their_territory_description() -> None:
    loaded = dict(load_path(REFERENCE).bundles)
    compiled = compile_circuit(loaded["reference/coordination"])
    assert compiled.description.startswith("Pour une personne sans logement ou hébergée")
    # the called commission's copy keeps its own file: only the main diagram is described
    mutualisation = loaded["reference/mutualisation"]
    assert mutualisation.bpmn["commission.bpmn"] == (REFERENCE / "commission.bpmn").read_bytes()
    assert compile_circuit(mutualisation).description.startswith("Pour une personne reçue")


def test_describe_replaces_the_documentation_and_escapes() -> None:
    raw = (REFERENCE / "commission.bpmn").read_bytes()
    out = describe_process(raw, "C3_commission", "Pour une <situation> & « plus »")
    assert out.count(b"<bpmn:documentation>Pour une &lt;situation&gt; &amp; ") == 1
    assert b"Circuit de r\xc3\xa9f\xc3\xa9rence de la commission" not in out  # replaced
    assert describe_process(out, "C3_commission", "Pour une <situation> & « plus »") == out
    assert describe_process(raw, "C9_inconnu", "x") == raw


def test_the_territory_file_checks_the_description() -> None:
    base = ('{"code": "t", "name": "T", "roles": [{"key": "a", "label": "A"}], "circuits": '
            '[{"key": "c", "title": "C", "file": "c.bpmn", "process": "P"%s}]}')
    assert parse_territory(base % "").circuits[0].description is None
    assert parse_territory(base % ', "description": "Pour"').circuits[0].description == "Pour"
    with pytest.raises(TerritoryError, match="texte trop long"):
        parse_territory(base % f', "description": "{"x" * 501}"')
