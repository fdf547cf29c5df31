"""Untrusted input the entry points hand to the engine, read with the engine's own bounds:
JSON bodies (bounded in size and depth, strict UTF-8) and the answers posted to a schema form
(converted to typed data, then checked against the form's own rules).

The web app reaches ``engine.core.safejson`` and ``engine.core.forms`` through here only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.core.forms import FieldSpec, FormSpec, coerce
from engine.core.safejson import JsonError as JsonError
from engine.core.safejson import loads as loads  # bounded depth and size, strict UTF-8


def leaf_fields(form: FormSpec) -> list[FieldSpec]:
    """The fields that take a value (groups opened), in the form's order."""
    return _leaves(form.fields)


def _leaves(fields: tuple[FieldSpec, ...]) -> list[FieldSpec]:
    out: list[FieldSpec] = []
    for spec in fields:
        out += _leaves(spec.children) if spec.kind == "group" else [spec]
    return out


def answers(form: FormSpec, raw: Mapping[str, Any],
            lang: str = "fr") -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Typed data from raw posted values keyed by field path, and what is wrong with them in
    ``lang``: conversion first, then the form's own rules (the use case checks again)."""
    data, errors = coerce(form, raw, lang)
    return data, errors or form.validate(data, lang)
