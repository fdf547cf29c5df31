"""Issue #14, item 1: before an answer closes a case, the page asks to confirm. The preview
says which end the answer would reach, and writes nothing (counted, table by table)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.errors import FormInvalid
from engine.persistence.db import Base
from engine.persistence.models import Case, Circuit, HumanTask, User
from engine.services import cases, demo, tasks
from engine.services.access import SYSTEM, Actor, load_actor

ROOT = Path(__file__).resolve().parents[2]
ACCUEIL = {"mode_accueil": "sur_place", "besoins_immediats": ["alimentation"],
           "observations": "Souhaite revenir plus tard."}


def _reception(session: Session, clock: FixedClock) -> tuple[Actor, int, int]:
    territory_id = demo.load(session, clock, ROOT, "mot-de-passe-demo", cases_per_circuit=0)
    circuit_id = session.scalar(select(Circuit.id).where(
        Circuit.territory_id == territory_id, Circuit.key == "mutualisation"))
    assert circuit_id is not None
    case = cases.start(session, clock, SYSTEM, circuit_id, {
        "nom_menage": "Ménage Test Aperçu", "canal": "sans_rendez_vous", "commune": "Toulouse"})
    step = session.scalar(select(HumanTask.id).where(HumanTask.case_id == case.id,
                                                     HumanTask.bpmn_id == "C2_T01"))
    worker = session.scalar(select(User.id).where(User.email == "ts@demo.test"))
    assert step is not None and worker is not None
    return load_actor(session, worker), case.id, step


def _counts(session: Session) -> dict[str, int]:
    session.expire_all()
    return {t.name: session.scalar(select(func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables}


def test_the_preview_names_the_end_and_writes_nothing(session: Session,
                                                      clock: FixedClock) -> None:
    worker, case_id, step = _reception(session, clock)
    before, version = _counts(session), session.get(Case, case_id).version  # type: ignore[union-attr]
    end = tasks.end_preview(session, clock, worker, step, {**ACCUEIL,
                                                           "accord_evaluation": False})
    assert end is not None and (end.bpmn_id, end.name) == (
        "C2_E3", "Refus / fin à la demande de la personne")
    assert tasks.end_preview(session, clock, worker, step,
                             {**ACCUEIL, "accord_evaluation": True}) is None
    session.commit()
    assert _counts(session) == before
    case = session.get(Case, case_id)
    assert case is not None and (case.status, case.version) == ("open", version)
    row = session.get(HumanTask, step)
    assert row is not None and (row.status, row.assignee_id) == ("open", None)
    # the completion that follows reaches the end the preview named
    tasks.complete(session, clock, worker, step, {**ACCUEIL, "accord_evaluation": False})
    case = session.get(Case, case_id)
    assert case is not None and (case.status, case.end_state) == ("completed", "C2_E3")


def test_the_preview_refuses_an_unanswered_yes_no(session: Session, clock: FixedClock) -> None:
    worker, _, step = _reception(session, clock)
    with pytest.raises(FormInvalid) as refused:
        tasks.end_preview(session, clock, worker, step, ACCUEIL)
    assert refused.value.errors == {"accord_evaluation": ["Répondez oui ou non."]}


def test_a_step_that_cannot_end_the_case_loads_nothing(
        session: Session, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Most steps lead to another step: the diagram says so, and no case is loaded twice."""
    worker, _, step = _reception(session, clock)
    tasks.complete(session, clock, worker, step, {**ACCUEIL, "accord_evaluation": True})
    evaluation = session.scalar(select(HumanTask.id).where(HumanTask.bpmn_id == "C2_T02",
                                                           HumanTask.status == "open"))
    assert evaluation is not None
    from engine.services import runtime

    def no_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("loaded")

    monkeypatch.setattr(runtime, "load", no_load)
    assert tasks.end_preview(session, clock, worker, evaluation, {}) is None


def test_a_completion_asked_to_confirm_keeps_an_end_only_once_confirmed(
        session: Session, clock: FixedClock) -> None:
    """What the step's page runs: ``complete`` checks the end on the case it loads itself
    (no preview beforehand); an end not confirmed is refused and nothing is written."""
    worker, case_id, step = _reception(session, clock)
    before = _counts(session)
    refusal = {**ACCUEIL, "accord_evaluation": False}
    with pytest.raises(tasks.EndUnconfirmed) as asked:
        tasks.complete(session, clock, worker, step, refusal, confirmed_end="")
    assert asked.value.end.bpmn_id == "C2_E3"
    with pytest.raises(tasks.EndUnconfirmed):
        tasks.complete(session, clock, worker, step, refusal, confirmed_end="C2_E1")
    assert _counts(session) == before
    tasks.complete(session, clock, worker, step, refusal, confirmed_end="C2_E3")
    case = session.get(Case, case_id)
    assert case is not None and (case.status, case.end_state) == ("completed", "C2_E3")
