"""The case's answers as a person reads them: labels, « Oui »/« Non », French dates."""

from __future__ import annotations

from engine.core.forms import FieldSpec
from engine.services.cases import _show


def _spec(kind: str) -> FieldSpec:
    return FieldSpec(name="x", path="x", label="X", kind=kind)  # type: ignore[arg-type]


def test_a_date_answer_reads_as_a_french_date() -> None:
    assert _show(_spec("date"), "2026-01-02") == "02/01/2026"


def test_a_date_field_with_a_text_that_is_no_date_is_shown_as_typed() -> None:
    assert _show(_spec("date"), "bientôt") == "bientôt"


def test_booleans_read_as_yes_or_no() -> None:
    assert (_show(_spec("boolean"), True), _show(_spec("boolean"), False)) == ("Oui", "Non")
