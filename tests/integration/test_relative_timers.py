"""Timers counted from a date of the case (``timerRelative``, issue #15 item 1), through the
services on SQLite and PostgreSQL: the timer row the scheduler polls follows a corrected
date in the same unit of work, and the scheduler fires it once, at the corrected time."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import FixedClock
from engine.core.calendar import end_of_day
from engine.core.loader import load_path
from engine.errors import ProcessDefinitionError
from engine.persistence.models import AuditEvent, CircuitVersion, HumanTask, Timer
from engine.scheduler import run_once
from engine.services import cases, circuits, tasks
from tests.integration.factories import make_world
from tests.unit.test_relative_timers import DATES

START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


def timer_rows(sessions: sessionmaker[Session], case_id: int) -> list[tuple[str, datetime, str]]:
    with sessions() as fresh:
        rows = fresh.execute(select(Timer.bpmn_id, Timer.due_at, Timer.status).where(
            Timer.case_id == case_id).order_by(Timer.bpmn_id, Timer.due_at))
        return [(b, d, s) for b, d, s in rows]


def step(sessions: sessionmaker[Session], case_id: int, bpmn_id: str) -> HumanTask:
    with sessions() as fresh:
        found = fresh.scalar(select(HumanTask).where(
            HumanTask.case_id == case_id, HumanTask.bpmn_id == bpmn_id,
            HumanTask.status == "open"))
        assert found is not None
        return found


def test_a_corrected_date_moves_the_timer_rows_and_fires_once(
        session: Session, sessions: sessionmaker[Session]) -> None:
    clock = FixedClock(START)
    world = make_world(session, clock, DATES)
    case = cases.start(session, clock, world.coordinator, world.circuit.id,
                       {"nom_menage": "Ménage A", "date_audience": "2026-10-20"})
    assert timer_rows(sessions, case.id) == [
        ("escalade_timer", end_of_day(date(2026, 10, 19)), "waiting"),
        ("lendemain", end_of_day(date(2026, 10, 21)), "waiting"),
        ("rappel_timer", end_of_day(date(2026, 10, 13)), "waiting")]
    assert step(sessions, case.id, "preparer").due_at == end_of_day(date(2026, 10, 19))

    clock.advance(timedelta(days=1))
    tasks.complete(session, clock, world.coordinator, step(sessions, case.id, "corriger").id,
                   {"date_audience": "2026-10-27"})
    # the old rows are cancelled (never fired), the new ones wait: same unit of work
    assert timer_rows(sessions, case.id) == [
        ("escalade_timer", end_of_day(date(2026, 10, 19)), "cancelled"),
        ("escalade_timer", end_of_day(date(2026, 10, 26)), "waiting"),
        ("lendemain", end_of_day(date(2026, 10, 21)), "cancelled"),
        ("lendemain", end_of_day(date(2026, 10, 28)), "waiting"),
        ("rappel_timer", end_of_day(date(2026, 10, 13)), "cancelled"),
        ("rappel_timer", end_of_day(date(2026, 10, 20)), "waiting")]
    assert step(sessions, case.id, "preparer").due_at == end_of_day(date(2026, 10, 26))

    # at the first date, nothing is due
    clock.set(end_of_day(date(2026, 10, 14)))
    assert run_once(sessions, clock, "w1").fired == 0
    # at the corrected reminder's time it fires, once, even swept twice
    clock.set(end_of_day(date(2026, 10, 20)) + timedelta(minutes=1))
    assert run_once(sessions, clock, "w1").fired == 1
    assert run_once(sessions, clock, "w2").fired == 0
    rows = timer_rows(sessions, case.id)
    assert ("rappel_timer", end_of_day(date(2026, 10, 20)), "done") in rows
    with sessions() as fresh:
        fired = fresh.scalars(select(AuditEvent.detail).where(
            AuditEvent.case_id == case.id, AuditEvent.action == "timer.fired")).all()
    assert len(fired) == 1


def test_a_date_answered_later_arms_a_timer_that_waited_for_it(
        session: Session, sessions: sessionmaker[Session]) -> None:
    clock = FixedClock(START)
    world = make_world(session, clock, DATES)
    case = cases.start(session, clock, world.coordinator, world.circuit.id,
                       {"nom_menage": "Ménage B"})
    assert timer_rows(sessions, case.id) == [
        ("escalade_timer", START + timedelta(days=60), "waiting")]
    tasks.complete(session, clock, world.coordinator, step(sessions, case.id, "corriger").id,
                   {"date_audience": "2026-09-03"})  # already within the reminder's week
    rows = timer_rows(sessions, case.id)
    assert ("rappel_timer", end_of_day(date(2026, 8, 27)), "waiting") in rows
    # a date already past: fires at the next sweep
    assert run_once(sessions, clock, "w1").fired == 1
    assert ("rappel_timer", end_of_day(date(2026, 8, 27)), "done") in timer_rows(sessions,
                                                                                 case.id)


def test_a_new_version_without_the_date_field_is_refused_naming_step_and_field(
        session: Session) -> None:
    clock = FixedClock(START)
    world = make_world(session, clock, DATES)
    bundle = load_path(DATES, DATES / "forms").bundles[0][1]
    for name in ("dates-saisine.json", "dates-correction.json"):
        form = json.loads(bundle.forms[name])
        form["properties"].pop("date_audience")
        form["required"] = [r for r in form.get("required", []) if r != "date_audience"]
        bundle.forms[name] = json.dumps(form).encode()
    with pytest.raises(ProcessDefinitionError) as refused:
        circuits.deploy(session, clock, world.coordinator, world.territory.id,
                        world.circuit.key, bundle)
    said = {p.message("fr") for p in refused.value.problems if p.is_error}
    assert "Minuteur « Rappel 7 jours avant l'audience » : aucun formulaire du circuit n'a de " \
           "champ date « date_audience »" in said
    assert "Minuteur « Le lendemain de l'audience » : aucun formulaire du circuit n'a de " \
           "champ date « date_audience »" in said
    session.rollback()
    assert session.scalar(select(func.count()).select_from(CircuitVersion)) == 1  # nothing new
