"""The form-file editor's rows as pure code (issue #11): stored file → rows, posted rows →
JSON Schema + UI schema, without Flask nor a database."""

from __future__ import annotations

import json

from engine.core import form_editor
from engine.core.form_editor import Row
from engine.core.forms import form_from_schema

STORED = {"f.json": json.dumps({
    "title": "Décision", "type": "object", "required": ["decision"], "properties": {
        "decision": {"type": "string", "title": "Décision", "oneOf": [
            {"const": "acceptee", "title": "Acceptée"}, {"const": "refusee", "title": "Refusée"}]},
        "motif": {"type": "string", "title": "Motif", "maxLength": 300}}})}


def test_a_stored_file_becomes_rows_and_back_keeping_hidden_settings() -> None:
    rows, title = form_editor.rows_of_file(STORED, "f.json")
    assert title == "Décision"
    assert [(r.name, r.kind, r.required) for r in rows] == [("decision", "choice", True),
                                                            ("motif", "text", False)]
    assert rows[0].choices == "acceptee = Acceptée\nrefusee = Refusée"
    schema, ui = form_editor.schema_of_rows(rows, title)
    assert schema["properties"]["motif"]["maxLength"] == 300  # carried, kind unchanged
    assert schema["required"] == ["decision"] and ui["ui:order"] == ["decision", "motif"]
    assert form_from_schema(schema, ui).fields[0].choices[1].label == "Refusée"


def test_new_and_unreadable_files() -> None:
    assert form_editor.rows_of_file({}, "nouveau.json") == ([form_editor.blank()], "")
    assert form_editor.rows_of_file({"x.json": "[1, 2]"}, "x.json") == ([], "")
    assert form_editor.rows_of_file({"x.json": "{pas du json"}, "x.json") == ([], "")


def test_posted_rows_become_a_schema_in_their_order() -> None:
    posted = {"count": "3", "title": " Décision ",
              "ed-0-name": "decision", "ed-0-label": "Décision", "ed-0-kind": "choice",
              "ed-0-choices": "oui = Oui\nnon", "ed-0-required": "1", "ed-0-order": "2",
              "ed-1-name": "", "ed-1-label": "",  # a row emptied: removed
              "ed-2-name": "motif", "ed-2-label": "Motif", "ed-2-kind": "textarea",
              "ed-2-help": "En quelques mots", "ed-2-order": "pas un nombre",
              "ed-2-extra": '{"type": "integer", "minimum": 3}'}
    rows, title = form_editor.rows_of_post(posted)
    assert title == "Décision" and [r.name for r in rows] == ["decision", "motif"]
    assert rows[1].order == 3  # an unreadable order falls back to the row's place
    schema, ui = form_editor.schema_of_rows(rows, title)
    assert list(schema["properties"]) == ["decision", "motif"]
    assert schema["properties"]["decision"]["oneOf"][1] == {"const": "non", "title": "non"}
    assert schema["properties"]["motif"] == {"type": "string", "title": "Motif"}  # kind changed
    assert ui["motif"] == {"ui:widget": "textarea", "ui:help": "En quelques mots"}


def test_row_errors_are_french_and_name_the_field() -> None:
    rows = [Row("Motif!", "Motif", "text"), Row("a", "A", "text"), Row("a", "", "fichier"),
            Row("c", "Choix", "choice")]
    errors = form_editor.row_errors(rows)
    assert any(e.startswith("Nom de champ « Motif! »") for e in errors)
    assert "Le champ « a » figure deux fois." in errors
    assert "Type inconnu pour le champ « a »." in errors
    assert "Le champ « Choix » n'a aucun choix." in errors
    assert "Le champ « a » n'a pas de libellé." in errors
    assert form_editor.kind_of({"type": "string", "format": "date"}) == "date"
    assert form_editor.kind_of({"type": 3}) is None
