"""Forms of the circuits pages: deploy, import, and the form-file editor's rows.

The editor shows one row per top-level field (name, label, kind, required, choices, help,
order); posted rows become a JSON Schema plus a UI schema. Settings the editor does not show
(``maxLength``, ``minimum``...) are carried in each row and kept while the kind is unchanged.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from flask import Request
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import IntegerField, MultipleFileField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp
from wtforms.widgets import HiddenInput

from engine.core import forms as core_forms
from engine.core import safejson
from engine.core.simulate import ScenarioError
from engine.errors import FormInvalid
from engine.persistence.models import CircuitDraft
from engine.services import drafts
from engine.services.access import Actor
from webapp import postdata
from webapp.i18n import error_text

KINDS = ("text", "textarea", "integer", "number", "boolean", "date", "choice", "multichoice")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_ROWS = 100


class DeployForm(FlaskForm):  # type: ignore[misc]
    """Deploy a draft: the revision it was checked at, and a note."""

    revision = IntegerField(widget=HiddenInput(), validators=[DataRequired()])
    note = TextAreaField(lazy_gettext("Note de version (ce qui change et pourquoi)"),
                         validators=[Length(max=500)])


class ImportForm(FlaskForm):  # type: ignore[misc]
    """Upload BPMN and form files as a new draft."""

    key = StringField(lazy_gettext("Identifiant du circuit (minuscules, chiffres, tirets)"),
                      validators=[DataRequired(), Length(max=60),
                                  Regexp(r"^[a-z][a-z0-9_-]*$")])
    title = StringField(lazy_gettext("Titre du circuit"),
                        validators=[DataRequired(), Length(max=200)])
    files = MultipleFileField(lazy_gettext("Fichiers .bpmn et formulaires .json"))


def editor_rows(draft: CircuitDraft, name: str, request: Request) -> tuple[
        list[dict[str, Any]], str, list[str], core_forms.FormSpec | None]:
    """Rows, title, errors and (when valid) the field specs of the form being edited."""
    if request.method == "POST":
        rows, title = _posted(request)
        if request.form.get("action") == "ajouter" and len(rows) < MAX_ROWS:
            rows.append(_row("", "", "text", order=len(rows) + 1))
    else:
        rows, title = _stored(draft, name)
    errors = _row_errors(rows)
    spec = None
    if not errors:
        schema, ui = schema_from_post(rows, title)
        try:
            spec = drafts.validate_form(name, schema, ui)
        except FormInvalid as exc:
            errors = exc.errors.get("", [])
    return rows, title, errors, spec


def _row(name: str, label: str, kind: str, *, required: bool = False, choices: str = "",
         help: str = "", order: int = 0, extra: str = "{}") -> dict[str, Any]:
    return {"name": name, "label": label, "kind": kind, "required": required,
            "choices": choices, "help": help, "order": order, "extra": extra}


def _stored(draft: CircuitDraft, name: str) -> tuple[list[dict[str, Any]], str]:
    raw = draft.form_files.get(name)
    if raw is None:
        return [_row("", "", "text", order=1)], ""
    ui_raw = draft.form_files.get(name[:-5] + ".ui.json")
    try:
        spec = core_forms.load_json_form(raw, ui_raw)
        props = safejson.loads(raw).get("properties", {})
    except (core_forms.FormError, ValueError):
        return [], ""
    rows = [_row(f.name, f.label, f.kind, required=f.required,
                 choices="\n".join(f"{c.value} = {c.label}" for c in f.choices),
                 help=f.help or "", order=i, extra=json.dumps(props.get(f.name, {})))
            for i, f in enumerate(spec.fields, start=1)]
    return rows, spec.title


def _posted(request: Request) -> tuple[list[dict[str, Any]], str]:
    form = request.form
    count = min(form.get("count", 0, type=int), MAX_ROWS)
    rows = []
    for i in range(count):
        name, label = form.get(f"ed-{i}-name", "").strip(), form.get(f"ed-{i}-label", "").strip()
        if not name and not label:
            continue
        rows.append(_row(name, label, form.get(f"ed-{i}-kind", "text"),
                         required=bool(form.get(f"ed-{i}-required")),
                         choices=form.get(f"ed-{i}-choices", ""),
                         help=form.get(f"ed-{i}-help", "").strip(),
                         order=form.get(f"ed-{i}-order", i + 1, type=int),
                         extra=form.get(f"ed-{i}-extra", "{}")))
    return rows, form.get("title", "").strip()[:200]


def _row_errors(rows: list[dict[str, Any]]) -> list[str]:
    errors = []
    seen: set[str] = set()
    for row in rows:
        if not FIELD_NAME.match(row["name"]):
            errors.append(f"Nom de champ « {row['name']} » : lettres minuscules, chiffres et _ "
                          "(il commence par une lettre).")
        elif row["name"] in seen:
            errors.append(f"Le champ « {row['name']} » figure deux fois.")
        seen.add(row["name"])
        if row["kind"] not in (*KINDS, "group"):
            errors.append(f"Type inconnu pour le champ « {row['name']} ».")
        elif row["kind"] in ("choice", "multichoice") and not _choices(row["choices"]):
            errors.append(f"Le champ « {row['label'] or row['name']} » n'a aucun choix.")
        if not row["label"]:
            errors.append(f"Le champ « {row['name']} » n'a pas de libellé.")
    return errors


def _choices(text: str) -> list[dict[str, str]]:
    out = []
    for line in text.splitlines():
        value, _, label = line.partition("=")
        if value.strip():
            out.append({"const": value.strip(), "title": (label or value).strip()})
    return out


def schema_from_post(rows: list[dict[str, Any]], title: str) -> tuple[dict[str, Any],
                                                                     dict[str, Any]]:
    """The JSON Schema and UI schema the rows describe."""
    ordered = sorted(rows, key=lambda r: r["order"])
    props = {r["name"]: _prop(r) for r in ordered}
    ui: dict[str, Any] = {"ui:order": [r["name"] for r in ordered]}
    for row in ordered:
        entry = {}
        if row["kind"] == "textarea":
            entry["ui:widget"] = "textarea"
        if row["help"]:
            entry["ui:help"] = row["help"][:500]
        if entry:
            ui[row["name"]] = entry
    schema = {"title": title, "type": "object",
              "required": [r["name"] for r in ordered if r["required"]], "properties": props}
    return schema, ui


def _prop(row: dict[str, Any]) -> dict[str, Any]:
    try:
        extra = safejson.loads(row["extra"], max_bytes=20_000)
    except ValueError:
        extra = {}
    extra = extra if isinstance(extra, dict) else {}
    if row["kind"] == "group":
        return {**extra, "title": row["label"]}
    same = _kind_of(extra) == ("text" if row["kind"] == "textarea" else row["kind"])
    base = {k: v for k, v in extra.items() if k not in ("title", "description")} if same else {}
    kind = row["kind"]
    typed: dict[str, Any] = {
        "text": {"type": "string"}, "textarea": {"type": "string"},
        "integer": {"type": "integer"}, "number": {"type": "number"},
        "boolean": {"type": "boolean"}, "date": {"type": "string", "format": "date"},
        "choice": {"type": "string", "oneOf": _choices(row["choices"])},
        "multichoice": {"type": "array", "uniqueItems": True,
                        "items": {"type": "string", "oneOf": _choices(row["choices"])}},
    }[kind]
    if kind in ("choice", "multichoice"):
        base.pop("enum", None)
        base.pop("items", None)
    return {**base, **typed, "title": row["label"]}


def _kind_of(prop: dict[str, Any]) -> str | None:
    try:
        return core_forms.form_from_schema({"type": "object", "properties": {"x": prop}}).fields[
            0].kind
    except (core_forms.FormError, IndexError):
        return None


class DryRunState:
    """A dry-run carried by the page: start instant, start answers, steps played so far."""

    def __init__(self, start: datetime, data: dict[str, Any] | None,
                 steps: list[dict[str, Any]]) -> None:
        self.start, self.data, self.steps = start, data, steps

    @classmethod
    def from_request(cls, request: Request, now: datetime) -> DryRunState:
        """The state posted back by the page (a fresh one on GET or « recommencer »)."""
        form = request.form
        if request.method != "POST" or form.get("action") == "recommencer":
            return cls(now, None, [])
        try:
            start = datetime.fromisoformat(form.get("start", ""))
            data = safejson.loads(form["data"]) if form.get("data") else None
            steps = safejson.loads(form.get("steps") or "[]")
        except (ValueError, TypeError):
            return cls(now, None, [])
        ok = isinstance(steps, list) and all(isinstance(s, dict) for s in steps)
        return cls(start if start.tzinfo else now, data if isinstance(data, dict) else None,
                   steps[:200] if ok else [])

    def dumps(self, what: str) -> str:
        """A hidden field's value."""
        return json.dumps(self.data if what == "data" else self.steps, ensure_ascii=False)

    def play(self, session: Session, actor: Actor, draft_id: int,
             request: Request) -> tuple[drafts.DryRun | None, dict[str, list[str]]]:
        """Apply the posted action, replay the walk; errors per field (or ``""``)."""
        action = request.form.get("action", "")
        if self.data is None:
            form = drafts.start_form_of(session, actor, draft_id)
            if action != "commencer":
                return None, {}
            data, errors = postdata.parse(form, request.form)
            if errors:
                return None, errors
            self.data = data
        elif action == "terminer":
            run = drafts.dry_run(session, actor, draft_id, self.start, self.data, self.steps)
            bpmn_id = request.form.get("task", "")
            answers, errors = postdata.parse(run.forms.get(bpmn_id), request.form)
            if errors:
                return run, errors
            self.steps.append({"task": bpmn_id, "data": answers})
        elif action == "attendre":
            self.steps.append({"wait": request.form.get("duree", "").strip().upper()})
        try:
            return drafts.dry_run(session, actor, draft_id, self.start, self.data,
                                  self.steps), {}
        except (FormInvalid, ScenarioError) as exc:
            self.steps = self.steps[:-1]
            errors = exc.errors if isinstance(exc, FormInvalid) else {"": [error_text(exc)]}
            if not self.steps and action == "commencer":
                self.data = None
                return None, errors
            return drafts.dry_run(session, actor, draft_id, self.start, self.data,
                                  self.steps), errors
