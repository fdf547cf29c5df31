"""What the household agrees to share: purposes, data categories, bases, and what a set of
consent rows covers. Pure data and functions (no database): the vocabulary is the same in
every territory, the parts are the territory's own.

A form field may say which data category its answer belongs to (``"x-aiguillage-category"``;
a field that says nothing is ``assessment``: the social assessment, the most guarded
default). A boolean field may record consent when answered (``"x-aiguillage-consent"``:
``{"parts": [...], "purpose": "...", "categories": [...]}``): « oui » grants those parts
those categories for that purpose, « non » withdraws them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

CATEGORY_KEYWORD = "x-aiguillage-category"
CONSENT_KEYWORD = "x-aiguillage-consent"

PURPOSES: dict[str, str] = {
    "assessment": "Évaluation de la situation",
    "orientation": "Orientation",
    "support": "Accompagnement",
    "commission": "Examen en commission",
    "eviction_prevention": "Prévention des expulsions",
}
CATEGORIES: dict[str, str] = {
    "identity": "Identité et coordonnées",
    "household": "Composition du ménage et ressources",
    "health": "Santé",
    "procedure": "Dettes et procédure",
    "assessment": "Évaluation sociale",
}
BASES: dict[str, str] = {
    "signed": "Formulaire signé",
    "oral": "Accord oral devant témoin",
    "form": "Recueilli à une étape du circuit",
}
IDENTITY = "identity"
DEFAULT_CATEGORY = "assessment"
ALL_CATEGORIES = frozenset(CATEGORIES)
MAX_WITNESS = 200
MAX_REASON = 500


@dataclass(frozen=True)
class Grant:
    """What a consent field grants when answered « oui »."""

    parts: tuple[str, ...]
    purpose: str
    categories: tuple[str, ...]


class ConsentSpecError(ValueError):
    """A consent annotation that names an unknown purpose or category, or no part."""


def grant_of(annotation: Any) -> Grant:
    """The grant an ``x-aiguillage-consent`` annotation describes.

    :raises ConsentSpecError: not an object, no part, an unknown purpose or category.
    """
    if not isinstance(annotation, Mapping):
        raise ConsentSpecError("l'annotation doit être un objet {parts, purpose, categories}")
    parts = annotation.get("parts")
    purpose = annotation.get("purpose")
    categories = annotation.get("categories")
    if (not isinstance(parts, list) or not parts
            or not all(isinstance(p, str) and p for p in parts)):
        raise ConsentSpecError("« parts » doit nommer au moins une part")
    if purpose not in PURPOSES:
        raise ConsentSpecError(f"finalité inconnue : {purpose!r} (connues : {', '.join(PURPOSES)})")
    if (not isinstance(categories, list) or not categories
            or not all(c in CATEGORIES for c in categories)):
        raise ConsentSpecError(
            f"catégories inconnues : {categories!r} (connues : {', '.join(CATEGORIES)})")
    return Grant(tuple(parts), purpose, tuple(dict.fromkeys(categories)))


def category_of(annotation: Any) -> str:
    """The data category a field's ``x-aiguillage-category`` names (the default if none).

    :raises ConsentSpecError: an unknown category.
    """
    if annotation is None:
        return DEFAULT_CATEGORY
    if annotation not in CATEGORIES:
        raise ConsentSpecError(
            f"catégorie inconnue : {annotation!r} (connues : {', '.join(CATEGORIES)})")
    return str(annotation)


@dataclass(frozen=True)
class ConsentRow:
    """One consent row, as the rule reads it."""

    part: str
    purpose: str
    category: str
    given_at: datetime
    valid_until: datetime | None
    withdrawn_at: datetime | None

    def active(self, now: datetime) -> bool:
        """Given, not withdrawn, not past its end."""
        return (self.withdrawn_at is None and self.given_at <= now
                and (self.valid_until is None or self.valid_until > now))


def covered(rows: Iterable[ConsentRow], parts: Iterable[str], now: datetime) -> frozenset[str]:
    """The data categories the household lets ``parts`` read now (any purpose)."""
    wanted = frozenset(parts)
    return frozenset(r.category for r in rows if r.part in wanted and r.active(now))


def filtered(data: Mapping[str, Any], categories: frozenset[str],
             field_categories: Mapping[str, str]) -> dict[str, Any]:
    """The case data a reader of ``categories`` sees: each key whose field's category is
    covered (a key no form declares is of the default category)."""
    return {k: v for k, v in data.items()
            if field_categories.get(k, DEFAULT_CATEGORY) in categories}
