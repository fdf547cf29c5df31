"""The form-file editor's rows: a form file as rows, posted rows as a JSON Schema + UI schema.

The editor shows one row per top-level field (name, label, kind, required, choices, help,
order); posted rows become a JSON Schema plus a UI schema. Settings the editor does not show
(``maxLength``, ``minimum``...) are carried in each row and kept while the kind is unchanged.
Pure code: no database, no web framework.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.core import forms as core_forms
from engine.core import safejson

KINDS = ("text", "textarea", "integer", "number", "boolean", "date", "choice", "multichoice")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_ROWS = 100


@dataclass(frozen=True)
class Row:
    """One top-level field of the form being edited, as the editor shows it."""

    name: str
    label: str
    kind: str
    required: bool = False
    choices: str = ""
    help: str = ""
    order: int = 0
    extra: str = "{}"  # the field's JSON Schema, for the settings the editor does not show


def blank(order: int = 1) -> Row:
    """An empty row (a new field)."""
    return Row("", "", "text", order=order)


def rows_of_file(form_files: Mapping[str, str], name: str) -> tuple[list[Row], str]:
    """The rows and title of a stored form file (one blank row for a new file, none for a
    file the editor cannot read)."""
    raw = form_files.get(name)
    if raw is None:
        return [blank()], ""
    ui_raw = form_files.get(name[:-5] + ".ui.json")
    try:
        spec = core_forms.load_json_form(raw, ui_raw)
        props = safejson.loads(raw).get("properties", {})
    except (core_forms.FormError, ValueError, AttributeError):
        return [], ""
    rows = [Row(f.name, f.label, f.kind, required=f.required,
                choices="\n".join(f"{c.value} = {c.label}" for c in f.choices),
                help=f.help or "", order=i, extra=json.dumps(props.get(f.name, {})))
            for i, f in enumerate(spec.fields, start=1)]
    return rows, spec.title


def rows_of_post(posted: Mapping[str, str]) -> tuple[list[Row], str]:
    """The rows and title posted by the editor (``ed-<i>-<column>`` fields, ``count``, ``title``);
    rows with neither name nor label are dropped."""
    count = min(int_or(posted.get("count"), 0), MAX_ROWS)
    rows = []
    for i in range(count):
        name = posted.get(f"ed-{i}-name", "").strip()
        label = posted.get(f"ed-{i}-label", "").strip()
        if not name and not label:
            continue
        rows.append(Row(name, label, posted.get(f"ed-{i}-kind", "text"),
                        required=bool(posted.get(f"ed-{i}-required")),
                        choices=posted.get(f"ed-{i}-choices", ""),
                        help=posted.get(f"ed-{i}-help", "").strip(),
                        order=int_or(posted.get(f"ed-{i}-order"), i + 1),
                        extra=posted.get(f"ed-{i}-extra", "{}")))
    return rows, posted.get("title", "").strip()[:200]


def int_or(value: str | None, default: int) -> int:
    """``value`` as an integer, or ``default`` when absent or not a number."""
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def row_errors(rows: Sequence[Row]) -> list[str]:
    """What is wrong with the rows (French messages), before any schema is built."""
    errors = []
    seen: set[str] = set()
    for row in rows:
        if not FIELD_NAME.match(row.name):
            errors.append(f"Nom de champ « {row.name} » : lettres minuscules, chiffres et _ "
                          "(il commence par une lettre).")
        elif row.name in seen:
            errors.append(f"Le champ « {row.name} » figure deux fois.")
        seen.add(row.name)
        if row.kind not in (*KINDS, "group"):
            errors.append(f"Type inconnu pour le champ « {row.name} ».")
        elif row.kind in ("choice", "multichoice") and not choices(row.choices):
            errors.append(f"Le champ « {row.label or row.name} » n'a aucun choix.")
        if not row.label:
            errors.append(f"Le champ « {row.name} » n'a pas de libellé.")
    return errors


def choices(text: str) -> list[dict[str, str]]:
    """``value = label`` lines as JSON Schema ``oneOf`` entries."""
    out = []
    for line in text.splitlines():
        value, _, label = line.partition("=")
        if value.strip():
            out.append({"const": value.strip(), "title": (label or value).strip()})
    return out


def schema_of_rows(rows: Sequence[Row], title: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON Schema and UI schema the rows describe."""
    ordered = sorted(rows, key=lambda r: r.order)
    props = {r.name: prop(r) for r in ordered}
    ui: dict[str, Any] = {"ui:order": [r.name for r in ordered]}
    for row in ordered:
        entry = {}
        if row.kind == "textarea":
            entry["ui:widget"] = "textarea"
        if row.help:
            entry["ui:help"] = row.help[:500]
        if entry:
            ui[row.name] = entry
    schema = {"title": title, "type": "object",
              "required": [r.name for r in ordered if r.required], "properties": props}
    return schema, ui


def prop(row: Row) -> dict[str, Any]:
    """The JSON Schema property of one row, keeping the carried settings of an unchanged kind."""
    try:
        extra = safejson.loads(row.extra, max_bytes=20_000)
    except ValueError:
        extra = {}
    extra = extra if isinstance(extra, dict) else {}
    if row.kind == "group":
        return {**extra, "title": row.label}
    same = kind_of(extra) == ("text" if row.kind == "textarea" else row.kind)
    base = {k: v for k, v in extra.items() if k not in ("title", "description")} if same else {}
    types: dict[str, dict[str, Any]] = {
        "text": {"type": "string"}, "textarea": {"type": "string"},
        "integer": {"type": "integer"}, "number": {"type": "number"},
        "boolean": {"type": "boolean"}, "date": {"type": "string", "format": "date"},
        "choice": {"type": "string", "oneOf": choices(row.choices)},
        "multichoice": {"type": "array", "uniqueItems": True,
                        "items": {"type": "string", "oneOf": choices(row.choices)}},
    }
    typed = types[row.kind]
    if row.kind in ("choice", "multichoice"):
        base.pop("enum", None)
        base.pop("items", None)
    return {**base, **typed, "title": row.label}


def kind_of(schema: dict[str, Any]) -> str | None:
    """The editor kind of a JSON Schema property (None when the form reader refuses it)."""
    try:
        return core_forms.form_from_schema(
            {"type": "object", "properties": {"x": schema}}).fields[0].kind
    except (core_forms.FormError, IndexError):
        return None
