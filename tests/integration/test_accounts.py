"""Accounts (issue #10, findings 1, 2, 12 and 13): an administrator acts on an account only
when they administer every territory it belongs to; every event about an account reaches the
administrators of its territories; a person is created in one validated unit of work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engine.persistence.models import Membership, Territory, User, WebSession
from engine.services import audit, users
from engine.services.access import SYSTEM, Actor, load_actor
from tests.integration.factories import World, make_user, make_world


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return make_world(session, clock)


@pytest.fixture
def admin_a(session: Session, clock: FixedClock, world: World) -> Actor:
    return make_user(session, clock, "admin-a@demo.test", world.territory.id, "admin")


@pytest.fixture
def admin_b(session: Session, clock: FixedClock, world: World) -> Actor:
    return make_user(session, clock, "admin-b@demo.test", _elsewhere(world), "admin")


def _elsewhere(world: World) -> int:
    return world.outsider.territories()[0]


def _uid(actor: Actor) -> int:
    assert actor.user_id is not None
    return actor.user_id


def _territories_of(session: Session, user_id: int) -> set[int]:
    return set(session.scalars(select(Membership.territory_id).where(
        Membership.user_id == user_id)))


def test_an_administrator_cannot_take_over_another_territorys_administrator(
        session: Session, clock: FixedClock, world: World, admin_a: Actor,
        admin_b: Actor) -> None:
    """The reported attack: add a role in A to B's admin, then reset its password."""
    with pytest.raises(NotFound):
        users.add_membership(session, clock, admin_a, _uid(admin_b), world.territory.id,
                             "operateur")
    assert _territories_of(session, _uid(admin_b)) == {_elsewhere(world)}
    for attempt in (lambda: users.reset_password(session, clock, admin_a, _uid(admin_b)),
                    lambda: users.set_active(session, clock, admin_a, _uid(admin_b), False),
                    lambda: users.set_active(session, clock, admin_a,
                                             _uid(world.outsider), False),
                    lambda: users.update_user(session, clock, admin_a, _uid(admin_b),
                                              email="pris@demo.test")):
        with pytest.raises(NotFound):
            attempt()
    victim = session.get(User, _uid(admin_b))
    assert victim is not None and victim.active and victim.email == "admin-b@demo.test"
    assert not victim.must_change_password


def test_a_shared_account_needs_an_administrator_of_each_of_its_territories(
        session: Session, clock: FixedClock, world: World, admin_a: Actor,
        admin_b: Actor) -> None:
    users.add_membership(session, clock, SYSTEM, _uid(world.operator), _elsewhere(world),
                         "coordination")
    target = _uid(world.operator)
    role_in_a = session.scalar(select(Membership.id).where(
        Membership.user_id == target, Membership.territory_id == world.territory.id))
    assert role_in_a is not None
    for actor in (admin_a, admin_b):
        with pytest.raises(PermissionDenied):
            users.reset_password(session, clock, actor, target)
        with pytest.raises(PermissionDenied):
            users.set_active(session, clock, actor, target, False)
        with pytest.raises(PermissionDenied):
            users.remove_membership(session, clock, actor, role_in_a)
        with pytest.raises(PermissionDenied):
            users.update_user(session, clock, actor, target, display_name="Autre nom")
    both = make_user(session, clock, "admin-ab@demo.test", world.territory.id, "admin")
    users.add_membership(session, clock, SYSTEM, _uid(both), _elsewhere(world), "admin")
    both = load_actor(session, _uid(both))
    assert users.reset_password(session, clock, both, target)
    users.remove_membership(session, clock, both, role_in_a)
    assert _territories_of(session, target) == {_elsewhere(world)}


def test_an_account_without_any_role_is_out_of_everyones_reach(
        session: Session, clock: FixedClock, world: World, admin_a: Actor) -> None:
    loose = users.create_user(session, clock, SYSTEM, "sans-role@demo.test", "Sans rôle",
                              "mot-de-passe-long")
    with pytest.raises(NotFound):
        users.add_membership(session, clock, admin_a, loose.id, world.territory.id, "operateur")
    with pytest.raises(NotFound):
        users.reset_password(session, clock, admin_a, loose.id)
    with pytest.raises(PermissionDenied):
        users.create_user(session, clock, admin_a, "autre-sans-role@demo.test", "Personne",
                          "mot-de-passe-long")
    assert users.reset_password(session, clock, SYSTEM, loose.id)


