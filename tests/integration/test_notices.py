"""Notices of new steps: to the people who act on the step (its organisation's, for a lane
bound to a part), at once or in the daily digest by each person's choice; no personal data.

The runtime sets ``human_task.part`` / ``organisation_id`` from the lane's binding; these
tests set them on the row directly, so that they test the notices alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.errors import Conflict
from engine.mail import LogSender
from engine.persistence.models import (
    AuditEvent,
    Case,
    CaseParty,
    HumanTask,
    OutboxMessage,
    Territory,
    User,
)
from engine.persistence.models.human_task import TaskStatus
from engine.services import notices, territories, users
from engine.services.access import SYSTEM, Actor, load_actor
from tests.integration.factories import PASSWORD, World, make_world, start_at_decision


@dataclass
class People:
    relais: int  # organisation of operator A
    horizon: int  # organisation of operator B
    a: Actor  # operator A's worker, immediate
    a_digest: Actor  # operator A's other worker, digest
    b: Actor  # operator B's worker, immediate


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return make_world(session, clock)


def _person(session: Session, clock: FixedClock, world: World, email: str, organisation: int,
            mode: str) -> Actor:
    user = users.create_user(session, clock, SYSTEM, email, email.split("@")[0], PASSWORD)
    users.add_membership(session, clock, SYSTEM, user.id, world.territory.id, "operateur",
                         organisation)
    actor = load_actor(session, user.id)
    notices.set_notice_mode(session, clock, actor, mode)
    return actor


@pytest.fixture
def people(session: Session, clock: FixedClock, world: World) -> People:
    tid = world.territory.id
    session.execute(update(Territory).where(Territory.id == tid).values(
        parts=[{"key": "operator", "label": "Opérateur d'accompagnement"}]))
    session.commit()
    relais = territories.create_organisation(session, clock, SYSTEM, tid, "Relais",
                                             "association").id
    horizon = territories.create_organisation(session, clock, SYSTEM, tid, "Horizon",
                                              "association").id
    return People(
        relais, horizon,
        _person(session, clock, world, "a@demo.test", relais, notices.IMMEDIATE),
        _person(session, clock, world, "a2@demo.test", relais, notices.DIGEST),
        _person(session, clock, world, "b@demo.test", horizon, notices.IMMEDIATE))


def _decision(session: Session, clock: FixedClock, world: World, name: str = "Ménage Secret",
              organisation: int | None = None, part: str | None = "operator") -> HumanTask:
    """A case waiting on ``decision`` (role operateur), bound to ``part`` and held by
    ``organisation`` as the runtime would write it."""
    case_id = start_at_decision(session, clock, world, name)
    task = session.scalar(select(HumanTask).where(HumanTask.case_id == case_id,
                                                  HumanTask.bpmn_id == "decision"))
    assert task is not None
    session.execute(update(HumanTask).where(HumanTask.id == task.id).values(
        part=part, organisation_id=organisation))
    session.commit()
    return task


def _sent(session: Session, clock: FixedClock) -> LogSender:
    sender = LogSender()
    notices.deliver(session, clock, sender)
    return sender


def test_a_bound_step_is_told_to_its_organisation_only_at_once(
        session: Session, clock: FixedClock, world: World, people: People) -> None:
    task = _decision(session, clock, world, organisation=people.relais)
    notices.scan_new_steps(session, clock)  # the analyse step too (coordination, digest)
    sender = _sent(session, clock)
    etapes = [m for m in sender.sent if m.message_id.startswith(f"step-new:{task.id}:")]
    assert [m.to for m in etapes] == [("a@demo.test",)]  # not B, not A's digest reader
    [mail] = etapes
    reference = session.scalar(select(Case.reference).where(Case.id == task.case_id))
    assert reference and reference in mail.subject and "Statuer sur l'orientation" in mail.body
    assert f"/taches/{task.id}" in mail.body
    assert "Secret" not in mail.subject + mail.body  # no personal data in an e-mail
    # a second pass, a restart: nothing again
    assert notices.scan_new_steps(session, clock) == 0
    assert _sent(session, clock).sent == []


def test_an_unbound_step_is_told_to_the_role_across_the_territory(
        session: Session, clock: FixedClock, world: World, people: People) -> None:
    task = _decision(session, clock, world, part=None)
    notices.scan_new_steps(session, clock)
    to = {m.to for m in _sent(session, clock).sent
          if m.message_id.startswith(f"step-new:{task.id}:")}
    assert to == {("a@demo.test",), ("b@demo.test",)}


def _hold(session: Session, clock: FixedClock, task: HumanTask, organisation: int) -> None:
    """An organisation takes the operator part of the task's case, and the task follows it
    (what parties.record and the runtime's re-routing write)."""
    session.execute(update(CaseParty).where(CaseParty.case_id == task.case_id,
                                            CaseParty.until.is_(None)).values(until=clock.now()))
    session.add(CaseParty(case_id=task.case_id, part="operator", organisation_id=organisation,
                          since=clock.now(), reason="Orientation"))
    session.execute(update(HumanTask).where(HumanTask.id == task.id).values(
        organisation_id=organisation))
    session.commit()


def test_a_step_waiting_for_a_party_is_told_once_held_and_again_when_rerouted(
        session: Session, clock: FixedClock, world: World, people: People) -> None:
    task = _decision(session, clock, world, organisation=None)
    notices.scan_new_steps(session, clock)
    assert not [m for m in _sent(session, clock).sent
                if m.message_id.startswith(f"step-new:{task.id}:")]
    # a day and a half later (the step is older than the window): still told when held
    clock.advance(notices.NEW_STEP_WINDOW + timedelta(hours=12))
    for organisation, expected in ((people.relais, "a@demo.test"),
                                   (people.horizon, "b@demo.test")):
        clock.advance(timedelta(hours=1))
        _hold(session, clock, task, organisation)
        assert notices.scan_new_steps(session, clock) == 1
        assert [m.to for m in _sent(session, clock).sent] == [(expected,)]
        assert notices.scan_new_steps(session, clock) == 0


def test_the_pass_reads_from_its_cursor_and_a_late_commit_is_still_seen(
        session: Session, clock: FixedClock, world: World, people: People) -> None:
    late = _decision(session, clock, world, organisation=people.relais)
    _decision(session, clock, world, "Autre Ménage", organisation=people.relais)
    assert notices.scan_new_steps(session, clock) == 2
    # as if the first step's transaction had committed only after that pass (a lower id
    # than a step the pass saw): take its marker away; the next passes read back SETTLE
    session.execute(delete(OutboxMessage).where(
        OutboxMessage.dedupe_key.startswith(f"step-new:{late.id}:")))
    session.commit()
    clock.advance(timedelta(minutes=1))
    assert notices.scan_new_steps(session, clock) == 1
    assert [m.to for m in _sent(session, clock).sent
            if m.message_id.startswith(f"step-new:{late.id}:")] == [("a@demo.test",)]
    clock.advance(notices.SETTLE * 3)
    assert notices.scan_new_steps(session, clock) == 0
    cursor = session.scalar(select(OutboxMessage).where(
        OutboxMessage.dedupe_key == notices.CURSOR_KEY))
    assert cursor is not None and len(cursor.payload["seen"]) <= 3


def test_an_assigned_step_is_told_to_its_holder(session: Session, clock: FixedClock,
                                                world: World, people: People) -> None:
    task = _decision(session, clock, world, organisation=people.relais)
    session.execute(update(HumanTask).where(HumanTask.id == task.id).values(
        assignee_id=people.a.user_id))
    session.commit()
    notices.scan_new_steps(session, clock)
    assert [m.to for m in _sent(session, clock).sent
            if m.message_id.startswith(f"step-new:{task.id}:")] == [("a@demo.test",)]


def test_old_steps_and_deactivated_people_are_not_told(session: Session, clock: FixedClock,
                                                       world: World, people: People) -> None:
    _decision(session, clock, world, organisation=people.relais)
    clock.advance(notices.NEW_STEP_WINDOW + timedelta(minutes=1))  # a scheduler long down
    assert notices.scan_new_steps(session, clock) == 0
    fresh = _decision(session, clock, world, organisation=people.relais)
    session.execute(update(User).where(User.id == people.a.user_id).values(active=False))
    session.commit()
    notices.scan_new_steps(session, clock)
    assert not [m for m in _sent(session, clock).sent
                if m.message_id.startswith(f"step-new:{fresh.id}:")]


def test_the_digest_lists_new_steps_by_the_same_rule(session: Session, clock: FixedClock,
                                                     world: World, people: People) -> None:
    relais = _decision(session, clock, world, organisation=people.relais)
    _decision(session, clock, world, "Autre Ménage", organisation=people.horizon)
    notices.scan_new_steps(session, clock)  # e-mails to A and B; lines held for A's reader
    assert [m.to for m in _sent(session, clock).sent] == [("a@demo.test",), ("b@demo.test",)]
    clock.advance(timedelta(hours=20))  # next morning, after 7:00 in Paris
    notices.write_digests(session, clock)
    digests = {m.recipient_user_id: m.payload for m in session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "digest"))}
    # A's digest reader: the step of her organisation only; B and A chose e-mails per step
    assert [s["task_id"] for s in digests[people.a_digest.user_id]["new"]] == [str(relais.id)]
    assert people.b.user_id not in digests and people.a.user_id not in digests
    sender = _sent(session, clock)
    [mail] = [m for m in sender.sent if m.to == ("a2@demo.test",)]
    assert "Nouvelles étapes" in mail.body and f"/taches/{relais.id}" in mail.body
    assert "Ménage" not in mail.body
    # listed once: the next day's digest does not list it again
    clock.advance(timedelta(days=1))
    notices.write_digests(session, clock)
    later = session.scalar(select(OutboxMessage).where(
        OutboxMessage.kind == "digest", OutboxMessage.recipient_user_id == people.a_digest.user_id,
        OutboxMessage.dedupe_key.endswith(clock.now().date().isoformat())))
    assert later is None or later.payload["new"] == []


