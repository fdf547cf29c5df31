"""Circuit bundles, on disk or in memory: territory files, BPMN files and the forms they name."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from engine.core import safejson
from engine.core.messages import render
from engine.core.retention import (
    CLOSED_CASES,
    PROCEDURE_HOLD,
    RetentionError,
    Rules,
    parse_rule,
)

MAX_FILE_BYTES = 2 * 1024 * 1024
# how long a closed case is kept (``engine.core.retention``): on the territory, for every
# circuit, or on one circuit's entry
RETENTION_SCHEMA: dict[str, Any] = {
    "type": "object", "required": [CLOSED_CASES], "additionalProperties": False,
    "properties": {CLOSED_CASES: {"type": "string", "maxLength": 20},
                   # the end events after which an eviction procedure is over
                   "ends_of_procedure": {"type": "array", "items": {
                       "type": "string", "minLength": 1, "maxLength": 200}},
                   # how long after its last act an unsettled procedure still holds a case
                   PROCEDURE_HOLD: {"type": "string", "maxLength": 20}}}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")

TERRITORY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "name", "roles"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$", "maxLength": 40},
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "holiday_subdivision": {"type": ["string", "null"]},
        "retention": RETENTION_SCHEMA,
        # yearly periods a step's ``period`` rule names (the winter truce), ``MM-DD`` bounds
        # included; ``from`` after ``to`` crosses the year end
        "periods": {"type": "array", "items": {
            "type": "object", "required": ["key", "label", "from", "to"],
            "additionalProperties": False,
            "properties": {"key": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$",
                                   "maxLength": 40},
                           "label": {"type": "string", "minLength": 1, "maxLength": 200},
                           "from": {"type": "string", "pattern": "^[0-9]{2}-[0-9]{2}$"},
                           "to": {"type": "string", "pattern": "^[0-9]{2}-[0-9]{2}$"}}}},
        "roles": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["key", "label"], "additionalProperties": False,
            "properties": {"key": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                           "label": {"type": "string", "minLength": 1},
                           # read by nothing: older files flagged outside partners, whose
                           # view now follows the parties and the consent of each case
                           "partner": {"type": "boolean"}}}},
        "parts": {"type": "array", "items": {
            "type": "object", "required": ["key", "label"], "additionalProperties": False,
            "properties": {"key": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$",
                                   "maxLength": 40},
                           "label": {"type": "string", "minLength": 1, "maxLength": 200}}}},
        "circuits": {"type": "array", "items": {
            "type": "object", "required": ["key", "title", "file", "process"],
            "additionalProperties": False,
            "properties": {"key": {"type": "string", "pattern": "^[a-z][a-z0-9_-]*$"},
                           "title": {"type": "string", "minLength": 1},
                           # what the circuit is for, to the person opening a case
                           "description": {"type": "string", "minLength": 1,
                                           "maxLength": 500},
                           "file": {"type": "string"}, "process": {"type": "string"},
                           "retention": RETENTION_SCHEMA}}},
    },
}


@dataclass(frozen=True)
class Role:
    """A role people hold in a territory; lanes are named after roles."""

    key: str
    label: str


@dataclass(frozen=True)
class Part:
    """A part an organisation plays in a case (referrer, operator, landlord...)."""

    key: str
    label: str


@dataclass(frozen=True)
class Period:
    """A yearly period of a territory (``start`` and ``end`` as ``MM-DD``, both included;
    ``start`` after ``end``: the period crosses the year end)."""

    key: str
    label: str
    start: str
    end: str


@dataclass(frozen=True)
class CircuitEntry:
    """A circuit a territory declares: its main file and process id."""

    key: str
    title: str
    file: str
    process: str
    description: str | None = None  # deployed as the process's documentation


@dataclass(frozen=True)
class Territory:
    """A territory folder's settings."""

    code: str
    name: str
    roles: tuple[Role, ...]
    holiday_subdivision: str | None = None
    circuits: tuple[CircuitEntry, ...] = ()
    parts: tuple[Part, ...] = ()
    periods: tuple[Period, ...] = ()
    retention: Rules = field(default_factory=Rules)

    def role_for_lane(self, lane: str | None) -> Role | None:
        """The role a lane name designates (by key or by label), if any."""
        return role_for_lane(self.roles, lane)


def role_for_lane(roles: Iterable[Role], lane: str | None) -> Role | None:
    """The role whose key or label equals ``lane`` (case and spaces tolerated)."""
    if lane is None:
        return None
    wanted = " ".join(lane.split()).casefold()
    for role in roles:
        if wanted in (role.key.casefold(), " ".join(role.label.split()).casefold()):
            return role
    return None


@dataclass
class CircuitBundle:
    """Everything a circuit version is made of, as bytes: what gets checked and deployed."""

    process_id: str | None
    main_file: str
    bpmn: dict[str, bytes]
    forms: dict[str, bytes] = field(default_factory=dict)
    roles: tuple[Role, ...] = ()
    holiday_subdivision: str | None = None
    title: str | None = None
    parts: tuple[Part, ...] | None = None  # the territory's; None: not known, not checked
    # the territory's periods (its files', or the territory row's as they were last loaded);
    # None: not known, a step's ``period`` then unchecked
    periods: tuple[Period, ...] | None = None


class TerritoryError(ValueError):
    """The territory file is missing or invalid."""


