"""Retention rules in a territory's files (issue #16, item 2): read per circuit or for the
whole territory, refused with the reason when not a duration, in an unknown unit or shorter
than the legal minimum; what anonymising rewrites in a case's answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.core.bundles import TerritoryError, load_territory, parse_territory
from engine.core.forms import form_from_schema
from engine.core.retention import (
    ANONYMOUS_NAME,
    MINIMUM_MONTHS,
    PROCEDURE_HOLD_MONTHS,
    RetentionError,
    Rules,
    parse_duration,
    rules_from_json,
    scrubbers,
)

ROOT = Path(__file__).resolve().parents[2]


def territory(retention: Any = None, circuit: Any = None) -> str:
    data: dict[str, Any] = {
        "code": "essai", "name": "Essai", "roles": [{"key": "coordination", "label": "C"}],
        "circuits": [{"key": "coordination", "title": "C", "file": "c.bpmn", "process": "p"},
                     {"key": "expulsions", "title": "E", "file": "e.bpmn", "process": "e"}]}
    if retention is not None:
        data["retention"] = retention
    if circuit is not None:
        data["circuits"][1]["retention"] = circuit
    return json.dumps(data)


def test_durations_in_days_months_and_years() -> None:
    assert parse_duration("24M").words() == "24 mois"
    assert parse_duration("2a").words() == "2 ans" and parse_duration("2Y").months() == 24
    assert parse_duration(" 400 J ").words() == "400 jours"
    closed = datetime(2026, 8, 31, 10, tzinfo=UTC)
    assert parse_duration("6M").after(closed) == datetime(2027, 2, 28, 10, tzinfo=UTC)
    assert parse_duration("24M").before(datetime(2028, 2, 29, tzinfo=UTC)) == \
        datetime(2026, 2, 28, tzinfo=UTC)
    assert parse_duration("1A").before(datetime(2027, 1, 15, tzinfo=UTC)) == \
        datetime(2026, 1, 15, tzinfo=UTC)


@pytest.mark.parametrize("text, words", [
    ("24W", "unité « W » inconnue"), ("vingt mois", "n'est pas une durée"),
    ("24", "n'est pas une durée"), ("0M", "durée nulle"), (24, "n'est pas une durée"),
    ("-3M", "n'est pas une durée"),
])
def test_what_is_not_a_duration(text: object, words: str) -> None:
    with pytest.raises(RetentionError, match=words):
        parse_duration(text)


def test_the_territory_default_and_a_circuits_own_rule() -> None:
    rules = parse_territory(territory({"closed_cases": "24M"}, {
        "closed_cases": "3A", "ends_of_procedure": ["C4_E1"]})).retention
    assert rules.of("coordination") is not None
    assert rules.of("coordination").closed_cases.words() == "24 mois"  # type: ignore[union-attr]
    own = rules.of("expulsions")
    assert own is not None and own.closed_cases.words() == "3 ans"
    assert own.ends_of_procedure == ("C4_E1",)
    assert rules_from_json(rules.as_json()) == rules  # as stored on the territory row
    assert parse_territory(territory()).retention == Rules()  # no rule: cases are kept


def test_an_unsettled_procedure_holds_a_case_for_a_bounded_time() -> None:
    """Three years after the procedure's last act unless the circuit's rule says otherwise;
    a rule stored before the bound existed reads with it."""
    rules = parse_territory(territory(None, {
        "closed_cases": "24M", "procedure_hold": "5A"})).retention
    own = rules.of("expulsions")
    assert own is not None and own.procedure_hold.words() == "5 ans"
    assert rules_from_json(rules.as_json()) == rules
    plain = parse_territory(territory({"closed_cases": "24M"})).retention.default
    assert plain is not None and plain.procedure_hold.text() == f"{PROCEDURE_HOLD_MONTHS}M"
    stored = {"default": {"closed_cases": "24M", "ends_of_procedure": ["C4_E1"]}}
    old = rules_from_json(stored).default
    assert old is not None and old.procedure_hold.words() == "36 mois"


@pytest.mark.parametrize("retention, circuit, words", [
    ({"closed_cases": "3M"}, None, "tous les circuits.*3 mois.*minimum légal.*6 mois"),
    (None, {"closed_cases": "90J"}, "circuit expulsions.*90 jours.*DPO"),
    (None, {"closed_cases": "24 semaines"}, "circuit expulsions.*unité « semaines » inconnue"),
    ({"closed_cases": "beaucoup"}, None, "« beaucoup » n'est pas une durée"),
    ({"duree": "24M"}, None, "retention : champ obligatoire manquant : closed_cases"),
    (None, {"closed_cases": "24M", "autre": 1}, "champ inconnu : autre"),
    (None, {"closed_cases": "24M", "procedure_hold": "3 semaines"},
     "circuit expulsions.*procedure_hold.*unité « semaines » inconnue"),
    (None, {"closed_cases": "24M", "procedure_hold": "0M"}, "procedure_hold.*durée nulle"),
])
def test_bad_rules_are_refused_with_the_reason(retention: Any, circuit: Any, words: str) -> None:
    with pytest.raises(TerritoryError, match=words):
        parse_territory(territory(retention, circuit))


def test_the_minimum_is_said_once() -> None:
    assert MINIMUM_MONTHS == 6
    parse_territory(territory({"closed_cases": "6M"}))
    parse_territory(territory({"closed_cases": "183J"}))


def test_reference_and_toulouse_keep_closed_cases_24_months() -> None:
    for folder in ("reference", "toulouse"):
        rules = load_territory(ROOT / "processes" / folder).retention
        assert rules.default is not None and rules.default.closed_cases.text() == "24M"
    evictions = load_territory(ROOT / "processes" / "reference").retention.of("expulsions")
    assert evictions is not None and evictions.ends_of_procedure
    diagram = (ROOT / "processes" / "reference" / "expulsions.bpmn").read_text(encoding="utf-8")
    for end in evictions.ends_of_procedure:  # each names an end event of the circuit
        assert f'<bpmn:endEvent id="{end}"' in diagram, end


def test_what_anonymising_rewrites_in_the_answers() -> None:
    form = form_from_schema({"type": "object", "properties": {
        "nom_menage": {"type": "string", "title": "Nom"},
        "telephone": {"type": "string", "title": "Téléphone", "x-aiguillage-category": "identity"},
        "annee_naissance": {"type": "integer", "title": "Année",
                            "x-aiguillage-category": "identity"},
        "situation": {"type": "string", "title": "Situation"},
        "stade": {"type": "string", "title": "Stade", "enum": ["a", "b"]},
        "enfants": {"type": "integer", "title": "Enfants"},
        "date_stade": {"type": "string", "format": "date", "title": "Date"},
        "adresse": {"type": "object", "title": "Adresse", "properties": {
            "rue": {"type": "string", "title": "Rue"},
            "logement": {"type": "string", "title": "Type", "enum": ["t1", "t2"]}}},
    }}, {"situation": {"ui:widget": "textarea"}})
    scrub = scrubbers(form.fields)
    answers = {"nom_menage": "Famille Zébulon", "telephone": "0600000000",
               "annee_naissance": 1980, "situation": "Dort dans sa voiture", "stade": "a",
               "enfants": 2, "date_stade": "2026-01-02",
               "adresse": {"rue": "3 rue X", "logement": "t2"}}
    out = {k: scrub[k](v) if k in scrub else v for k, v in answers.items()}
    assert out == {"nom_menage": ANONYMOUS_NAME, "telephone": "", "annee_naissance": None,
                   "situation": "", "stade": "a", "enfants": 2, "date_stade": "2026-01-02",
                   "adresse": {"rue": "", "logement": "t2"}}
