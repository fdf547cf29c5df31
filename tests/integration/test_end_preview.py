"""Issue #14, item 1: before an answer closes a case, the page asks to confirm: ``complete``
names the end an unconfirmed answer would reach, and writes nothing (counted, table by
table)."""

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


def test_an_unanswered_yes_no_is_refused_before_any_end_is_asked(
        session: Session, clock: FixedClock) -> None:
    worker, _, step = _reception(session, clock)
    with pytest.raises(FormInvalid) as refused:
        tasks.complete(session, clock, worker, step, ACCUEIL, confirmed_end="")
    assert refused.value.errors == {"accord_evaluation": ["Répondez oui ou non."]}


def test_an_answer_that_goes_on_needs_no_confirmation(session: Session,
                                                      clock: FixedClock) -> None:
    worker, case_id, step = _reception(session, clock)
    tasks.complete(session, clock, worker, step, {**ACCUEIL, "accord_evaluation": True},
                   confirmed_end="")
    case = session.get(Case, case_id)
    assert case is not None and case.status == "open"


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
