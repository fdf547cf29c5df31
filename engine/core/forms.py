"""Forms: JSON Schema (plus UI schema) or Camunda ``formData`` → one list of field specs.

Submissions are always validated server-side with ``jsonschema``; errors come back per
field path in French (English available); values are JSON-clean (dates as ISO strings).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError

from engine.core import safejson
from engine.core.consent import (
    CATEGORY_KEYWORD,
    CONSENT_KEYWORD,
    DEFAULT_CATEGORY,
    ConsentSpecError,
    Grant,
    category_of,
    grant_of,
)
from engine.core.messages import Reason, reason, render
from engine.core.orientation import (
    ANSWER_FIELDS,
    ANSWER_KEYWORD,
    MAX_REASON_CODE,
    ORIENTATION_KEYWORD,
    spec_of,
)

FieldKind = Literal[
    "text", "textarea", "integer", "number", "boolean", "date", "choice", "multichoice", "group"
]
PART_KEYWORD = "x-aiguillage-part"  # a property whose answer is an organisation id of a part
# a date property that may not come before another date field of the case (its name) or
# before the day it is answered (``"today"``)
NOT_BEFORE_KEYWORD = "x-aiguillage-not-before"
TODAY = "today"
TEXT_MAX = 500
TEXTAREA_MAX = 5000
MAX_FIELDS = 200


@dataclass(frozen=True)
class Choice:
    """One option of a single or multiple choice field."""

    value: Any
    label: str


@dataclass(frozen=True)
class FieldSpec:
    """One field of a form, whatever file format it came from."""

    name: str
    path: str
    label: str
    kind: FieldKind
    required: bool = False
    help: str | None = None
    choices: tuple[Choice, ...] = ()
    children: tuple[FieldSpec, ...] = ()
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    widget: str | None = None
    part: str | None = None  # "x-aiguillage-part": the answer names this part's organisation
    category: str = DEFAULT_CATEGORY  # "x-aiguillage-category": the data category of the answer
    consent: Grant | None = None  # "x-aiguillage-consent": « oui » grants this, « non » withdraws
    # "x-aiguillage-orientation": the answer is a directory service (``orientation.spec_of``)
    orientation: dict[str, Any] | None = None
    answers_orientation: bool = False  # "x-aiguillage-orientation-answer": the operator's decision
    # "x-aiguillage-not-before": a date field's name, or "today"
    not_before: str | None = None


@dataclass(frozen=True)
class FormSpec:
    """A whole form: its fields and the JSON Schema submissions are validated against."""

    title: str
    fields: tuple[FieldSpec, ...]
    schema: dict[str, Any] = field(repr=False)
    description: str | None = None

    def field_names(self) -> set[str]:
        """Top-level field names (the case-data keys this form writes)."""
        return {f.name for f in self.fields}

    def consent_fields(self) -> list[FieldSpec]:
        """Top-level boolean fields whose answer records or withdraws the household's consent."""
        return [f for f in self.fields if f.consent]

    def categories(self) -> dict[str, str]:
        """Top-level field name → data category."""
        return {f.name: f.category for f in self.fields}

    def orientation_fields(self) -> list[FieldSpec]:
        """Top-level fields whose answer orients the case to a directory service."""
        return [f for f in self.fields if f.orientation is not None]

    def answer_field(self) -> FieldSpec | None:
        """The top-level field holding the operator's decision on an orientation, if any."""
        return next((f for f in self.fields if f.answers_orientation), None)

    def part_fields(self) -> list[FieldSpec]:
        """Top-level fields whose answer names the organisation of a part of the case."""
        return [f for f in self.fields if f.part]

    def validate(self, data: Mapping[str, Any], lang: str = "fr", *, today: date | None = None,
                 case: Mapping[str, Any] | None = None,
                 labels: Mapping[str, str] | None = None) -> dict[str, list[str]]:
        """Errors per field path; empty when ``data`` is acceptable (see ``validate``)."""
        return validate(self, data, lang, today=today, case=case, labels=labels)


