"""Posted HTML form values → typed data for a schema form (the service validates)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
