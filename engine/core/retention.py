"""How long a closed case keeps the household's data, and what anonymising it rewrites.
Pure data and functions (no database).

A territory's ``territory.json`` says, for every circuit or once for all of them, how long
after its closing a case is kept before it is anonymised: ``"retention": {"closed_cases":
"24M"}`` (a whole number and a unit: ``J`` days, ``M`` months, ``A`` years; ``D`` and ``Y``
are read too). A rule shorter than ``MINIMUM`` is refused with ``MINIMUM_REASON``.

A case is kept whatever its rule while a legal hold stands (``held``): a hold a coordinator
put on it with a reason, or an eviction procedure still running — the case recorded a stage
of the procedure and did not end at one of the end events its circuit's rule lists as
settling the procedure (``"ends_of_procedure"``). That hold is bounded: it stands at most
``"procedure_hold"`` after the procedure's last recorded act (its latest stage, or the
case's closing if later), ``PROCEDURE_HOLD`` unless the rule says otherwise; then the case
follows its rule like any other (« à faire valider par un juriste »).

Anonymising rewrites the answers of the case (``scrubbers``): the household's name becomes
``ANONYMOUS_NAME``, the other identity answers are emptied, every free text is emptied
(a group's free texts too); choices, numbers, yes/no answers and dates of the procedure stay,
so that the case's steps, its end and the statistics read the same.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.core.consent import IDENTITY
from engine.core.forms import FieldSpec
from engine.core.household import NAME_FIELD

ANONYMOUS_NAME = "Ménage anonymisé"
CLOSED_CASES = "closed_cases"
PROCEDURE_HOLD = "procedure_hold"

UNITS: dict[str, str] = {"J": "days", "D": "days", "M": "months", "A": "years", "Y": "years"}
UNIT_WORDS = {"days": ("jour", "jours"), "months": ("mois", "mois"), "years": ("an", "ans")}
_LETTERS = {"days": "J", "months": "M", "years": "A"}
_DURATION = re.compile(r"^\s*(\d{1,4})\s*([A-Za-z]+)\s*$")

# The shortest rule a territory may write. The case must outlive the time to appeal a
# decision taken on it (two months for an administrative appeal, then the court's time), a
# person's return after an interruption, and a request of access to what was decided.
# Six months is a conservative floor, to be validated by the DPO (« à faire valider par le
# DPO »): a territory writes 24 months (the reference circuits) unless its DPO decides.
MINIMUM_MONTHS = 6
MINIMUM_REASON = ("6 mois au moins après la clôture : délais de recours contre les décisions "
                  "prises sur le dossier et reprise d'un accompagnement interrompu "
                  "(minimum à faire valider par le DPO)")


# How long after the last recorded act of an eviction procedure a case ended without
# settling it is still kept (``Rule.procedure_hold``). Three years: the time within which
# the actions arising from a lease are prescribed (article 7-1 of the law of 6 July 1989),
# so the procedure cannot start again from the debt the case followed past it. A default
# to be validated by a jurist (« à faire valider par un juriste »); a territory writes its
# own in the circuit's rule.
PROCEDURE_HOLD_MONTHS = 36
PROCEDURE_HOLD_REASON = ("3 ans après le dernier acte noté de la procédure : prescription "
                         "des actions nées du bail, article 7-1 de la loi du 6 juillet 1989 "
                         "(à faire valider par un juriste)")


class RetentionError(ValueError):
    """A retention rule that cannot be applied (its text is French, for the file's author)."""


@dataclass(frozen=True)
class Duration:
    """A whole number of days, months or years."""

    count: int
    unit: str  # days | months | years

    def after(self, instant: datetime) -> datetime:
        """``instant`` plus this duration (a month from 31 January is the last of February)."""
        if self.unit == "days":
            return instant + timedelta(days=self.count)
        months = self.count * (12 if self.unit == "years" else 1)
        index = instant.month - 1 + months
        year, month = instant.year + index // 12, index % 12 + 1
        day = min(instant.day, calendar.monthrange(year, month)[1])
        return instant.replace(year=year, month=month, day=day)

    def before(self, instant: datetime) -> datetime:
        """``instant`` minus this duration (the closing date from which a case is due)."""
        if self.unit == "days":
            return instant - timedelta(days=self.count)
        months = self.count * (12 if self.unit == "years" else 1)
        index = instant.month - 1 - months
        year, month = instant.year + index // 12, index % 12 + 1
        day = min(instant.day, calendar.monthrange(year, month)[1])
        return instant.replace(year=year, month=month, day=day)

    def months(self) -> float:
        """The duration in months (a day is 1/30 of a month), to compare with the minimum."""
        return {"days": self.count / 30, "months": self.count,
                "years": self.count * 12}[self.unit]

    def words(self) -> str:
        """« 24 mois », « 2 ans », « 1 jour »."""
        one, many = UNIT_WORDS[self.unit]
        return f"{self.count} {one if self.count == 1 else many}"

    def text(self) -> str:
        """As a file writes it: ``24M``."""
        return f"{self.count}{_LETTERS[self.unit]}"


def parse_duration(text: object) -> Duration:
    """``"24M"`` → 24 months.

    :raises RetentionError: not a duration, an unknown unit, or zero.
    """
    found = _DURATION.match(text) if isinstance(text, str) else None
    if found is None:
        raise RetentionError(f"« {text} » n'est pas une durée (un nombre et une unité, "
                             "par exemple 24M)")
    count, unit = int(found.group(1)), found.group(2).upper()
    if unit not in UNITS:
        raise RetentionError(f"unité « {found.group(2)} » inconnue (J jours, M mois, A années)")
    if count == 0:
        raise RetentionError("durée nulle")
    return Duration(count, UNITS[unit])


@dataclass(frozen=True)
class Rule:
    """What a territory says of one circuit's closed cases."""

    closed_cases: Duration
    ends_of_procedure: tuple[str, ...] = ()
    procedure_hold: Duration = Duration(PROCEDURE_HOLD_MONTHS, "months")

    def as_json(self) -> dict[str, Any]:
        return {CLOSED_CASES: self.closed_cases.text(),
                "ends_of_procedure": list(self.ends_of_procedure),
                PROCEDURE_HOLD: self.procedure_hold.text()}


@dataclass(frozen=True)
class Rules:
    """A territory's rules: its default and each circuit's (by circuit key)."""

    default: Rule | None = None
    circuits: Mapping[str, Rule] = field(default_factory=dict)

    def of(self, circuit_key: str) -> Rule | None:
        """The rule of a circuit (its own, else the territory's; None: kept)."""
        return self.circuits.get(circuit_key, self.default)

    def as_json(self) -> dict[str, Any]:
        """As stored on the territory row (``territory.retention``)."""
        return {"default": self.default.as_json() if self.default else None,
                "circuits": {k: r.as_json() for k, r in sorted(self.circuits.items())}}


def parse_rule(data: Mapping[str, Any], where: str) -> Rule:
    """One ``retention`` object of a territory file; ``where`` names it in errors
    (« circuit coordination »).

    :raises RetentionError: a bad duration, or one shorter than the minimum.
    """
    try:
        duration = parse_duration(data.get(CLOSED_CASES))
    except RetentionError as exc:
        raise RetentionError(f"retention ({where}) : {exc}") from None
    if duration.months() < MINIMUM_MONTHS:
        raise RetentionError(f"retention ({where}) : {duration.words()}, c'est moins que le "
                             f"minimum légal retenu — {MINIMUM_REASON}")
    ends = data.get("ends_of_procedure") or []
    if data.get(PROCEDURE_HOLD) is None:
        return Rule(duration, tuple(str(e) for e in ends))
    try:
        bound = parse_duration(data.get(PROCEDURE_HOLD))
    except RetentionError as exc:
        raise RetentionError(f"retention ({where}), {PROCEDURE_HOLD} : {exc}") from None
    return Rule(duration, tuple(str(e) for e in ends), bound)


def rules_from_json(data: Mapping[str, Any] | None) -> Rules:
    """The rules as stored on the territory row (already checked when loaded)."""
    if not data:
        return Rules()
    default = data.get("default")
    return Rules(_stored(default) if default else None,
                 {k: _stored(v) for k, v in (data.get("circuits") or {}).items()})


def _stored(data: Mapping[str, Any]) -> Rule:
    bound = data.get(PROCEDURE_HOLD)  # none: a rule stored before the hold had its bound
    return Rule(parse_duration(data[CLOSED_CASES]), tuple(data.get("ends_of_procedure") or ()),
                parse_duration(bound) if bound else Duration(PROCEDURE_HOLD_MONTHS, "months"))


# --------------------------------------------------------------------------- the answers

Scrub = Callable[[Any], Any]


def _empty_text(value: Any) -> Any:
    return "" if isinstance(value, str) else value


def _nothing(value: Any) -> Any:
    return "" if isinstance(value, str) else None


def _name(value: Any) -> Any:
    return ANONYMOUS_NAME


def _group(children: Mapping[str, Scrub]) -> Scrub:
    def scrub(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: children[k](v) if k in children else v for k, v in value.items()}
    return scrub


def scrubber(spec: FieldSpec, identity: bool = False) -> Scrub | None:
    """How anonymising rewrites one field's answer (None: it stays)."""
    if spec.name == NAME_FIELD:
        return _name
    if identity or spec.category == IDENTITY:
        if spec.kind == "group":
            return _group({c.name: s for c in spec.children
                           if (s := scrubber(c, identity=True)) is not None})
        return _nothing
    if spec.kind in ("text", "textarea"):
        return _empty_text
    if spec.kind == "group":
        children = {c.name: s for c in spec.children if (s := scrubber(c)) is not None}
        return _group(children) if children else None
    return None


def scrubbers(fields: Iterable[FieldSpec]) -> dict[str, Scrub]:
    """Field name → how its answer is rewritten, over a circuit's fields."""
    return {spec.name: s for spec in fields if (s := scrubber(spec)) is not None}
