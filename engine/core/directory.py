"""The directory's vocabulary: support measures, need domains, and the CSV columns named
after data·inclusion's service schema where they fit (docs/guides/annuaire.md).

Pure data and functions (no database). Keys are stable (forms and orientations store them);
labels are what people read. Measure keys are those of ``forms/c1-orientation.json``.
"""

from __future__ import annotations

import re
import unicodedata

# support measures and kinds of service (DOMAIN.md §1 glossary and §4)
MEASURES: dict[str, str] = {
    "avdl": "AVDL — Accompagnement vers et dans le logement",
    "avdl_renforce": "AVDL renforcé",
    "asll": "ASLL — Accompagnement social lié au logement",
    "iml": "Intermédiation locative (IML)",
    "chrs_hors_les_murs": "CHRS hors les murs",
    "un_chez_soi_d_abord": "Un chez soi d'abord",
    "service_social_polyvalent": "Service social polyvalent (droit commun)",
    "partenaire_specialise": "Partenaire spécialisé",
    "maraude": "Maraude / équipe mobile",
    "accueil_de_jour": "Accueil de jour",
    "sao": "Service d'accueil et d'orientation (SAO)",
    "bailleur_social": "Bailleur social",
    "centre_social": "Centre social / maison de quartier",
    "autre": "Autre service",
}
# the measures that hold places a platform orients households to
SUPPORT_MEASURES = frozenset({"avdl", "avdl_renforce", "asll", "iml", "chrs_hors_les_murs",
                              "un_chez_soi_d_abord"})

# need domains: housing itself, then the report's problem → solution table (DOMAIN.md §4)
DOMAINS: dict[str, str] = {
    "housing": "Accès et maintien dans le logement",
    "addict": "Addictions",
    "mental": "Problématiques psychiques",
    "autonomy": "Autonomie et vieillissement",
    "inst_exit": "Sortie d'institution",
    "legal": "Problématiques juridiques",
    "habitat": "Adaptation à l'habitat après une longue errance",
    "safety": "Besoins spécifiques de sécurité",
    "finance": "Précarité financière",
    "nonrecourse": "Non-recours aux services sociaux",
}

# bounds of an entry's fields (the columns' sizes; the forms and the import say the same)
MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_PUBLIC = 500
MAX_HOURS = 500
MAX_LANGUAGES = 300
MAX_CONTACT = 300  # address
MAX_PHONE = 40
MAX_EMAIL = 254
MAX_COMMUNE = 100
MAX_COMMUNES = 200
MAX_PLACES = 100_000
MAX_COMMENT = 500
MAX_SEARCH = 100

# CSV columns, in order: data·inclusion's service field names where one fits, ours elsewhere
COLUMNS: tuple[str, ...] = (
    "id",  # ours (empty on a line to create)
    "structure_nom",  # the organisation's name (data·inclusion: the structure)
    "nom",
    "type_mesure",  # ours: a measure label (or key)
    "presentation_resume",
    "thematiques",  # need domains, labels (or keys) separated by « | »
    "zone_diffusion_type",  # always « commune » here
    "zone_diffusion_nom",  # communes served, separated by « | »
    "profils",  # the public (free text here; a list of profiles in data·inclusion)
    "capacite",
    "places_disponibles",
    "liste_attente",
    "telephone",
    "courriel",
    "adresse",
    "horaires_ouverture",  # walk-in hours, free text (data·inclusion expects OSM syntax)
    "horaires_sur_rendez_vous",
    "langues",
    "charte_signee",  # oui / non
    "actif",  # oui / non
    "date_maj",  # export only: the day of the last change (JJ/MM/AAAA)
)
SEPARATOR = "|"
YES, NO = "oui", "non"
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE = re.compile(r"[0-9+() .\-]{4,40}")


def fold(text: str) -> str:
    """Lower case without accents, spaces squeezed: what search compares."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.lower().split())


def tags(values: list[str]) -> str:
    """A list as one searchable text, ``|a|b|`` (folded): ``LIKE '%|a|%'`` finds a value."""
    folded = [fold(v) for v in values if v.strip()]
    return SEPARATOR + SEPARATOR.join(folded) + SEPARATOR if folded else ""


def searchable(name: str, description: str, organisation: str, measure: str) -> str:
    """The folded text a service is found by: its name, description, organisation and the
    label of its measure."""
    return fold(" ".join((name, description, organisation, MEASURES.get(measure, ""))))


def key_of(vocabulary: dict[str, str], text: str) -> str | None:
    """The key a cell names, by key or by label (case and accents ignored); None if unknown."""
    wanted = fold(text)
    for key, label in vocabulary.items():
        if wanted in (fold(key), fold(label)):
            return key
    return None


def split(cell: str) -> list[str]:
    """A multi-valued cell's values (``a | b``), stripped, empty ones dropped, order kept,
    duplicates dropped."""
    return list(dict.fromkeys(v.strip() for v in cell.split(SEPARATOR) if v.strip()))

