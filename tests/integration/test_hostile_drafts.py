"""Hostile files through the draft use cases (issue #10, finding 8): an import refuses what
the check, the modeler and the deployment could not read, with the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.errors import ProcessDefinitionError
from engine.services import drafts
from tests.integration.factories import World, make_world

HOSTILE = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "hostile"
SPIFF_ARENA = HOSTILE.parent / "modelers" / "spiff-arena.bpmn"


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return make_world(session, clock)


@pytest.mark.parametrize(("name", "code", "line"), [
    ("deep-form.json", "file.bad_json", 1),
    ("latin-1-form.json", "file.bad_json", 1),
    ("iso-8859-1.bpmn", "xml.encoding_declared", 1),
    ("utf-16.bpmn", "xml.encoding", 1),
])
def test_import_refuses_unreadable_files_with_file_and_line(session: Session, clock: FixedClock,
                                                           world: World, name: str, code: str,
                                                           line: int) -> None:
    files = {"circuit.bpmn": SPIFF_ARENA.read_bytes(), name: (HOSTILE / name).read_bytes()}
    with pytest.raises(ProcessDefinitionError) as caught:
        drafts.import_files(session, clock, world.coordinator, world.territory.id, "essai",
                            "Essai", files)
    [problem] = caught.value.problems
    assert (problem.code, problem.file, problem.line) == (code, name, line)
    assert problem.message().endswith(".") and "Traceback" not in problem.message()


def test_a_saved_diagram_with_a_lone_surrogate_is_refused(session: Session, clock: FixedClock,
                                                          world: World) -> None:
    draft = drafts.open_for_circuit(session, clock, world.coordinator, world.circuit.id)
    xml = draft.bpmn_files[draft.main_file].replace("Circuit d'essai", "Circuit \ud800", 1)
    with pytest.raises(ProcessDefinitionError) as caught:
        drafts.save(session, clock, world.coordinator, draft.id, draft.revision, xml)
    assert caught.value.problems[0].code == "xml.encoding"


def test_a_deep_schema_from_the_editor_is_refused(session: Session, clock: FixedClock,
                                                  world: World) -> None:
    deep: dict[str, object] = {"type": "string"}
    for _ in range(3000):
        deep = {"type": "object", "properties": {"x": deep}}
    from engine.errors import FormInvalid
    with pytest.raises(FormInvalid) as caught:
        drafts.validate_form("f.json", deep, None)
    assert "trop profondément" in caught.value.errors[""][0]