def test_overdue_step_bound_to_a_part_goes_to_its_organisation(
        session: Session, clock: FixedClock, world: World, people: People) -> None:
    task = _decision(session, clock, world, organisation=people.relais)
    session.execute(update(HumanTask).where(HumanTask.id == task.id).values(
        due_at=clock.now() + timedelta(days=1), due_sort=clock.now() + timedelta(days=1)))
    session.commit()
    clock.advance(timedelta(days=2))
    notices.scan_overdue(session, clock)
    sender = _sent(session, clock)
    holder = [m.to for m in sender.sent if m.message_id == f"overdue:{task.id}:holder"]
    assert holder == [("a2@demo.test", "a@demo.test")]  # A's people, whatever their choice


def test_each_person_chooses_and_the_choice_is_audited(session: Session, clock: FixedClock,
                                                       world: World) -> None:
    operator = world.operator
    assert notices.notice_mode(session, operator) == notices.DIGEST  # the default
    notices.set_notice_mode(session, clock, operator, notices.IMMEDIATE)
    notices.set_notice_mode(session, clock, operator, notices.IMMEDIATE)  # unchanged: no event
    assert notices.notice_mode(session, operator) == notices.IMMEDIATE
    events = list(session.scalars(select(AuditEvent).where(
        AuditEvent.action == "user.notice_mode")))
    assert [(e.detail["before"], e.detail["after"]) for e in events] == [("digest", "immediate")]
    with pytest.raises(Conflict):
        notices.set_notice_mode(session, clock, operator, "weekly\x00")
    assert notices.notice_mode(session, operator) == notices.IMMEDIATE


def test_open_steps_only(session: Session, clock: FixedClock, world: World,
                         people: People) -> None:
    task = _decision(session, clock, world, organisation=people.relais)
    session.execute(update(HumanTask).where(HumanTask.id == task.id).values(
        status=TaskStatus.CANCELLED))
    session.commit()
    notices.scan_new_steps(session, clock)
    assert not [m for m in _sent(session, clock).sent
                if m.message_id.startswith(f"step-new:{task.id}:")]