def _account_events(session: Session, actor: Actor, email: str) -> list[str]:
    user_id = session.scalar(select(User.id).where(User.email == email))
    rows, _ = audit.search(session, actor, audit.AuditFilters())
    return [r.action for r in rows if r.detail.get("target_user_id") == user_id]


def test_the_victims_administrators_see_a_refused_takeover(
        session: Session, clock: FixedClock, world: World, admin_a: Actor,
        admin_b: Actor) -> None:
    with pytest.raises(NotFound):
        users.reset_password(session, clock, admin_a, _uid(admin_b))
    rows, _ = audit.search(session, admin_b, audit.AuditFilters(action="user.refused"))
    assert [(r.user, r.detail["attempt"]) for r in rows] == [
        ("Admin-A", "user.password_reset")]  # the name, never the e-mail
    assert audit.search(session, admin_a, audit.AuditFilters(action="user.refused"))[1] == 0


def test_events_about_an_account_reach_the_administrators_of_each_of_its_territories(
        session: Session, clock: FixedClock, world: World, admin_a: Actor,
        admin_b: Actor) -> None:
    created = users.create_person(session, clock, admin_a, "double@demo.test", "Double",
                                  world.territory.id, "operateur", None)
    both = make_user(session, clock, "admin-ab@demo.test", world.territory.id, "admin")
    users.add_membership(session, clock, SYSTEM, _uid(both), _elsewhere(world), "admin")
    both = load_actor(session, _uid(both))
    users.add_membership(session, clock, both, created.user_id, _elsewhere(world),
                         "coordination")
    clock.advance(timedelta(minutes=1))
    users.reset_password(session, clock, both, created.user_id)
    users.set_active(session, clock, both, created.user_id, False)
    users.set_active(session, clock, both, created.user_id, True)
    seen_by_a = _account_events(session, admin_a, "double@demo.test")
    seen_by_b = _account_events(session, admin_b, "double@demo.test")
    later = ["user.activate", "user.deactivate", "user.password_reset", "membership.add"]
    assert seen_by_a == [*later, "membership.add", "user.create"]
    assert seen_by_b == later  # B's admins see the account from the day it joined B
    export = list(audit.export_rows(session, admin_b, audit.AuditFilters(
        action="user.password_reset")))
    assert len(export) == 2


def test_a_person_is_created_with_a_temporary_password_in_one_unit_of_work(
        session: Session, clock: FixedClock, world: World, admin_a: Actor) -> None:
    created = users.create_person(session, clock, admin_a, " Nouvelle@Demo.test ",
                                  " Nouvelle Personne ", world.territory.id, "operateur", None)
    assert created.email == "nouvelle@demo.test" and created.display_name == "Nouvelle Personne"
    assert users.authenticate(session, "nouvelle@demo.test", created.temporary_password)
    user = session.get(User, created.user_id)
    assert user is not None and user.must_change_password
    [person] = [p for p in users.administered_users(session, admin_a)
                if p.id == created.user_id]
    assert [(r.territory_id, r.role) for r in person.roles] == [(world.territory.id,
                                                                 "operateur")]
    assert person.manageable and person.must_change_password


def _count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


@pytest.mark.parametrize("field, value", [
    ("role", "inconnu"), ("email", "=2+3@x.test"), ("email", "sans-arobase.test"),
    ("email", "a@localhost"), ("email", ".point@demo.test"), ("email", "a b@demo.test"),
    ("email", "x" * 250 + "@demo.test"), ("email", "nul\x00@demo.test"),
    ("display_name", ""), ("display_name", "   "), ("display_name", "n" * 201),
    ("display_name", "Nom\x00"), ("display_name", "Nom\nSuite"),
])
def test_a_refused_creation_leaves_no_account(session: Session, clock: FixedClock,
                                              world: World, admin_a: Actor, field: str,
                                              value: str) -> None:
    before = _count_users(session)
    given = {"email": "valide@demo.test", "display_name": "Valide", "role": "operateur"}
    given[field] = value
    with pytest.raises(Conflict if field == "role" else InvalidInput):
        users.create_person(session, clock, admin_a, given["email"], given["display_name"],
                            world.territory.id, given["role"], None)
    assert _count_users(session) == before