def parse_territory(raw: bytes | str) -> Territory:
    """Read and validate a ``territory.json`` text."""
    try:
        data = safejson.loads(raw)
    except safejson.JsonError as exc:
        raise TerritoryError(render(exc.code, "fr", {"detail": exc.detail})) from None
    errors = sorted(Draft202012Validator(TERRITORY_SCHEMA).iter_errors(data), key=str)
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "racine"
        raise TerritoryError(f"{where} : {_territory_error(first)}")
    keys = [r["key"] for r in data["roles"]]
    if len(set(keys)) != len(keys):
        raise TerritoryError("roles: clé en double")
    parts = [p["key"] for p in data.get("parts", [])]
    doubled = sorted({k for k in parts if parts.count(k) > 1})
    if doubled:
        raise TerritoryError(f"parts : clé en double ({', '.join(doubled)})")
    periods = tuple(Period(p["key"], p["label"], p["from"], p["to"])
                    for p in data.get("periods", []))
    _check_periods(periods)
    rules = _retention(data)
    return Territory(
        code=data["code"], name=data["name"],
        roles=tuple(Role(r["key"], r["label"]) for r in data["roles"]),
        holiday_subdivision=data.get("holiday_subdivision"),
        circuits=tuple(CircuitEntry(**{k: v for k, v in c.items() if k != "retention"})
                       for c in data.get("circuits", [])),
        parts=tuple(Part(p["key"], p["label"]) for p in data.get("parts", [])),
        periods=periods, retention=rules,
    )


def _retention(data: dict[str, Any]) -> Rules:
    """The territory's retention rules, each checked (French errors naming the circuit)."""
    try:
        default = parse_rule(data["retention"], "tous les circuits") \
            if "retention" in data else None
        circuits = {c["key"]: parse_rule(c["retention"], f"circuit {c['key']}")
                    for c in data.get("circuits", []) if "retention" in c}
    except RetentionError as exc:
        raise TerritoryError(str(exc)) from None
    return Rules(default, circuits)


def _check_periods(periods: tuple[Period, ...]) -> None:
    keys = [p.key for p in periods]
    doubled = sorted({k for k in keys if keys.count(k) > 1})
    if doubled:
        raise TerritoryError(f"periods : clé en double ({', '.join(doubled)})")
    for period in periods:
        for bound in (period.start, period.end):
            try:  # 29 February refused: the period must exist every year
                date.fromisoformat(f"2001-{bound}")
            except ValueError:
                raise TerritoryError(f"periods/{period.key} : date « {bound} » inexistante "
                                     "(mois-jour, par exemple 11-01)") from None


def _territory_error(error: ValidationError) -> str:
    """A schema error of a territory file, in French."""
    if error.validator == "required":
        missing = [n for n in error.validator_value if n not in (error.instance or {})]
        return f"champ obligatoire manquant : {', '.join(missing)}"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"champ inconnu : {', '.join(extra)}"
    return {
        "type": "type de valeur inattendu", "pattern": "format refusé",
        "maxLength": f"texte trop long ({error.validator_value} caractères au plus)",
        "minLength": "texte vide", "minItems": "liste vide",
    }.get(str(error.validator), "valeur refusée")


def load_territory(folder: Path) -> Territory:
    """Read ``folder/territory.json``."""
    path = folder / "territory.json"
    if not path.is_file():
        raise TerritoryError(f"{path} introuvable")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise TerritoryError(render("json.too_big", "fr", {"detail": MAX_FILE_BYTES // 1024}))
    return parse_territory(path.read_bytes())


def safe_name(name: str) -> bool:
    """True for a relative file name with no ``..``, no absolute path, no odd characters."""
    return bool(_SAFE_NAME.match(name)) and ".." not in name.split("/")


def forms_root_for(path: Path) -> Path:
    """The ``forms/`` folder beside the nearest ancestor holding one (else ``./forms``)."""
    for parent in [path if path.is_dir() else path.parent, *path.resolve().parents]:
        if (parent / "forms").is_dir():
            return parent / "forms"
    return Path("forms")


def read_forms(names: Iterable[str], root: Path) -> dict[str, bytes]:
    """The named form files that exist under ``root`` (unsafe or missing names skipped)."""
    out: dict[str, bytes] = {}
    for name in sorted(set(names)):
        if not safe_name(name):
            continue
        path = root / name
        if path.is_file() and path.stat().st_size <= MAX_FILE_BYTES:
            out[name] = path.read_bytes()
    return out


def read_bpmn_folder(folder: Path) -> dict[str, bytes]:
    """Every ``.bpmn`` file of ``folder`` by file name."""
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.bpmn")) if p.is_file()}


def territory_for_file(path: Path) -> Territory | None:
    """The territory a BPMN file belongs to (its folder's ``territory.json``), if any."""
    try:
        return load_territory(path.parent)
    except TerritoryError:
        return None


def entry_for_file(territory: Territory | None, name: str) -> CircuitEntry | None:
    """The circuit entry whose main file is ``name``."""
    if territory is None:
        return None
    return next((c for c in territory.circuits if c.file == name), None)


def bundle(process_id: str | None, main_file: str, bpmn: Mapping[str, bytes],
           forms: Mapping[str, bytes], territory: Territory | None,
           title: str | None = None) -> CircuitBundle:
    """Assemble a bundle from parts already read."""
    return CircuitBundle(
        process_id=process_id, main_file=main_file, bpmn=dict(bpmn), forms=dict(forms),
        roles=territory.roles if territory else (),
        holiday_subdivision=territory.holiday_subdivision if territory else None,
        title=title, parts=territory.parts if territory else None,
        periods=territory.periods if territory else None,
    )
