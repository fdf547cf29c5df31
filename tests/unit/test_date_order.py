"""A date answered in a form may not come before another date of the case, or before the day
it is answered (``x-aiguillage-not-before``, issue #15 « Bad input »)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from engine.clock import FixedClock
from engine.core import forms
from engine.core.forms import FormError
from engine.core.spiff.compiler import check, compile_circuit
from engine.core.spiff.runner import Instance
from engine.errors import FormInvalid
from tests.unit.test_relative_deadlines import audience_bundle

SCHEMA = {"title": "Procédure", "type": "object", "properties": {
    "date_commandement": {"type": "string", "format": "date", "title": "Date du commandement"},
    "date_audience": {"type": "string", "format": "date", "title": "Date d'audience",
                      "x-aiguillage-not-before": "date_commandement"},
    "date_rdv": {"type": "string", "format": "date", "title": "Rendez-vous fixé",
                 "x-aiguillage-not-before": "today"},
}}


@pytest.fixture
def form() -> forms.FormSpec:
    return forms.form_from_schema(json.loads(json.dumps(SCHEMA)))


def test_a_hearing_before_the_commandement_is_refused_in_french(form: forms.FormSpec) -> None:
    errors = form.validate({"date_commandement": "2027-03-12", "date_audience": "2027-03-01"})
    assert errors == {"date_audience": [
        "La date d'audience ne peut pas être antérieure à la date du commandement (12/03/2027)."]}
    assert form.validate({"date_commandement": "2027-03-12", "date_audience": "2027-03-12"}) == {}
    assert "cannot be earlier" in form.validate(
        {"date_commandement": "2027-03-12", "date_audience": "2027-03-01"}, "en")[
        "date_audience"][0]


def test_the_other_date_may_come_from_the_case(form: forms.FormSpec) -> None:
    case = {"date_commandement": "2027-03-12"}
    assert form.validate({"date_audience": "2027-03-01"}, case=case) != {}
    assert form.validate({"date_audience": "2027-04-01"}, case=case) == {}
    # an answer in this form wins over the case's earlier one
    assert form.validate({"date_commandement": "2027-02-01", "date_audience": "2027-03-01"},
                         case=case) == {}
    # nothing to compare with: accepted
    assert form.validate({"date_audience": "2027-03-01"}) == {}


def test_a_date_in_the_past_is_refused_when_the_day_is_known(form: forms.FormSpec) -> None:
    today = date(2027, 1, 10)
    assert form.validate({"date_rdv": "2027-01-09"}, today=today) == {
        "date_rdv": ["« Rendez-vous fixé » ne peut pas être dans le passé."]}
    assert form.validate({"date_rdv": "2027-01-10"}, today=today) == {}
    assert form.validate({"date_rdv": "2027-01-09"}) == {}


def test_a_malformed_date_gets_the_format_message_only(form: forms.FormSpec) -> None:
    errors = form.validate({"date_commandement": "2027-03-12", "date_audience": "12/03/2027"})
    assert errors == {"date_audience": ["Date invalide (AAAA-MM-JJ)."]}


@pytest.mark.parametrize("prop", [
    {"type": "string", "title": "Texte", "x-aiguillage-not-before": "today"},
    {"type": "string", "format": "date", "x-aiguillage-not-before": 3},
    {"type": "string", "format": "date", "x-aiguillage-not-before": "date commandement"},
    {"type": "string", "format": "date", "x-aiguillage-not-before": "d"},
])
def test_a_misused_keyword_is_refused_when_the_form_loads(prop: dict[str, object]) -> None:
    with pytest.raises(FormError):
        forms.form_from_schema({"type": "object", "properties": {"d": prop}})


def test_the_runner_compares_with_the_case_and_with_today(tmp_path: Path) -> None:
    bundle = audience_bundle(tmp_path)
    schema = json.loads(bundle.forms["aud-audience.json"])
    schema["properties"]["date_audience"]["x-aiguillage-not-before"] = "today"
    bundle.forms["aud-audience.json"] = json.dumps(schema).encode()
    circuit = compile_circuit(bundle)
    clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    with pytest.raises(FormInvalid) as refused:
        Instance.start(circuit, {"date_audience": "2026-03-01"}, clock)
    assert refused.value.errors == {
        "date_audience": ["La date de l'audience ne peut pas être dans le passé."]}
    case = Instance.start(circuit, {"date_audience": "2026-03-02"}, clock)
    noter = next(t for t in case.ready_tasks() if t.bpmn_id == "noter")
    with pytest.raises(FormInvalid):
        case.complete(noter.id, {"date_audience": "2026-02-20"})


def test_the_check_names_a_date_no_form_asks_for(tmp_path: Path) -> None:
    bundle = audience_bundle(tmp_path)
    schema = json.loads(bundle.forms["aud-audience.json"])
    schema["properties"]["date_audience"]["x-aiguillage-not-before"] = "date_commandement"
    bundle.forms["aud-audience.json"] = json.dumps(schema).encode()
    found = [p for p in check(bundle) if p.code == "bpmn.form_not_before_unknown"]
    assert found and all(p.is_error for p in found)
    assert found[0].message("fr") == (
        "Formulaire « aud-audience.json » : le champ « Date de l'audience » ne doit pas précéder "
        "la date « date_commandement », qu'aucun formulaire du circuit ne demande")


def test_a_deadline_before_a_date_open_to_the_past_is_a_warning(tmp_path: Path) -> None:
    bundle = audience_bundle(tmp_path)
    [warning] = [p for p in check(bundle) if p.code == "bpmn.deadline_before_opening"]
    assert not warning.is_error and warning.element_id == "preparer"
    assert warning.message("fr").startswith(
        "Délai de « Préparer l'audience » : compté 7 jours avant « Date de l'audience », une "
        "date qu'un formulaire accepte dans le passé ; le délai serait alors déjà dépassé à "
        "l'ouverture du dossier.")
    schema = json.loads(bundle.forms["aud-audience.json"])
    schema["properties"]["date_audience"]["x-aiguillage-not-before"] = "today"
    bundle.forms["aud-audience.json"] = json.dumps(schema).encode()
    assert not [p for p in check(bundle) if p.code == "bpmn.deadline_before_opening"]
    # a deadline « après » the date is not concerned
    after = audience_bundle(tmp_path / "after" if (tmp_path / "after").mkdir() is None else
                            tmp_path, "+7D:date_audience")
    assert not [p for p in check(after) if p.code == "bpmn.deadline_before_opening"]
