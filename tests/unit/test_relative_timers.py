"""Timers counted from a date of the case (``timerRelative``, issue #15 item 1): a reminder,
an escalation and an intermediate timer due relative to the hearing's date, computed when
the timer starts waiting and recomputed when the date is corrected; checked."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import FixedClock
from engine.core import dryrun, simulate
from engine.core.bundles import CircuitBundle
from engine.core.loader import load_path
from engine.core.spiff.compiler import check, compile_circuit
from engine.core.spiff.runner import Instance
from tests.unit.test_relative_deadlines import audience_bundle, end_of

DATES = Path(__file__).resolve().parents[1] / "integration" / "fixtures" / "dates"
START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


def bundle(tmp_path: Path | None = None, replace: tuple[str, str] | None = None) -> CircuitBundle:
    if replace is None or tmp_path is None:
        return load_path(DATES, DATES / "forms").bundles[0][1]
    (tmp_path / "forms").mkdir()
    for form in (DATES / "forms").iterdir():
        (tmp_path / "forms" / form.name).write_bytes(form.read_bytes())
    (tmp_path / "territory.json").write_bytes((DATES / "territory.json").read_bytes())
    text = (DATES / "audience.bpmn").read_text(encoding="utf-8")
    assert replace[0] in text
    (tmp_path / "audience.bpmn").write_text(text.replace(*replace), encoding="utf-8")
    return load_path(tmp_path, tmp_path / "forms").bundles[0][1]


def timers_of(case: Instance) -> dict[str, datetime]:
    return {t.bpmn_id: t.due_at for t in case.waiting_timers()}


def test_the_circuit_is_clean() -> None:
    assert [p for p in check(bundle()) if p.is_error] == []


def test_timers_are_due_relative_to_the_date() -> None:
    clock = FixedClock(START)
    case = Instance.start(compile_circuit(bundle()), {"nom_menage": "A",
                                                      "date_audience": "2026-10-20"}, clock)
    assert timers_of(case) == {"rappel_timer": end_of(date(2026, 10, 13)),
                               "escalade_timer": end_of(date(2026, 10, 19)),
                               "lendemain": end_of(date(2026, 10, 21))}
    # the step's own deadline is its interrupting timer's
    preparer = next(t for t in case.ready_tasks() if t.bpmn_id == "preparer")
    assert preparer.due_at == end_of(date(2026, 10, 19))


def test_a_corrected_date_moves_the_waiting_timers() -> None:
    circuit = compile_circuit(bundle())
    clock = FixedClock(START)
    case = Instance.start(circuit, {"nom_menage": "A", "date_audience": "2026-10-20"}, clock)
    corriger = next(t for t in case.ready_tasks() if t.bpmn_id == "corriger")
    case.complete(corriger.id, {"date_audience": "2026-10-27"})
    assert timers_of(case) == {"rappel_timer": end_of(date(2026, 10, 20)),
                               "escalade_timer": end_of(date(2026, 10, 26)),
                               "lendemain": end_of(date(2026, 10, 28))}
    again = Instance.load(circuit, case.dump(), clock)
    assert timers_of(again) == timers_of(case)
    # not at the first date any more
    clock.set(end_of(date(2026, 10, 14)))
    assert again.advance() == []
    # at the corrected one: the reminder fires once, the step stays open
    clock.set(end_of(date(2026, 10, 20)) + timedelta(seconds=1))
    fired = again.advance()
    assert [f.bpmn_id for f in fired] == ["rappel_timer"]
    # the reminder's branch carries the date as it was before the correction: it must not
    # bring it back
    assert timers_of(again) == {"escalade_timer": end_of(date(2026, 10, 26)),
                                "lendemain": end_of(date(2026, 10, 28))}
    assert {t.bpmn_id for t in again.ready_tasks()} == {"preparer"}
    clock.set(end_of(date(2026, 10, 28)) + timedelta(seconds=1))
    assert {f.bpmn_id for f in again.advance()} == {"escalade_timer", "lendemain"}
    assert {t.bpmn_id for t in again.ready_tasks()} == {"escalade", "compte_rendu"}


def test_without_the_date_a_timer_waits_or_uses_its_fallback() -> None:
    clock = FixedClock(START)
    case = Instance.start(compile_circuit(bundle()), {"nom_menage": "A"}, clock)
    # the empty timeDate waits for the date (no row to poll); the escalation's fallback runs
    assert timers_of(case) == {"escalade_timer": START + timedelta(days=60)}
    clock.advance(timedelta(days=1))
    corriger = next(t for t in case.ready_tasks() if t.bpmn_id == "corriger")
    case.complete(corriger.id, {"date_audience": "2026-10-20"})
    assert timers_of(case) == {"rappel_timer": end_of(date(2026, 10, 13)),
                               "escalade_timer": end_of(date(2026, 10, 19)),
                               "lendemain": end_of(date(2026, 10, 21))}


def test_a_date_already_past_is_due_at_once() -> None:
    clock = FixedClock(START)
    case = Instance.start(compile_circuit(bundle()), {"nom_menage": "A",
                                                      "date_audience": "2026-09-05"}, clock)
    assert timers_of(case)["rappel_timer"] == end_of(date(2026, 8, 29))  # before now
    assert [f.bpmn_id for f in case.advance()] == ["rappel_timer"]


def test_a_timer_counted_across_the_truce_is_suspended(tmp_path: Path) -> None:
    prop = '<spiffworkflow:property name="timerRelative" value="+1D:date_audience" />'
    circuit = compile_circuit(bundle(tmp_path, (prop, prop.replace("+1D", "+20D") +
                                                '<spiffworkflow:property name="period" '
                                                'value="suspend:treve_hivernale" />')))
    case = Instance.start(circuit, {"nom_menage": "A", "date_audience": "2026-10-20"},
                          FixedClock(START))
    assert timers_of(case)["lendemain"] == end_of(date(2027, 4, 9))


@pytest.mark.parametrize(("old", "new", "fr"), [
    ('value="-7D:date_audience"', 'value="-7D:date_naissance"',
     "Minuteur « Rappel 7 jours avant l'audience » : aucun formulaire du circuit n'a de champ "
     "date « date_naissance »"),
    ('value="-7D:date_audience"', 'value="sept jours avant"',
     "Minuteur « Rappel 7 jours avant l'audience » : « sept jours avant » n'est pas lisible"),
    ('<bpmn:timerEventDefinition id="td_rappel"><bpmn:timeDate xsi:type="bpmn:tFormalExpression" />',
     '<bpmn:timerEventDefinition id="td_rappel"><bpmn:timeDate>"2027-01-01T00:00:00Z"'
     '</bpmn:timeDate>', "Minuteur « Rappel 7 jours avant l'audience » : compté depuis une date"),
    ('"P60D"', '"P6X"', "Minuterie refusée"),
    ('value="-7D:date_audience" />', 'value="-7D:date_audience" /><spiffworkflow:property '
     'name="period" value="suspend:treve_estivale" />',
     "Période de « Rappel 7 jours avant l'audience » : la règle « suspend:treve_estivale » "
     "nomme la période « treve_estivale » que le territoire ne définit pas"),
])
def test_the_check_names_the_timer(tmp_path: Path, old: str, new: str, fr: str) -> None:
    errors = [p for p in check(bundle(tmp_path, (old, new))) if p.is_error]
    assert len(errors) == 1, [p.message("fr") for p in errors]
    assert errors[0].message("fr").startswith(fr)


def test_the_form_keeps_the_hearing_out_of_the_past() -> None:
    form = json.loads((DATES / "forms" / "dates-saisine.json").read_text(encoding="utf-8"))
    assert form["properties"]["date_audience"]["x-aiguillage-not-before"] == "today"


def test_a_field_that_is_not_a_date_is_said_so(tmp_path: Path) -> None:
    errors = [p for p in check(bundle(tmp_path, ('value="-7D:date_audience"',
                                                  'value="-7D:nom_menage"'))) if p.is_error]
    assert [p.message("fr") for p in errors] == [
        "Minuteur « Rappel 7 jours avant l'audience » : le champ « nom_menage » n'est pas une "
        "date : il faut un champ de format date (\"format\": \"date\")"]


def test_a_timer_before_a_date_that_may_precede_the_opening_is_a_warning() -> None:
    loaded = bundle()
    saisine = json.loads(loaded.forms["dates-saisine.json"])
    del saisine["properties"]["date_audience"]["x-aiguillage-not-before"]
    loaded.forms["dates-saisine.json"] = json.dumps(saisine).encode()
    found = [p for p in check(loaded) if p.code == "bpmn.timer_before_opening"]
    # the correction form still refuses a past date; the saisine no longer does
    assert [(p.element_id, p.is_error) for p in found] == [("rappel_timer", False),
                                                            ("escalade_timer", False)]
    assert "compté 7 jours avant « Date d'audience »" in found[0].message("fr")
    assert "il se déclencherait alors dès l'ouverture du dossier" in found[0].message("fr")
    assert '"x-aiguillage-not-before": "today"' in found[0].message("fr")


def test_the_dry_run_shows_dated_timers_and_those_waiting_for_their_date() -> None:
    circuit = compile_circuit(bundle())
    before = dryrun.replay(circuit, START, {"nom_menage": "A"}, ())
    assert [(t.bpmn_id, t.dated) for t in before.walk.undated] == [
        ("lendemain", "dépend de « Date d'audience », non renseignée"),
        ("rappel_timer", "dépend de « Date d'audience », non renseignée")]
    [fallback] = before.walk.timers
    assert fallback.dated == "dépend de « Date d'audience », non renseignée"
    after = dryrun.replay(circuit, START, {"nom_menage": "A"},
                          ({"task": "corriger", "data": {"date_audience": "2026-10-20"}},))
    assert after.walk.undated == ()
    assert [(t.bpmn_id, t.due_at, t.dated) for t in after.walk.timers] == [
        ("rappel_timer", end_of(date(2026, 10, 13)), "7 jours avant « Date d'audience »"),
        ("escalade_timer", end_of(date(2026, 10, 19)), "1 jour avant « Date d'audience »"),
        ("lendemain", end_of(date(2026, 10, 21)), "1 jour après « Date d'audience »")]


def test_a_step_s_deadline_says_what_it_is_counted_from(tmp_path: Path) -> None:
    circuit = compile_circuit(audience_bundle(tmp_path, "-2WD:date_audience"))
    walk = simulate.run(circuit, {"data": {}, "steps": [
        {"task": "noter", "data": {"date_audience": "2026-04-08"}}]}, start=START)
    ready = {e.task.bpmn_id: e.task for e in walk.events if e.kind == "ready" and e.task}
    assert ready["preparer"].dated == "dépend de « Date de l'audience », non renseignée"
    assert walk.ready[0].dated == "2 jours ouvrés avant « Date de l'audience »"