class FormError(ValueError):
    """A form file is unusable; ``code`` keys the message catalogue."""

    def __init__(self, code: str, detail: str | Reason = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")


# --------------------------------------------------------------------------- loading

def load_json_form(raw: bytes | str, ui_raw: bytes | str | None = None) -> FormSpec:
    """Build a ``FormSpec`` from JSON-Schema text and optional UI-schema text."""
    schema = _json(raw, "form.bad_json")
    ui = _json(ui_raw, "form.bad_ui_json") if ui_raw is not None else {}
    return form_from_schema(schema, ui)


def _json(raw: bytes | str, code: str) -> dict[str, Any]:
    try:
        value = safejson.loads(raw)
    except safejson.JsonError as exc:
        raise FormError(code, reason(exc.code, exc.detail)) from None
    if not isinstance(value, dict):
        raise FormError(code, "not an object")
    return value


def form_from_schema(schema: dict[str, Any], ui: Mapping[str, Any] | None = None) -> FormSpec:
    """Field specs from a JSON Schema object; raise ``FormError`` if it is not usable."""
    if safejson.depth(schema) > safejson.MAX_DEPTH or safejson.depth(ui) > safejson.MAX_DEPTH:
        raise FormError("form.bad_schema", reason("json.too_deep", str(safejson.MAX_DEPTH)))
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise FormError("form.bad_schema", exc.message) from None
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise FormError("form.not_object")
    fields = _fields(schema, ui or {}, prefix="")
    if _count(fields) > MAX_FIELDS:
        raise FormError("form.too_many_fields", str(_count(fields)))
    return FormSpec(title=str(schema.get("title") or ""), fields=fields,
                    schema=_open_reasons(_with_limits(schema), fields),
                    description=schema.get("description"))


def _open_reasons(schema: dict[str, Any], fields: Sequence[FieldSpec]) -> dict[str, Any]:
    """An orientation answer form accepts any reason code in its validation schema: the
    codes are the territory's table, which changes without a new circuit version (the page
    offers the active ones, the orientation service checks them)."""
    reasons = schema.get("properties", {}).get(ANSWER_FIELDS["reasons"])
    if any(f.answers_orientation for f in fields) and isinstance(reasons, dict):
        reasons["items"] = {"type": "string", "maxLength": MAX_REASON_CODE}
    return schema


def _count(fields: Sequence[FieldSpec]) -> int:
    return sum(1 + _count(f.children) for f in fields)


def _fields(schema: Mapping[str, Any], ui: Mapping[str, Any], prefix: str) -> tuple[FieldSpec, ...]:
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    order = [n for n in ui.get("ui:order", []) if n in props]
    names = order + [n for n in props if n not in order]
    return tuple(_field(n, props[n], ui.get(n, {}), n in required, prefix) for n in names)


def _field(name: str, prop: Mapping[str, Any], ui: Mapping[str, Any], required: bool,
           prefix: str) -> FieldSpec:
    if not isinstance(prop, Mapping):
        raise FormError("form.bad_field", name)
    path = f"{prefix}{name}"
    kind = _kind(name, prop, ui)
    children = _fields(prop, ui, f"{path}.") if kind == "group" else ()
    items = prop.get("items", {}) if kind == "multichoice" else prop
    try:
        category = category_of(prop.get(CATEGORY_KEYWORD))
        grant = grant_of(prop[CONSENT_KEYWORD]) if CONSENT_KEYWORD in prop else None
    except ConsentSpecError as exc:
        raise FormError("form.bad_field", f"{name}: {exc}") from None
    if grant is not None and kind != "boolean":
        raise FormError("form.bad_field", f"{name}: {CONSENT_KEYWORD} sur un champ non booléen")
    not_before = prop.get(NOT_BEFORE_KEYWORD)
    if not_before is not None and (kind != "date" or not isinstance(not_before, str)
                                   or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", not_before)
                                   or not_before == name):
        raise FormError("form.bad_field", f"{name}: {NOT_BEFORE_KEYWORD} attend, sur un champ "
                        f"date, le nom d'un autre champ date ou « {TODAY} »")
    return FieldSpec(
        name=name, path=path, label=str(prop.get("title") or name), kind=kind,
        required=required, help=ui.get("ui:help") or prop.get("description"),
        choices=_choices(items), children=children, default=prop.get("default"),
        minimum=prop.get("minimum"), maximum=prop.get("maximum"),
        max_length=prop.get("maxLength"), widget=ui.get("ui:widget"),
        part=part if isinstance(part := prop.get(PART_KEYWORD), str) else None,
        category=category, consent=grant,
        orientation=spec_of(prop[ORIENTATION_KEYWORD]) if ORIENTATION_KEYWORD in prop else None,
        answers_orientation=bool(prop.get(ANSWER_KEYWORD)),
        not_before=not_before,
    )


def _kind(name: str, prop: Mapping[str, Any], ui: Mapping[str, Any]) -> FieldKind:
    kind = prop.get("type")
    if kind == "object":
        return "group"
    if kind == "array":
        if _choices(prop.get("items", {})) or name == ANSWER_FIELDS["reasons"]:
            # the refusal reasons are the territory's (``orientations.with_services``)
            return "multichoice"
        raise FormError("form.unsupported_array", name)
    if "enum" in prop or "oneOf" in prop:
        return "choice"
    simple: dict[str, FieldKind] = {"integer": "integer", "number": "number",
                                    "boolean": "boolean"}
    if kind in simple:
        return simple[kind]
    if kind == "string":
        if prop.get("format") == "date":
            return "date"
        return "textarea" if ui.get("ui:widget") == "textarea" else "text"
    raise FormError("form.unsupported_type", f"{name}: {kind}")


def _choices(prop: Mapping[str, Any]) -> tuple[Choice, ...]:
    if "enum" in prop:
        return tuple(Choice(v, str(v)) for v in prop["enum"])
    if "oneOf" in prop:
        out = []
        for option in prop["oneOf"]:
            if not isinstance(option, Mapping) or "const" not in option:
                raise FormError("form.bad_choice", json.dumps(option)[:60])
            out.append(Choice(option["const"], str(option.get("title", option["const"]))))
        return tuple(out)
    return ()


def _with_limits(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` where every free-text field has a length limit and no unknown
    field is accepted (a submission may not write case data the form does not show)."""
    limited = copy.deepcopy(schema)

    def walk(node: dict[str, Any]) -> None:
        if node.get("type") == "object":
            node.setdefault("additionalProperties", False)
            for child in node.get("properties", {}).values():
                if isinstance(child, dict):
                    walk(child)
        elif node.get("type") == "string" and "enum" not in node and "oneOf" not in node:
            node.setdefault("maxLength", TEXTAREA_MAX)
        elif node.get("type") == "array":
            node.setdefault("maxItems", 100)

    walk(limited)
    return limited


# --------------------------------------------------------------------------- Camunda

_CAMUNDA_TYPES = {"string": "string", "long": "integer", "boolean": "boolean",
                  "date": "string", "enum": "string"}


def form_from_camunda(fields: Sequence[Mapping[str, Any]], title: str = "") -> FormSpec:
    """Field specs from a Camunda ``formData`` field list (as read by the parser)."""
    props: dict[str, Any] = {}
    required: list[str] = []
    ui: dict[str, Any] = {"ui:order": []}
    for f in fields:
        name, ftype = f.get("id"), f.get("type")
        if not name or ftype not in _CAMUNDA_TYPES:
            raise FormError("form.unsupported_type", f"{name}: {ftype}")
        prop: dict[str, Any] = {"type": _CAMUNDA_TYPES[ftype], "title": f.get("label") or name}
        if ftype == "date":
            prop["format"] = "date"
        if ftype == "enum":
            prop["oneOf"] = [{"const": o["id"], "title": o.get("name") or o["id"]}
                             for o in f.get("options", [])]
        constraints = f.get("constraints", {})
        if "required" in constraints:
            required.append(name)
        _camunda_bounds(prop, constraints, ftype)
        if f.get("properties", {}).get("widget") == "textarea":
            ui[name] = {"ui:widget": "textarea"}
        props[name] = prop
        ui["ui:order"].append(name)
    schema = {"type": "object", "title": title, "properties": props, "required": required}
    return form_from_schema(schema, ui)


def _camunda_bounds(prop: dict[str, Any], constraints: Mapping[str, Any], ftype: str) -> None:
    names = {"min": "minimum", "max": "maximum"} if ftype == "long" else \
        {"minlength": "minLength", "maxlength": "maxLength"}
    for source, target in names.items():
        if constraints.get(source) not in (None, ""):
            try:
                prop[target] = int(constraints[source])
            except ValueError:
                raise FormError("form.bad_constraint", f"{source}={constraints[source]}") from None


# --------------------------------------------------------------------------- validation

def validate(form: FormSpec, data: Mapping[str, Any], lang: str = "fr", *,
             today: date | None = None, case: Mapping[str, Any] | None = None,
             labels: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Validate ``data`` against ``form``; return ``{field path: [messages]}``.

    A date field with ``x-aiguillage-not-before`` is also compared with the field it names
    (in ``data``, else in the ``case`` data answered earlier; ``labels`` names fields of other
    forms) or, for ``"today"``, with ``today`` (unchecked when None)."""
    if safejson.depth(data) > safejson.MAX_DEPTH:
        return {"": [render("json.too_deep", lang, {"detail": safejson.MAX_DEPTH})]}
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError):
        return {"": [render("form.not_json", lang, {})]}
    errors: dict[str, list[str]] = {}
    validator = Draft202012Validator(form.schema, format_checker=FormatChecker())
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        for path, message in _messages(error, lang):
            errors.setdefault(path, [])
            if message not in errors[path]:
                errors[path].append(message)
    for path, message in _order_errors(form, data, lang, today, case or {}, labels or {}):
        if path not in errors:
            errors[path] = [message]
    return errors


def as_day(value: Any) -> date | None:
    """The day a date answer (``YYYY-MM-DD``) names, or None (empty, not a date)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def _order_errors(form: FormSpec, data: Mapping[str, Any], lang: str, today: date | None,
                  case: Mapping[str, Any], labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """« La date d'audience ne peut pas être antérieure à la date du commandement. »"""
    out = []
    own = {f.name: f.label for f in form.fields}
    for spec in form.fields:
        day = as_day(data.get(spec.name)) if spec.not_before else None
        if day is None or spec.not_before is None:
            continue
        if spec.not_before == TODAY:
            if today is not None and day < today:
                out.append((spec.path, render("form.not_before_today", lang,
                                              {"field": _the(spec.label, lang)})))
            continue
        other_name = spec.not_before
        other = as_day(data[other_name]) if data.get(other_name) not in (None, "") else \
            as_day(case.get(other_name))
        if other is not None and day < other:
            label = own.get(other_name) or labels.get(other_name) or other_name
            out.append((spec.path, render("form.not_before", lang, {
                "field": _the(spec.label, lang), "other": _the(label, lang, lower=True),
                "day": other.strftime("%d/%m/%Y")})))
    return out


def _the(label: str, lang: str, lower: bool = False) -> str:
    """« La date d'audience » from the label « Date d'audience »; another label is quoted."""
    if label[:5].lower() == "date " or label.lower().startswith("date d"):
        if lang == "en":
            return ("the " if lower else "The ") + label[0].lower() + label[1:]
        return ("la " if lower else "La ") + label[0].lower() + label[1:]
    return f"« {label} »"


def _messages(error: ValidationError, lang: str) -> list[tuple[str, str]]:
    base = ".".join(str(p) for p in error.absolute_path)
    prefix = f"{base}." if base else ""
    kind = error.validator
    if kind == "required":
        instance = error.instance if isinstance(error.instance, Mapping) else {}
        props = error.schema.get("properties", {})
        return [(f"{prefix}{name}", render(_required_code(props.get(name)), lang, {}))
                for name in error.validator_value if name not in instance]
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return [(f"{prefix}{name}", render("form.unknown_field", lang, {})) for name in extra]
    params: dict[str, Any] = {"limit": error.validator_value}
    if kind == "type":
        params = {"type": render(f"form.type.{error.validator_value}", lang, {})}
    code = {
        "type": "form.type", "enum": "form.choice", "oneOf": "form.choice", "const": "form.choice",
        "minimum": "form.minimum", "maximum": "form.maximum",
        "exclusiveMinimum": "form.minimum", "exclusiveMaximum": "form.maximum",
        "minLength": "form.min_length", "maxLength": "form.max_length",
        "format": "form.date", "uniqueItems": "form.unique", "maxItems": "form.max_items",
        "minItems": "form.min_items", "pattern": "form.pattern",
    }.get(str(kind), "form.invalid")
    return [(base, render(code, lang, params))]


def _required_code(prop: Any) -> str:
    """A required yes/no left unanswered asks for an answer, not for « a value »."""
    yes_no = isinstance(prop, Mapping) and prop.get("type") == "boolean"
    return "form.required_yes_no" if yes_no else "form.required"


def clean(form: FormSpec, data: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-clean deep copy of validated ``data`` (never shares structure with input)."""
    result: dict[str, Any] = json.loads(json.dumps(data, allow_nan=False))
    return result


def coerce(form: FormSpec, raw: Mapping[str, Any],
           lang: str = "fr") -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Turn posted strings (``{"path": "text" or [...]}``) into typed data, or errors (in
    ``lang``).

    Empty optional values are left out, so a blank field never overwrites with ``""``.
    """
    data: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    _coerce_fields(form.fields, raw, data, errors, lang)
    return data, errors


def _coerce_fields(fields: Sequence[FieldSpec], raw: Mapping[str, Any], out: dict[str, Any],
                   errors: dict[str, list[str]], lang: str) -> None:
    for spec in fields:
        if spec.kind == "group":
            group: dict[str, Any] = {}
            _coerce_fields(spec.children, raw, group, errors, lang)
            if group or spec.required:
                out[spec.name] = group
            continue
        value = raw.get(spec.path)
        try:
            converted = _convert(spec, value)
        except ValueError:
            expected = render(f"form.type.{spec.kind}", lang, {})
            errors.setdefault(spec.path, []).append(render("form.type", lang, {"type": expected}))
            continue
        if converted is not None:
            out[spec.name] = converted


def _convert(spec: FieldSpec, value: Any) -> Any:  # noqa: C901 - one branch per kind
    if spec.kind == "boolean":
        if isinstance(value, list):
            value = value[0] if value else None
        if value in (None, ""):
            # an optional box left unticked means « non »; a required yes/no must be
            # answered (two radio choices): left blank, the schema's ``required`` refuses it
            return None if spec.required or spec.choices else False
        return str(value).lower() in ("1", "true", "on", "oui", "yes")
    if spec.kind == "multichoice":
        values = value if isinstance(value, list) else ([] if value in (None, "") else [value])
        mapping = {str(c.value): c.value for c in spec.choices}
        return [mapping.get(str(v), v) for v in values] if values or spec.required else None
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    text = str(value).strip()
    if spec.kind == "integer":
        return int(text)
    if spec.kind == "number":
        return float(text.replace(",", "."))
    if spec.kind == "choice":
        mapping = {str(c.value): c.value for c in spec.choices}
        return mapping.get(text, text)
    return text if spec.kind != "textarea" else str(value)
