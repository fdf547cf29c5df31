"""Posted HTML form values → typed data for a schema form (the service validates)."""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict

from engine.services import parsing
from engine.services.results import FormSpec
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


def flat_values(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"group": {"a": 1}}`` → ``{"group.a": 1}``: how templates look values up."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flat_values(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
