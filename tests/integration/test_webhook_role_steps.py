"""A step offered to its role across the territory (a lane bound to no part) is told to the
organisations whose people hold that role there — those who find it in their Mes tâches —
once each, and its lateness likewise; a person without organisation, an inactive person or
another role's organisation hears nothing (docs/webhooks.md, issue #18 item 3)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.persistence.models import HumanTask, OutboxMessage
from engine.services import notices, users, webhooks
from engine.services.access import SYSTEM
from tests.integration.factories import make_org, make_user, make_world, start_at_decision


def _keys(session: Session) -> list[str]:
    session.commit()
    return list(session.scalars(select(OutboxMessage.dedupe_key).where(
        OutboxMessage.kind == webhooks.KIND).order_by(OutboxMessage.id)))


def test_a_role_wide_step_is_told_to_the_organisations_of_the_roles_people(
        session: Session, clock: FixedClock) -> None:
    world = make_world(session, clock)
    territory = world.territory.id
    admin = make_user(session, clock, "admin@demo.test", territory, "admin")
    relais, horizon, autre = (make_org(session, clock, territory, n)
                              for n in ("Relais", "Horizon", "Autre rôle"))
    case_id = start_at_decision(session, clock, world, "Ménage Secret")
    task = session.scalar(select(HumanTask).where(HumanTask.case_id == case_id,
                                                  HumanTask.bpmn_id == "decision"))
    assert task is not None and task.part is None and task.role is not None
    role = task.role
    make_user(session, clock, "a@relais.test", territory, role, organisation=relais)
    make_user(session, clock, "b@relais.test", territory, role, organisation=relais)
    gone = make_user(session, clock, "c@horizon.test", territory, role, organisation=horizon)
    make_user(session, clock, "d@autre.test", territory, "admin", organisation=autre)
    make_user(session, clock, "e@nulle-part.test", territory, role)  # no organisation
    subs = {org: webhooks.create(session, clock, admin, territory, org,
                                 f"https://partenaire.example/{org}",
                                 ["step.offered", "step.overdue"]).subscription.id
            for org in (relais, horizon, autre)}
    assert gone.user_id is not None
    users.set_active(session, clock, SYSTEM, gone.user_id, False)  # Horizon's only one
    session.execute(update(HumanTask).where(HumanTask.id == task.id).values(
        due_at=clock.now() + timedelta(days=1), due_sort=clock.now() + timedelta(days=1)))
    session.commit()

    notices.scan_new_steps(session, clock)
    assert _keys(session) == [f"webhook:{subs[relais]}:step.offered:{task.id}:0"]
    notices.scan_new_steps(session, clock)  # again: nothing new
    clock.advance(timedelta(days=2))
    notices.scan_overdue(session, clock)
    assert _keys(session)[1:] == [f"webhook:{subs[relais]}:step.overdue:{task.id}"]


def test_a_role_wide_step_assigned_to_a_person_is_told_to_no_organisation(
        session: Session, clock: FixedClock) -> None:
    world = make_world(session, clock)
    territory = world.territory.id
    admin = make_user(session, clock, "admin@demo.test", territory, "admin")
    relais = make_org(session, clock, territory, "Relais")
    case_id = start_at_decision(session, clock, world, "Ménage Secret")
    task = session.scalar(select(HumanTask).where(HumanTask.case_id == case_id,
                                                  HumanTask.bpmn_id == "decision"))
    assert task is not None and task.role is not None
    person = make_user(session, clock, "a@relais.test", territory, task.role,
                       organisation=relais)
    webhooks.create(session, clock, admin, territory, relais, "https://partenaire.example/",
                    ["step.offered"])
    session.execute(update(HumanTask).where(HumanTask.id == task.id).values(
        assignee_id=person.user_id))
    session.commit()
    notices.scan_new_steps(session, clock)
    assert _keys(session) == []
