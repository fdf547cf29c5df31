"""The statistics' vocabulary and the small-count rule. Pure data and functions (no database).

A form field marked ``"x-aiguillage-statistic": "<kind>"`` records its answer as a fact of
the case (``case_fact``) when the form is submitted, so that statistics count it in SQL
without ever reading a workflow: the entry route of a request, the needs found, the needs
a commission found unmet, the stage an eviction procedure reached.

No figure below ``SMALL`` leaves the platform: such a count shows as « < 5 » on the page,
in the charts and in the CSV. When a column holds a total and exactly one of its counts is
hidden, the next smallest is hidden too, so that the total minus the others cannot reveal
it (« suppression secondaire »).
"""

from __future__ import annotations

from collections.abc import Sequence

STATISTIC_KEYWORD = "x-aiguillage-statistic"
ENTRY_ROUTE = "entry_route"
NEED = "need"
UNMET_NEED = "unmet_need"
EVICTION_STAGE = "eviction_stage"
KINDS: dict[str, str] = {
    ENTRY_ROUTE: "Canal d'entrée de la demande",
    NEED: "Besoin identifié",
    UNMET_NEED: "Besoin non couvert signalé",
    EVICTION_STAGE: "Stade de la procédure d'expulsion",
}
# not a form's kind: the furthest stage a case's eviction procedure reached, one fact per
# case kept up to date as each stage is recorded (the statistics count it without taking a
# maximum per case)
EVICTION_FURTHEST = "eviction_furthest"
NAMES: dict[str, str] = {**KINDS, EVICTION_FURTHEST: "Stade le plus avancé de la procédure "
                                                     "d'expulsion"}  # every kind, in French
MAX_VALUE = 100  # case_fact.value
MAX_LABEL = 200  # case_fact.label

SMALL = 5
HIDDEN = "< 5"

# an answer to a need: what the directory offered when the need was recorded
ANSWERED = "servi"
NO_PLACE = "sans_place"
NO_SERVICE = "sans_service"
REPORTED = "signale"  # an unmet need reported as such (a commission's finding)
UNMET = {NO_PLACE: "Aucune place libre", NO_SERVICE: "Aucun service sur le territoire",
         REPORTED: "Signalé non couvert"}


class StatisticSpecError(ValueError):
    """An unknown statistic kind in a form."""


def kind_of(value: object) -> str | None:
    """The statistic kind a field declares (None: none).

    :raises StatisticSpecError: not one of ``KINDS``.
    """
    if value is None:
        return None
    if not isinstance(value, str) or value not in KINDS:
        raise StatisticSpecError(f"statistique inconnue : {value!r}")
    return value


def hidden(count: int | None) -> bool:
    """Is this count too small to show (1 to 4; zero tells nothing of anyone)?"""
    return count is not None and 0 < count < SMALL


def suppress(counts: Sequence[int | None]) -> list[int | None]:
    """The counts of one column as shown: small ones become None (« < 5 »); if exactly one
    is hidden, the smallest other non-zero one is hidden with it (its total is shown)."""
    shown: list[int | None] = [None if hidden(c) else c for c in counts]
    gone = [i for i, c in enumerate(counts) if hidden(c)]
    if len(gone) == 1:
        rest = [(c, i) for i, c in enumerate(counts) if c and i not in gone]
        if rest:
            shown[min(rest)[1]] = None
    return shown


def total(counts: Sequence[int | None]) -> int | None:
    """A column's total as shown (None when itself small)."""
    value = sum(c or 0 for c in counts)
    return None if hidden(value) else value


def percentile(sorted_values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile of sorted values (the rank SQL uses: ``ceil(share·n)``)."""
    if not sorted_values:
        return None
    rank = max(1, -(-int(share * 100) * len(sorted_values) // 100))
    return sorted_values[rank - 1]
