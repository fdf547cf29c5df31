"""Form files become field specs; submissions are validated with French messages."""

from __future__ import annotations

import json

import pytest

from engine.core import forms
from engine.core.forms import FormError

SCHEMA = {
    "title": "Recevabilité", "type": "object", "required": ["complete", "urgence"],
    "properties": {
        "complete": {"type": "boolean", "title": "Demande complète"},
        "commune": {"type": "string", "title": "Commune de résidence", "maxLength": 20},
        "nb_enfants": {"type": "integer", "title": "Nombre d'enfants", "minimum": 0},
        "montant": {"type": "number", "title": "Dette (€)"},
        "date_rdv": {"type": "string", "format": "date", "title": "Date du rendez-vous"},
        "urgence": {"type": "string", "title": "Urgence", "oneOf": [
            {"const": "normale", "title": "Normale"}, {"const": "urgente", "title": "Urgente"}]},
        "domaines": {"type": "array", "title": "Besoins", "uniqueItems": True,
                     "items": {"type": "string", "enum": ["ADDICT", "MENTAL"]}},
        "observations": {"type": "string", "title": "Observations"},
        "referent": {"type": "object", "title": "Référent", "required": ["nom"],
                     "properties": {"nom": {"type": "string", "title": "Nom"}}},
    },
}
UI = {"ui:order": ["urgence", "complete"], "observations": {"ui:widget": "textarea",
                                                           "ui:help": "Sans donnée de santé"}}


@pytest.fixture
def form() -> forms.FormSpec:
    return forms.load_json_form(json.dumps(SCHEMA), json.dumps(UI))


def test_every_field_kind_is_recognised(form: forms.FormSpec) -> None:
    kinds = {f.name: f.kind for f in form.fields}
    assert kinds == {"urgence": "choice", "complete": "boolean", "commune": "text",
                     "nb_enfants": "integer", "montant": "number", "date_rdv": "date",
                     "domaines": "multichoice", "observations": "textarea", "referent": "group"}
    assert [f.name for f in form.fields][:2] == ["urgence", "complete"]
    urgence = form.fields[0]
    assert urgence.required and [c.label for c in urgence.choices] == ["Normale", "Urgente"]
    assert form.fields[-2].help == "Sans donnée de santé"
    assert form.fields[-1].children[0].path == "referent.nom"


def test_valid_data_passes(form: forms.FormSpec) -> None:
    data = {"complete": True, "urgence": "normale", "date_rdv": "2026-02-01",
            "domaines": ["MENTAL"], "referent": {"nom": "Dupont"}}
    assert form.validate(data) == {}


def test_errors_are_per_field_and_in_french(form: forms.FormSpec) -> None:
    errors = form.validate({"urgence": "bogus", "nb_enfants": -1, "commune": "x" * 21,
                            "date_rdv": "31/01/2026", "domaines": ["MENTAL", "MENTAL"],
                            "referent": {}, "inconnu": 1, "montant": "abc"})
    assert errors == {
        "complete": ["Répondez oui ou non."],
        "urgence": ["Choisissez une des valeurs proposées."],
        "nb_enfants": ["La valeur doit être au moins 0."],
        "commune": ["Au plus 20 caractères."],
        "date_rdv": ["Date invalide (AAAA-MM-JJ)."],
        "domaines": ["Chaque choix ne peut figurer qu'une fois."],
        "referent.nom": ["Ce champ est obligatoire."],
        "inconnu": ["Ce champ n'existe pas dans le formulaire."],
        "montant": ["Valeur attendue : nombre."],
    }
    assert form.validate({"urgence": 1}, lang="en")["complete"] == ["Answer yes or no."]


def test_free_text_has_a_length_limit_even_when_the_file_sets_none(form: forms.FormSpec) -> None:
    errors = form.validate({"complete": True, "urgence": "normale",
                            "observations": "x" * (forms.TEXTAREA_MAX + 1)})
    assert errors == {"observations": [f"Au plus {forms.TEXTAREA_MAX} caractères."]}


