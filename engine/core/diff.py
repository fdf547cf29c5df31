"""The semantic difference between two versions of a circuit, in plain French.

Elements are matched by BPMN id across every file of each version. For each element we
compare what a coordinator changes: its name, lane, deadline (``dueIn`` or
``dueInWorkingDays``), form, timer value, gateway condition, default path, notice, effect on
the orientation and instructions; form files are compared field by field. Pure: bytes in,
``Change``s out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lxml import etree

from engine.core import bpmnxml, timers
from engine.core.bpmnxml import BPMN, NS, lanes_by_node, local, properties, text_of
from engine.core.rules import ORIENTATION_EFFECTS

Kind = Literal["added", "removed", "changed"]
NODES = ("userTask", "manualTask", "task", "startEvent", "endEvent", "exclusiveGateway",
         "inclusiveGateway", "parallelGateway", "boundaryEvent", "intermediateCatchEvent",
         "intermediateThrowEvent", "callActivity", "subProcess", "sequenceFlow", "lane")
LABELS = {"userTask": "Étape", "manualTask": "Étape", "task": "Étape", "startEvent": "Début",
          "endEvent": "Fin", "exclusiveGateway": "Décision", "inclusiveGateway": "Passerelle",
          "parallelGateway": "Passerelle", "boundaryEvent": "Minuterie",
          "intermediateCatchEvent": "Attente", "intermediateThrowEvent": "Jalon",
          "callActivity": "Appel", "subProcess": "Sous-processus", "sequenceFlow": "Flux",
          "lane": "Couloir", "form": "Formulaire"}
WHAT = {"name": "nom", "type": "type", "lane": "couloir", "due": "délai", "form": "formulaire",
        "timer": "minuterie", "condition": "condition", "default": "chemin par défaut",
        "notify": "notification", "documentation": "consignes", "interrupting": "interruption",
        "called": "processus appelé", "field": "champ", "part": "partie du dossier",
        "orientation": "effet sur l'orientation"}
_DAYS = re.compile(r"^P(\d+)D$")
_WEEKS = re.compile(r"^P(\d+)W$")
_HOURS = re.compile(r"^PT(\d+)H$")
_MONTHS = re.compile(r"^P(\d+)M$")


@dataclass(frozen=True)
class Detail:
    """One property that differs: what, before, after (``None``: absent)."""

    what: str
    old: str | None
    new: str | None

    def text(self) -> str:
        """``délai 15 j → 10 j ouvrés``."""
        if self.what == "documentation":
            return "consignes modifiées"
        if self.what == "field":
            return self.new or self.old or ""
        return f"{WHAT.get(self.what, self.what)} {_show(self.old)} → {_show(self.new)}"


@dataclass(frozen=True)
class Change:
    """An element (or form file) added, removed or changed between two versions."""

    kind: Kind
    element_id: str | None
    element_type: str
    name: str
    details: tuple[Detail, ...] = ()
    lane: str | None = None

    @property
    def label(self) -> str:
        """« Étape « Évaluation » »."""
        kind = LABELS.get(self.element_type, "Élément")
        return f"{kind} « {self.name} »" if self.name else f"{kind} {self.element_id or ''}"

    def text(self) -> str:
        """The plain-language line shown to coordinators."""
        if self.kind == "added":
            where = f" (couloir {self.lane})" if self.lane else ""
            return f"{self.label} ajouté{_e(self.element_type)}{where}"
        if self.kind == "removed":
            return f"{self.label} supprimé{_e(self.element_type)}"
        return f"{self.label} : " + " ; ".join(d.text() for d in self.details)


@dataclass
class _Facts:
    type: str
    name: str
    values: dict[str, str | None] = field(default_factory=dict)
    lane: str | None = None


def _e(element_type: str) -> str:
    """French agreement: « Étape ajoutée », « Flux ajouté »."""
    feminine = {"userTask", "manualTask", "task", "boundaryEvent", "intermediateCatchEvent",
                "endEvent", "exclusiveGateway", "inclusiveGateway", "parallelGateway"}
    return "e" if element_type in feminine else ""


def _show(value: str | None) -> str:
    return "aucun" if value in (None, "") else str(value)


def describe_due(props: Mapping[str, str]) -> str | None:
    """A deadline in words: ``15 j``, ``48 h``, ``10 j ouvrés``, ``7 j avant date_audience``
    (None: no deadline)."""
    due_in = (props.get("dueIn") or "").strip().strip("'\"").upper()
    working = (props.get("dueInWorkingDays") or "").strip()
    plain = describe_duration(due_in) if due_in else f"{working} j ouvrés" if working else None
    relative = (props.get("dueRelative") or "").strip()
    if not relative:
        return plain
    try:
        rel = timers.parse_relative(relative)
    except timers.TimerValueError:
        return relative
    unit = {"days": "j", "working_days": "j ouvrés", "months": "mois"}[rel.unit]
    words = f"{rel.count} {unit} {'avant' if rel.sign < 0 else 'après'} {rel.field}"
    return f"{words} (sinon {plain})" if plain else words


def describe_duration(value: str) -> str:
    """``P15D`` → ``15 j``; other ISO values are shown as written."""
    text = value.strip().strip("'\"").upper()
    for pattern, unit in ((_DAYS, "j"), (_WEEKS, "sem."), (_HOURS, "h"), (_MONTHS, "mois")):
        match = pattern.match(text)
        if match:
            return f"{match[1]} {unit}"
    return value.strip()


def _timer(element: etree._Element) -> str | None:
    definition = element.find("bpmn:timerEventDefinition", NS)
    if definition is None:
        return None
    for tag in ("timeDuration", "timeDate", "timeCycle"):
        value = definition.find(f"bpmn:{tag}", NS)
        if value is not None:
            return describe_duration(text_of(value))
    return ""


def _facts(element: etree._Element, lanes: dict[str, str],
           names: dict[str, str]) -> _Facts:
    kind = local(element)
    props = properties(element)
    values: dict[str, str | None] = {
        "due": describe_due(props), "form": props.get("formJsonSchemaFilename"),
        "notify": props.get("notify"),
        "orientation": ORIENTATION_EFFECTS.get(props.get("orientation") or "",
                                               props.get("orientation")),
        "documentation": text_of(element.find("bpmn:documentation", NS)) or None,
    }
    if kind in ("boundaryEvent", "intermediateCatchEvent"):
        values["timer"] = _timer(element)
    if kind == "boundaryEvent":
        values["interrupting"] = "non" if element.get("cancelActivity") == "false" else "oui"
    if kind == "sequenceFlow":
        values["condition"] = text_of(element.find("bpmn:conditionExpression", NS)) or None
    if kind in ("exclusiveGateway", "inclusiveGateway"):
        default = element.get("default")
        values["default"] = names.get(default, default) if default else None
    if kind == "callActivity":
        values["called"] = element.get("calledElement")
    if kind == "lane":
        values["part"] = props.get("part") or None
    name = element.get("name") or ""
    if kind == "sequenceFlow" and not name:
        source = names.get(element.get("sourceRef", ""), element.get("sourceRef", ""))
        target = names.get(element.get("targetRef", ""), element.get("targetRef", ""))
        name = f"{source} → {target}"
    return _Facts(kind, name, values, lanes.get(element.get("id", "")))


def read_elements(files: Mapping[str, bytes]) -> dict[str, _Facts]:
    """The comparable facts of every element of every BPMN file, by id."""
    out: dict[str, _Facts] = {}
    for file_name, raw in sorted(files.items()):
        doc, _ = bpmnxml.parse_document(file_name, raw)
        if doc is None:
            continue
        lanes = lanes_by_node(doc)
        elements = [e for e in doc.root.iter() if isinstance(e.tag, str)
                    and e.tag.startswith(f"{{{BPMN}}}") and local(e) in NODES and e.get("id")]
        names = {e.get("id", ""): e.get("name") or e.get("id", "") for e in elements}
        for element in elements:
            out.setdefault(element.get("id", ""), _facts(element, lanes, names))
    return out


def diff_files(old: Mapping[str, bytes], new: Mapping[str, bytes],
               old_forms: Mapping[str, bytes] | None = None,
               new_forms: Mapping[str, bytes] | None = None,
               parts: Mapping[str, str] | None = None) -> list[Change]:
    """Every change from ``old`` to ``new`` (BPMN files, then form files); a lane's part is
    named by its label in ``parts`` (the territory's: key → label)."""
    before, after = read_elements(old), read_elements(new)
    for facts in [*before.values(), *after.values()]:
        part = facts.values.get("part")
        if part and parts:
            facts.values["part"] = parts.get(part, part)
    changes: list[Change] = []
    for element_id, facts in after.items():
        if element_id not in before:
            changes.append(Change("added", element_id, facts.type, facts.name, lane=facts.lane))
            continue
        details = _details(before[element_id], facts)
        if details:
            changes.append(Change("changed", element_id, facts.type, facts.name,
                                  tuple(details), facts.lane))
    for element_id, facts in before.items():
        if element_id not in after:
            changes.append(Change("removed", element_id, facts.type, facts.name,
                                  lane=facts.lane))
    changes.sort(key=lambda c: (c.element_type == "sequenceFlow", c.kind, c.name))
    return changes + diff_forms(old_forms or {}, new_forms or {})


def _details(old: _Facts, new: _Facts) -> list[Detail]:
    details = []
    if old.type != new.type:
        details.append(Detail("type", LABELS.get(old.type, old.type), LABELS.get(new.type,
                                                                                 new.type)))
    if old.name != new.name:
        details.append(Detail("name", old.name, new.name))
    if old.lane != new.lane and new.type != "lane":
        details.append(Detail("lane", old.lane, new.lane))
    for key in sorted(set(old.values) | set(new.values)):
        if old.values.get(key) != new.values.get(key):
            details.append(Detail(key, old.values.get(key), new.values.get(key)))
    return details


# --------------------------------------------------------------------------- forms

def diff_forms(old: Mapping[str, bytes], new: Mapping[str, bytes]) -> list[Change]:
    """Form files added, removed, or changed (fields added, removed, relabelled...)."""
    changes: list[Change] = []
    for name in sorted(set(old) | set(new)):
        if name.endswith(".ui.json"):
            continue
        if name not in old:
            changes.append(Change("added", None, "form", name))
        elif name not in new:
            changes.append(Change("removed", None, "form", name))
        elif old[name] != new[name] or old.get(_ui(name)) != new.get(_ui(name)):
            details = _field_details(_schema(old[name]), _schema(new[name]))
            changes.append(Change("changed", None, "form", name, tuple(details or [
                Detail("field", None, "présentation modifiée")])))
    return changes


def _ui(name: str) -> str:
    return name[:-5] + ".ui.json" if name.endswith(".json") else name


def _schema(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _field_details(old: dict[str, Any], new: dict[str, Any]) -> list[Detail]:
    before, after = old.get("properties") or {}, new.get("properties") or {}
    required_before, required_after = set(old.get("required") or []), set(
        new.get("required") or [])
    out = []
    for name in after:
        label = _title(after[name], name)
        if name not in before:
            out.append(Detail("field", None, f"champ « {label} » ajouté"))
            continue
        if _title(before[name], name) != label:
            out.append(Detail("field", None,
                              f"champ « {_title(before[name], name)} » renommé « {label} »"))
        if (name in required_before) != (name in required_after):
            state = "obligatoire" if name in required_after else "facultatif"
            out.append(Detail("field", None, f"champ « {label} » devenu {state}"))
        elif before[name] != after[name] and _title(before[name], name) == label:
            out.append(Detail("field", None, f"champ « {label} » modifié"))
    for name in before:
        if name not in after:
            out.append(Detail("field", f"champ « {_title(before[name], name)} » supprimé",
                              None))
    return out


def _title(prop: Any, name: str) -> str:
    return str(prop.get("title") or name) if isinstance(prop, dict) else name
