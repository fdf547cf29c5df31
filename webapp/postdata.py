"""Posted HTML form values → typed data for a schema form (the service validates)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext
from werkzeug.datastructures import MultiDict

from engine.services import parsing
from engine.services.results import FieldSpec, FormSpec
from webapp.i18n import select_locale


def parse(form: FormSpec | None, posted: MultiDict[str, str]) -> tuple[dict[str, Any],
                                                                        dict[str, list[str]]]:
    """Typed data for ``form`` from the posted values, and what is wrong with them, in the
    reader's language: conversion, then the form's own rules (the service checks them again
    and stays the judge; its messages are French)."""
    if form is None:
        return {}, {}
    raw: dict[str, Any] = {}
    for spec in parsing.leaf_fields(form):
        raw[spec.path] = posted.getlist(spec.path) if spec.kind == "multichoice" \
            else posted.get(spec.path)
    return parsing.answers(form, raw, select_locale())


def posted(values: MultiDict[str, str]) -> dict[str, Any]:
    """What was typed, to show the form again: one value per field, a list for boxes
    ticked together (``to_dict`` would keep only the first)."""
    return {key: items if len(items) > 1 else items[0]
            for key, items in values.lists() if items}


def flat_values(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"group": {"a": 1}}`` → ``{"group.a": 1}``: how templates look values up."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flat_values(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@dataclass(frozen=True)
class ErrorTarget:
    """One line of a form's error summary: the field's label, the id of the input a link
    moves the focus to (None: no field to go to), the messages."""

    label: str | None
    anchor: str | None
    messages: list[str]


def field_id(spec: FieldSpec) -> str | None:
    """The id of the input a link to ``spec`` goes to, as ``macros/forms.html`` renders it:
    the first choice of a set of radios or boxes (a required yes/no is two radios)."""
    base = "f-" + spec.path.replace(".", "-")
    if spec.kind == "group":
        return next(filter(None, (field_id(c) for c in spec.children)), None)
    if spec.kind in ("choice", "multichoice"):
        return f"{base}-1" if spec.choices else None
    if spec.kind == "boolean" and spec.required:
        return f"{base}-1"
    return base


def error_targets(form: FormSpec | None, errors: dict[str, list[str]]) -> list[ErrorTarget]:
    """The error summary's lines, in the form's order: each error with its field's label
    and a link target that exists in the page; an error on no field of the form (the whole
    form, an unknown field) comes last, under its path."""
    specs: dict[str, FieldSpec] = {}

    def walk(fields: tuple[FieldSpec, ...]) -> None:
        for spec in fields:
            specs[spec.path] = spec
            walk(spec.children)

    walk(form.fields if form is not None else ())
    known = [ErrorTarget(spec.label, field_id(spec), errors[path])
             for path, spec in specs.items() if errors.get(path)]
    return known + [ErrorTarget(path or None, None, messages)
                    for path, messages in errors.items() if path not in specs and messages]


KEPT_LABELS = "_libelles"  # hidden field of a schema form: its labels, for the 503 page
MAX_KEPT_LABELS = 64 * 1024  # characters: a forged or runaway field is ignored, not parsed


def kept_labels(form: FormSpec | None) -> str:
    """JSON for the hidden ``_libelles`` field of a schema form: {path: [label, {value:
    choice's label}(, "date")]} in the form's order, a field of a group under « Group —
    field ». Sent with the answers so that the page saying nothing was saved (the database
    did not answer, or every connection was busy: no form can be read then) names the
    fields as the form did, their choices by their labels and dates as 14/12/2026."""
    out: dict[str, list[Any]] = {}
    yes_no = {"true": gettext("Oui"), "false": gettext("Non"), "1": gettext("Oui")}

    def walk(fields: tuple[FieldSpec, ...], prefix: str) -> None:
        for spec in fields:
            if spec.kind == "group":
                walk(spec.children, f"{prefix}{spec.label} — ")
                continue
            choices = {str(c.value): c.label for c in spec.choices}
            out[spec.path] = [prefix + spec.label,
                              yes_no if spec.kind == "boolean" else choices]
            if spec.kind == "date":  # shown as 14/12/2026, as typed, not 2026-12-14
                out[spec.path].append("date")

    walk(form.fields if form is not None else (), "")
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Kept:
    """A field's values kept on the 503 page: its label (its key when the form sent no
    labels) and what was typed or chosen, choices by their labels."""

    label: str
    values: list[str]


def read_kept_labels(posted: MultiDict[str, str]) -> dict[str, tuple[str, dict[str, str],
                                                                   bool]]:
    """The labels a schema form sent in ``_libelles``; {} when none, or when the field is
    too long, not JSON or not of the expected shape (the page then names fields by key)."""
    raw = posted.get(KEPT_LABELS, "")
    if not raw or len(raw) > MAX_KEPT_LABELS:
        return {}
    try:
        data = parsing.loads(raw)
    except parsing.JsonError:
        return {}
    if not isinstance(data, dict):
        return {}
    out: dict[str, tuple[str, dict[str, str], bool]] = {}
    for key, entry in data.items():
        if (isinstance(entry, list) and len(entry) in (2, 3) and isinstance(entry[0], str)
                and isinstance(entry[1], dict)):
            out[key] = (entry[0], {str(k): str(v) for k, v in entry[1].items()},
                        entry[2:] == ["date"])
    return out


def kept_for_display(kept: list[tuple[str, str]],
                     labels: dict[str, tuple[str, dict[str, str], bool]]) -> list[Kept]:
    """What the 503 page lists of ``kept`` (key, value) pairs, in the form's order (else as
    sent): one line a field (boxes ticked together on one line), under its label. With
    labels, only the form's fields (not its hidden keys); without, every key but the hidden
    ``_…`` ones."""
    lines: dict[str, Kept] = {}
    for key, value in kept:
        if key.startswith("_") or (labels and key not in labels):
            continue
        label, choices, is_date = labels.get(key, (key, {}, False))
        line = lines.setdefault(key, Kept(label, []))
        if value != "":
            line.values.append(_day(value) if is_date else choices.get(value, value))
    order = {key: n for n, key in enumerate(labels)}  # the form's order, as it sent them
    return [lines[key] for key in sorted(lines, key=lambda k: order.get(k, len(order)))]


def _day(value: str) -> str:
    """``2026-12-14`` → ``14/12/2026``; anything else as typed."""
    try:
        return date.fromisoformat(value).strftime("%d/%m/%Y")
    except ValueError:
        return value