def test_creation_refuses_another_territory_and_its_organisations(
        session: Session, clock: FixedClock, world: World, admin_a: Actor) -> None:
    from engine.services import territories
    before = _count_users(session)
    for territory_id in (_elsewhere(world), 10**6):
        with pytest.raises(PermissionDenied):
            users.create_person(session, clock, admin_a, "x@demo.test", "X", territory_id,
                                "coordination", None)
    org = territories.create_organisation(session, clock, SYSTEM, _elsewhere(world),
                                          "CCAS d'ailleurs", "ccas")
    with pytest.raises(NotFound):
        users.create_person(session, clock, admin_a, "x@demo.test", "X", world.territory.id,
                            "operateur", org.id)
    with pytest.raises(Conflict):
        users.create_person(session, clock, admin_a, "op@demo.test", "X", world.territory.id,
                            "operateur", None)
    with pytest.raises(PermissionDenied):
        users.create_person(session, clock, world.coordinator, "x@demo.test", "X",
                            world.territory.id, "operateur", None)
    assert _count_users(session) == before
    assert session.get(Territory, _elsewhere(world)) is not None


@pytest.mark.parametrize("email", ["prenom.nom@demo.test", "o'brien+tag@sous.demo.test",
                                   "a_b%c-d@x-y.demo.test", "A1@DEMO.TEST"])
def test_ordinary_addresses_are_accepted(session: Session, clock: FixedClock, world: World,
                                         admin_a: Actor, email: str) -> None:
    created = users.create_person(session, clock, admin_a, email, "Quelqu'un",
                                  world.territory.id, "operateur", None)
    assert created.email == email.lower()


def test_update_checks_the_address_and_the_name(session: Session, clock: FixedClock,
                                                world: World, admin_a: Actor) -> None:
    target = _uid(world.operator)
    for change in ({"email": "=1+1@x.test"}, {"display_name": "n" * 201},
                   {"display_name": "a\x07b"}, {"email": "coord@demo.test"}):
        with pytest.raises((Conflict, InvalidInput)):
            users.update_user(session, clock, admin_a, target, **change)
    users.update_user(session, clock, admin_a, target, email="Op2@demo.test",
                      display_name=" Opé Rateur ")
    user = session.get(User, target)
    assert user is not None and (user.email, user.display_name) == ("op2@demo.test",
                                                                   "Opé Rateur")


def _open_session(session: Session, clock: FixedClock, user_id: int, token: str) -> None:
    now = clock.now()
    session.add(WebSession(token_hash=token * 64, user_id=user_id, data={}, created_at=now,
                           last_seen_at=now, expires_at=now + timedelta(hours=12)))
    session.commit()


def _live_sessions(session: Session, user_id: int) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(WebSession).where(
        WebSession.user_id == user_id, WebSession.revoked_at.is_(None))) or 0


def test_reset_deactivation_and_role_removal_end_the_accounts_sessions(
        session: Session, clock: FixedClock, world: World, admin_a: Actor) -> None:
    target = _uid(world.operator)
    _open_session(session, clock, target, "a")
    users.reset_password(session, clock, admin_a, target)
    assert _live_sessions(session, target) == 0
    user = session.get(User, target)
    assert user is not None and user.must_change_password
    _open_session(session, clock, target, "b")
    users.set_active(session, clock, admin_a, target, False)
    assert _live_sessions(session, target) == 0
    users.set_active(session, clock, admin_a, target, True)
    _open_session(session, clock, target, "c")
    role = session.scalar(select(Membership.id).where(Membership.user_id == target))
    assert role is not None
    users.remove_membership(session, clock, admin_a, role)
    assert _live_sessions(session, target) == 0
    assert _live_sessions(session, _uid(admin_a)) == 0  # nobody else's were touched...
    _open_session(session, clock, _uid(admin_a), "d")
    users.reset_password(session, clock, SYSTEM, _uid(world.coordinator))
    assert _live_sessions(session, _uid(admin_a)) == 1  # ...nor are they now
