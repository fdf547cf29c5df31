"""An orientation's vocabulary: its states and the moves between them, the form keywords that
create and answer one, the default refusal reasons, and how a household's needs and commune
pick the matching services of the directory. Pure data and functions (no database).

An orientation is the platform's central act: a household proposed to a service of the
directory (a measure an organisation runs). It is created by a form field
(``"x-aiguillage-orientation"``), answered by the operator in a form whose decision field
says so (``"x-aiguillage-orientation-answer"``), or through a signed link without an
account; it expires when a circuit's throw event says so (property ``orientation`` =
``expire``); it is cancelled when its case is closed. Every move is logged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.core.directory import DOMAINS, fold

# states, in the order a list shows them
SENT = "envoyee"
REVIEWING = "en_cours_examen"
WAITING = "liste_attente"
ACCEPTED = "acceptee"
REFUSED = "refusee"
EXPIRED = "expiree"
CANCELLED = "annulee"
STATES: dict[str, str] = {
    SENT: "Envoyée",
    REVIEWING: "En cours d'examen",
    WAITING: "Liste d'attente",
    ACCEPTED: "Acceptée",
    REFUSED: "Refusée",
    EXPIRED: "Expirée",
    CANCELLED: "Annulée",
}
OPEN_STATES = frozenset({SENT, REVIEWING, WAITING})  # awaiting the operator's answer
FINAL_STATES = frozenset({REFUSED, EXPIRED, CANCELLED})
# the moves allowed: from → the states it may go to
MOVES: dict[str, frozenset[str]] = {
    SENT: frozenset({REVIEWING, WAITING, ACCEPTED, REFUSED, EXPIRED, CANCELLED}),
    REVIEWING: frozenset({WAITING, ACCEPTED, REFUSED, EXPIRED, CANCELLED}),
    WAITING: frozenset({REVIEWING, ACCEPTED, REFUSED, EXPIRED, CANCELLED}),
    ACCEPTED: frozenset({CANCELLED}),  # support ends: the place is given back, state stays
    REFUSED: frozenset(),
    EXPIRED: frozenset(),
    CANCELLED: frozenset(),
}

# how an answer reached us (orientation_event.via, orientation.answered_via)
VIA_ACCOUNT = "compte"
VIA_LINK = "lien"
VIA_TIMER = "minuteur"
VIA_SYSTEM = "systeme"

# form keywords
ORIENTATION_KEYWORD = "x-aiguillage-orientation"
# {"part": "operator", "domains": ["besoins"], "commune": "commune"}: the answer is a
# directory service id; the operator part goes to the service's organisation; the choices
# are the services matching the need domains (case data keys holding lists of domain codes)
# and the commune (a case data key)
ANSWER_KEYWORD = "x-aiguillage-orientation-answer"
# on a string field whose values are the decisions below; the same form may hold the
# fields named in ANSWER_FIELDS (reasons, detail, message to the referrer, household answer)
DECISIONS: dict[str, str] = {  # form value → state
    "acceptee": ACCEPTED,
    "liste_attente": WAITING,
    "refusee": REFUSED,
}
ANSWER_FIELDS = {
    "reasons": "motifs_refus",  # array of refusal reason codes (the territory's table)
    "detail": "precision_motif",  # required when a reason needs a detail (« autre »)
    "referrer": "message_orienteur",  # what the referrer is told
    "household": "message_personne",  # what the household is told
}

MAX_MESSAGE = 2000
MAX_DETAIL = 500
MAX_REASON_LABEL = 200
MAX_REASON_CODE = 40

# the refusal reasons a territory starts with (code, label, needs a detail)
DEFAULT_REASONS: tuple[tuple[str, str, bool], ...] = (
    ("pas_de_place", "Pas de place disponible", False),
    ("hors_secteur", "Hors du secteur d'intervention", False),
    ("public", "Ne correspond pas au public accueilli", False),
    ("besoins", "Besoins hors du champ de la mesure", False),
    ("deja_accompagne", "Déjà accompagné·e par ailleurs", False),
    ("injoignable", "Personne injoignable", False),
    ("refus_personne", "Refus de la personne", False),
    ("dossier_incomplet", "Dossier incomplet", False),
    ("autre", "Autre motif (à préciser)", True),
)


class MoveRefused(ValueError):
    """A move the state machine does not allow; ``code`` keys the message catalogue."""

    def __init__(self, before: str, after: str) -> None:
        self.code = "svc.orientation_move"
        self.before, self.after = before, after
        super().__init__(f"{before} → {after}")


def check_move(before: str, after: str) -> None:
    """:raises MoveRefused: ``before`` may not become ``after``."""
    if after not in MOVES.get(before, frozenset()):
        raise MoveRefused(before, after)


def needs_of(data: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    """The directory domains a case's answers name (codes matched case-insensitively against
    ``DOMAINS``; unknown codes ignored), ``housing`` first: every household needs it."""
    found = ["housing"]
    for key in keys:
        values = data.get(key)
        for value in values if isinstance(values, list) else []:
            code = str(value).strip().lower()
            if code in DOMAINS and code not in found:
                found.append(code)
    return found


def commune_of(data: Mapping[str, Any], key: str | None) -> str:
    """The folded commune a case's answers name (empty when none)."""
    value = data.get(key) if key else None
    return fold(value) if isinstance(value, str) else ""


def spec_of(value: Any) -> dict[str, Any]:
    """The orientation keyword's settings, with defaults (``part`` operator, no domains, no
    commune; no state field: the orientation is « envoyée »).

    ``state_field`` names a field of the same form whose answer ``waiting_value`` (default
    ``liste_attente``) sends the orientation to the waiting list instead; ``comment`` a
    field whose answer is the platform's argument, kept with the orientation."""
    settings = value if isinstance(value, Mapping) else {}
    domains = settings.get("domains", [])

    def name(key: str) -> str | None:
        return str(settings[key]) if settings.get(key) else None

    return {"part": str(settings.get("part") or "operator"),
            "domains": [str(d) for d in domains] if isinstance(domains, list) else [],
            "commune": name("commune"), "state_field": name("state_field"),
            "waiting_value": str(settings.get("waiting_value") or WAITING),
            "comment": name("comment")}
