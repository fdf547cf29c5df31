"""The circuit's effects on orientations, through the runtime, on SQLite and PostgreSQL: a
timer's throw event with ``orientation`` = ``expire`` expires the case's open orientations in
the timer's own transaction, and a case reaching its end cancels or closes them; no other
save touches them."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import scheduler
from engine.clock import FixedClock
from engine.persistence.models import HumanTask
from engine.services import orientations, tasks
from tests.integration.factories import MINI, World, make_world, start_at_decision

NOTIFY = '<spiffworkflow:property name="notify" value="assignee" />'


@pytest.fixture
def expiring(session: Session, clock: FixedClock, tmp_path: Path) -> World:
    """The small circuit whose reminder also expires the open orientation."""
    folder = tmp_path / "mini"
    shutil.copytree(MINI, folder)
    bpmn = folder / "mini.bpmn"
    text = bpmn.read_text()
    assert NOTIFY in text
    bpmn.write_text(text.replace(NOTIFY, NOTIFY + '<spiffworkflow:property name="orientation" '
                                 'value="expire" />', 1))
    return make_world(session, clock, folder)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every call the runtime makes to the orientation service (recorded, then passed on)."""
    seen: list[tuple[str, Any]] = []
    real_expire, real_end = orientations.expire_open, orientations.end_of_case

    def expire_open(session: Session, clock: FixedClock, case_id: int, comment: str) -> int:
        seen.append(("expire", (case_id, comment, session.in_transaction())))
        return real_expire(session, clock, case_id, comment)

    def end_of_case(session: Session, clock: FixedClock, actor: Any, case_id: int,
                    cancelled: bool) -> None:
        seen.append(("end", (case_id, actor.user_id, cancelled)))
        real_end(session, clock, actor, case_id, cancelled)

    monkeypatch.setattr(orientations, "expire_open", expire_open)
    monkeypatch.setattr(orientations, "end_of_case", end_of_case)
    return seen


def test_a_fired_timer_expires_the_open_orientations_in_its_transaction(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock,
        expiring: World, calls: list[tuple[str, Any]]) -> None:
    case_id = start_at_decision(session, clock, expiring, "Ménage Expiré")
    assert calls == []  # starting and completing a step do not touch orientations
    clock.advance(timedelta(days=10))
    assert scheduler.run_once(sessions, clock, "w").fired == 1
    assert calls == [("expire", (case_id, "Relance envoyée", True))]
    clock.advance(timedelta(days=1))
    scheduler.run_once(sessions, clock, "w")
    assert len(calls) == 1  # once per run of the event


def test_the_end_of_a_case_closes_its_orientations_once(
        session: Session, clock: FixedClock, expiring: World,
        calls: list[tuple[str, Any]]) -> None:
    case_id = start_at_decision(session, clock, expiring, "Ménage Terminé")
    decision = session.scalar(select(HumanTask.id).where(
        HumanTask.case_id == case_id, HumanTask.bpmn_id == "decision"))
    assert decision is not None
    tasks.complete(session, clock, expiring.operator, decision, {"decision": "acceptee"})
    assert calls == [("end", (case_id, None, False))]
