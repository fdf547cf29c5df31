"""How two households are compared: the name key, a 0–100 likeness of two names, whether a
birth year and a commune allow two records to be the same household, and the start-form
fields a case's household is read from. Pure data and functions (no database).

A name is compared word by word, whatever the order (« Marie Dupont » is « Dupont Marie »)
and with room for a typo (« Dupond »); words that name no one (« Ménage », « Famille »,
« Mme ») are left out. The likeness is ``difflib``'s ratio on the best pairing of words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from difflib import SequenceMatcher
from itertools import permutations
from typing import Any

from engine.core.directory import fold

# start-form fields, by convention (docs/processes.md): the name is cases.HOUSEHOLD_FIELD
NAME_FIELD = "nom_menage"
BIRTH_YEAR_FIELD = "annee_naissance"
COMMUNE_FIELD = "commune"

THRESHOLD = 80  # from this likeness on, two records are flagged as likely the same household
VERY_LIKELY = 95  # « très probable » from here, « probable » below
MIN_YEAR = 1900
MAX_NAME, MAX_COMMUNE = 200, 100  # household.name, household.commune
MAX_WORDS = 5  # words compared in every order (5! = 120 pairings); beyond, in sorted order

# words of a household's name that do not tell households apart
STOP_WORDS = frozenset({
    "menage", "famille", "foyer", "fictif", "fictive", "m", "mme", "mlle", "mr", "monsieur",
    "madame", "mademoiselle", "et", "epoux", "epouse", "couple",
})
_NOT_A_LETTER = re.compile(r"[^0-9a-z]+")
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss"})  # no decomposition of their own


def words(name: str) -> list[str]:
    """The words of a name that count: folded, punctuation dropped, stop words left out."""
    plain = fold(name).translate(_LIGATURES)
    return [w for w in _NOT_A_LETTER.split(plain) if w and w not in STOP_WORDS]


def name_key(name: str) -> str:
    """The name's key as stored (``household.name_key``): its words, sorted."""
    return " ".join(sorted(words(name)))[:MAX_NAME]


def commune_key(commune: str) -> str:
    """The commune's key as stored (``household.commune_key``): folded, hyphens and
    apostrophes as spaces (« Saint-Denis » is « saint denis »)."""
    plain = fold(commune).translate(_LIGATURES)
    return " ".join(_NOT_A_LETTER.split(plain)).strip()[:MAX_COMMUNE]


def likeness(key: str, other: str) -> int:
    """How alike two name keys are, 0–100: 100 for the same words in any order; a typo in
    one word of two keeps it above ``THRESHOLD`` for names of usual length."""
    if not key or not other:
        return 0
    if key == other:
        return 100
    mine, theirs = key.split(), other.split()
    if len(mine) > MAX_WORDS:
        return _ratio(key, other)
    target = " ".join(theirs)
    return max(_ratio(" ".join(order), target) for order in permutations(mine))


def _ratio(a: str, b: str) -> int:
    return round(SequenceMatcher(None, a, b, autojunk=False).ratio() * 100)


def compatible(year: int | None, other_year: int | None, commune: str, other: str) -> bool:
    """May two records be the same household: same birth year (or either unknown) and same
    commune key (or either empty)?"""
    return (year is None or other_year is None or year == other_year) and \
        (not commune or not other or commune == other)


def degree(score: int) -> str:
    """« très probable » or « probable »: how likely two records are the same household."""
    return "très probable" if score >= VERY_LIKELY else "probable"


def birth_year(data: Mapping[str, Any], current_year: int) -> int | None:
    """The start form's birth year, if it is one (an integer from 1900 to this year)."""
    value = data.get(BIRTH_YEAR_FIELD)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if MIN_YEAR <= value <= current_year else None


def commune_of(data: Mapping[str, Any]) -> str:
    """The start form's commune, stripped (empty when absent)."""
    value = data.get(COMMUNE_FIELD)
    return " ".join(value.split())[:MAX_COMMUNE] if isinstance(value, str) else ""
