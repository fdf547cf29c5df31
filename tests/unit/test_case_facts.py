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


def test_a_choice_offered_by_a_second_form_keeps_its_label() -> None:
    from engine.core.forms import Choice, FormSpec
    from engine.services.cases import facts

    def form(*choices: tuple[str, str]) -> FormSpec:
        spec = FieldSpec(name="canal", path="canal", label="Canal d'entrée", kind="choice",
                         choices=tuple(Choice(v, label) for v, label in choices))
        return FormSpec(title="", fields=(spec,), schema={})

    class Spec:  # no step names a form: the forms come in file order
        task_specs: dict[str, object] = {}

    class Circuit:
        spec = Spec()
        forms = {"c3-saisine.json": form(("partenaire", "Partenaire")),
                 "c4-signalement.json": form(("alerte_bailleur", "Alerte du bailleur social"))}

    assert facts(Circuit(), {"canal": "alerte_bailleur"}) == [  # type: ignore[arg-type]
        ("Canal d'entrée", "Alerte du bailleur social")]