def test_non_json_values_are_refused(form: forms.FormSpec) -> None:
    import datetime
    assert form.validate({"date_rdv": datetime.date(2026, 1, 1)}) == {
        "": ["Les données ne sont pas du JSON simple."]}


def test_coerce_turns_posted_strings_into_typed_values(form: forms.FormSpec) -> None:
    data, errors = forms.coerce(form, {"complete": "on", "urgence": "urgente", "nb_enfants": "2",
                                       "montant": "12,5", "commune": "", "domaines": ["MENTAL"],
                                       "referent.nom": "Dupont"})
    assert errors == {}
    assert data == {"complete": True, "urgence": "urgente", "nb_enfants": 2, "montant": 12.5,
                    "domaines": ["MENTAL"], "referent": {"nom": "Dupont"}}
    _, errors = forms.coerce(form, {"nb_enfants": "deux"})
    assert errors == {"nb_enfants": ["Valeur attendue : nombre entier."]}


def test_a_required_yes_no_left_blank_is_refused_not_read_as_no(form: forms.FormSpec) -> None:
    """Issue #14: an unticked box read as « non » closed a case; a required yes/no posted
    without an answer is now missing, and refused with its own message."""
    data, errors = forms.coerce(form, {"urgence": "urgente"})
    assert "complete" not in data and errors == {}
    assert form.validate(data)["complete"] == ["Répondez oui ou non."]
    for posted, stored in (("true", True), ("false", False)):
        data, errors = forms.coerce(form, {"complete": posted, "urgence": "urgente"})
        assert (data["complete"], errors, form.validate(data)) == (stored, {}, {})


def test_an_optional_box_left_unticked_still_means_no() -> None:
    form = forms.form_from_schema({"type": "object", "properties": {
        "interpretariat": {"type": "boolean", "title": "Besoin d'interprétariat"}}})
    assert forms.coerce(form, {})[0] == {"interpretariat": False}
    assert forms.coerce(form, {"interpretariat": "1"})[0] == {"interpretariat": True}


def test_camunda_form_data_becomes_the_same_fields() -> None:
    fields = [
        {"id": "visit_date", "label": "Date de visite", "type": "date",
         "constraints": {"required": "true"}},
        {"id": "enfants", "label": "Enfants présents", "type": "long",
         "constraints": {"min": "0", "max": "20"}},
        {"id": "risque", "label": "Risque", "type": "enum",
         "options": [{"id": "bas", "name": "Bas"}, {"id": "haut", "name": "Haut"}]},
        {"id": "notes", "label": "Notes", "type": "string", "properties": {"widget": "textarea"}},
    ]
    form = forms.form_from_camunda(fields, "Visite")
    assert [(f.name, f.kind) for f in form.fields] == [
        ("visit_date", "date"), ("enfants", "integer"), ("risque", "choice"),
        ("notes", "textarea")]
    assert form.validate({"enfants": 30, "risque": "bogus"}) == {
        "visit_date": ["Ce champ est obligatoire."],
        "enfants": ["La valeur doit être au plus 20."],
        "risque": ["Choisissez une des valeurs proposées."]}


@pytest.mark.parametrize(("schema", "code"), [
    ("{not json", "form.bad_json"),
    (json.dumps({"type": "object", "properties": {"a": {"type": "nope"}}}), "form.bad_schema"),
    (json.dumps({"type": "string"}), "form.not_object"),
    (json.dumps({"type": "object", "properties": {"a": {"type": "array"}}}),
     "form.unsupported_array"),
    (json.dumps({"type": "object", "properties": {"a": {"type": "null"}}}),
     "form.unsupported_type"),
])
def test_unusable_form_files_are_refused(schema: str, code: str) -> None:
    with pytest.raises(FormError) as caught:
        forms.load_json_form(schema)
    assert caught.value.code == code
