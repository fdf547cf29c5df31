"""How two households are compared (issue #13 item 6): name keys, likeness, compatibility of
birth year and commune, and the start-form fields read."""

from __future__ import annotations

import pytest

from engine.core import household as core


def _score(a: str, b: str) -> int:
    return core.likeness(core.name_key(a), core.name_key(b))


def test_the_name_key_is_folded_words_sorted_without_words_naming_no_one() -> None:
    assert core.name_key("Ménage DUPONT Marie") == "dupont marie"
    assert core.name_key("Famille Le Bœuf-Éléonore (fictif)") == "boeuf eleonore le"
    assert core.name_key("Mme  Zoé   N'Diaye") == "diaye n zoe"
    assert core.name_key("—") == ""
    assert core.name_key("x" * 500) == "x" * core.MAX_NAME


def test_the_commune_key_ignores_case_accents_and_hyphens() -> None:
    assert core.commune_key("Saint-Étienne") == core.commune_key("saint etienne")
    assert core.commune_key("  ") == ""


@pytest.mark.parametrize(("a", "b"), [
    ("Marie Dupont", "Dupont Marie"),  # first and last names swapped
    ("Ménage Martin", "Martin"),
    ("Jean-Pierre Durand", "Durand Jean Pierre"),
    ("Hélène Lefèbvre", "HELENE LEFEBVRE"),  # case and accents ignored
])
def test_the_same_words_in_any_order_are_alike_at_100(a: str, b: str) -> None:
    assert _score(a, b) == 100


@pytest.mark.parametrize(("a", "b"), [
    ("Marie Dupont", "Marie Dupond"),  # one letter changed
    ("Anna Bernard", "Cnna Bernard"),  # a typo that changes the words' sorted order
    ("Marie Dupont", "Dupond Marie"),  # swapped and a typo
    ("Lefebvre", "Lefebre"),
    ("Petit", "Petti"),  # two letters swapped in a short name
    ("Fontaine", "Fontain"),  # one letter missing
])
def test_a_typo_stays_above_the_threshold(a: str, b: str) -> None:
    assert core.THRESHOLD <= _score(a, b) < 100


@pytest.mark.parametrize(("a", "b"), [
    ("Bernard", "Bertrand"), ("Moreau", "Morel"), ("Dupont Marie", "Durand Paul"),
    ("Martin Paul", "Martin Pierre"), ("Alpha", "Alpha d'accord"),
])
def test_other_households_stay_below_it(a: str, b: str) -> None:
    assert _score(a, b) < core.THRESHOLD


def test_an_empty_name_is_like_nothing() -> None:
    assert core.likeness("", "") == 0
    assert core.likeness("dupont", "") == 0


def test_a_long_name_is_compared_in_sorted_order_only() -> None:
    many = "a b c d e f g h"
    assert core.likeness(many, many) == 100
    assert core.likeness(many, "a b c d e f g i") >= core.THRESHOLD


def test_birth_year_and_commune_allow_a_match_when_equal_or_unknown() -> None:
    assert core.compatible(1980, 1980, "demoville", "demoville")
    assert core.compatible(None, 1980, "", "demoville")
    assert core.compatible(1980, None, "demoville", "")
    assert not core.compatible(1980, 1981, "demoville", "demoville")
    assert not core.compatible(1980, 1980, "demoville", "bourg sud")


def test_the_degree_of_likeness_is_said_in_words() -> None:
    assert core.degree(100) == "très probable"
    assert core.degree(core.VERY_LIKELY) == "très probable"
    assert core.degree(core.THRESHOLD) == "probable"


@pytest.mark.parametrize(("value", "year"), [
    (1980, 1980), (1900, 1900), (2026, 2026), (2027, None), (1899, None), (None, None),
    ("1980", None), (True, None), (1980.0, None),
])
def test_the_birth_year_read_from_the_start_form(value: object, year: int | None) -> None:
    assert core.birth_year({"annee_naissance": value}, 2026) == year


def test_the_commune_read_from_the_start_form() -> None:
    assert core.commune_of({"commune": "  Bourg   Sud "}) == "Bourg Sud"
    assert core.commune_of({"commune": 12}) == ""
    assert core.commune_of({}) == ""
