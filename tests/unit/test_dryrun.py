"""The dry-run protocol as pure code (issue #11): the state the page carries, one action per
request, refused steps not kept, a tampered state restarted, without Flask nor a database."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.core import dryrun
from engine.core.dryrun import Posted
from engine.core.spiff.compiler import CompiledCircuit

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _carried(outcome: dryrun.Outcome, **more: object) -> Posted:
    state = outcome.state
    return Posted(start=state.start.isoformat(),
                  data=state.dumps("data") if state.data is not None else "",
                  steps=state.dumps("steps"), **more)  # type: ignore[arg-type]


def test_start_answer_and_wait(mini: CompiledCircuit) -> None:
    shown = dryrun.play(mini, Posted(), NOW)
    assert shown.run is None and shown.state.data is None and not shown.errors
    assert shown.start_form is not None and shown.start_form.fields[0].name == "nom_menage"
    missing = dryrun.play(mini, Posted(action="commencer"), NOW)
    assert "nom_menage" in missing.errors and missing.state.data is None
    started = dryrun.play(mini, Posted(action="commencer", answers={"nom_menage": ["Essai"]}),
                          NOW)
    assert started.state.data == {"nom_menage": "Essai", "accord_partage": False}
    assert started.run is not None
    assert [t.bpmn_id for t in started.run.walk.ready] == ["analyse"]
    refused = dryrun.play(mini, _carried(started, action="terminer", task="analyse",
                                         answers={"mesure": ["autre"]}), NOW)
    assert "mesure" in refused.errors and refused.state.steps == ()
    assert refused.run is not None and refused.run.forms["analyse"] is not None
    done = dryrun.play(mini, _carried(started, action="terminer", task="analyse",
                                      answers={"mesure": ["avdl"], "domaines": ["MENTAL"]}), NOW)
    assert not done.errors
    assert done.state.steps == ({"task": "analyse",
                                 "data": {"mesure": "avdl", "domaines": ["MENTAL"]}},)
    waited = dryrun.play(mini, _carried(done, action="attendre", duration=" p16d "), NOW)
    assert waited.state.steps[-1] == {"wait": "P16D"} and waited.run is not None
    assert {t.bpmn_id for t in waited.run.walk.ready} == {"escalade"}
    assert "timer" in [e.kind for e in waited.run.walk.events]


def test_a_refused_wait_is_not_kept_and_a_tampered_state_restarts(mini: CompiledCircuit) -> None:
    started = dryrun.play(mini, Posted(action="commencer", answers={"nom_menage": ["Essai"]}),
                          NOW)
    wrong = dryrun.play(mini, _carried(started, action="attendre", duration="16 jours"), NOW)
    assert "durée invalide" in wrong.errors[""][0] and wrong.state.steps == ()
    assert wrong.run is not None
    tampered = Posted(start=NOW.isoformat(), data='{"nom_menage": "Essai"}',
                      steps='[{"task": "decision", "data": {}}]', action="attendre",
                      duration="P1D")
    restarted = dryrun.play(mini, tampered, NOW)
    assert restarted.state == dryrun.State(NOW) and restarted.run is None
    assert "n'est pas prête" in restarted.errors[""][0]
    again = dryrun.play(mini, _carried(started, action="recommencer"), NOW)
    assert again.state == dryrun.State(NOW) and again.run is None


def test_the_carried_state_is_read_defensively() -> None:
    assert dryrun.state_of(Posted(start="hier", steps="[]"), NOW) == dryrun.State(NOW)
    naive = dryrun.state_of(Posted(start="2026-01-01T10:00:00", data="[1]", steps='{"a": 1}'),
                            NOW)
    assert naive == dryrun.State(NOW)  # no time zone: now; data not an object; steps not a list
    many = dryrun.state_of(Posted(start=NOW.isoformat(), data="{}",
                                  steps="[" + ",".join(['{"wait": "P1D"}'] * 300) + "]"), NOW)
    assert many.data == {} and len(many.steps) == dryrun.MAX_STEPS
