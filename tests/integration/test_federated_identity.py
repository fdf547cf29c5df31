"""The identity at a sign-in provider an account is bound to, and the audit of password
sign-ins (issue #18, item 5), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.errors import NotFound, PermissionDenied
from engine.persistence.models import AuditEvent, FederatedIdentity, User
from engine.services import federated_signin, signin, users
from engine.services.audit import _Words
from engine.services.federated_signin import Identity
from tests.integration.factories import PASSWORD, World, make_user, make_world

ISSUER = "https://idp.example"
LIMITS = signin.Throttle()


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return make_world(session, clock)


def _as(subject: str, email: str = "op@demo.test", verified: bool = True) -> Identity:
    return Identity("ProConnect", email, verified, ISSUER, subject)


def _bindings(session: Session) -> list[tuple[int, str, str]]:
    session.expire_all()
    return [(r[0], r[1], r[2]) for r in session.execute(select(
        FederatedIdentity.user_id, FederatedIdentity.issuer, FederatedIdentity.subject)
        .order_by(FederatedIdentity.id))]


def _details(session: Session, action: str) -> list[dict[str, Any]]:
    return [dict(d) for d in session.scalars(select(AuditEvent.detail).where(
        AuditEvent.action == action).order_by(AuditEvent.id))]


def test_the_first_match_binds_the_subject_then_it_signs_in_first(
        session: Session, clock: FixedClock, world: World) -> None:
    op = world.operator.user_id
    assert op is not None
    assert federated_signin.sign_in(session, clock, _as("agent-1"), "192.0.2.1").user_id == op
    assert _bindings(session) == [(op, ISSUER, "agent-1")]
    clock.advance(timedelta(days=3))
    # the e-mail changed in Aiguillage, the provider still says the old one, unverified even
    session.execute(update(User).where(User.id == op).values(email="op.neuf@demo.test"))
    session.commit()
    again = federated_signin.sign_in(session, clock, _as("agent-1", "op@demo.test", False),
                                     "192.0.2.1")
    assert again.user_id == op
    row = session.scalar(select(FederatedIdentity))
    assert row is not None and row.last_at - row.first_at == timedelta(days=3)
    assert len(_details(session, "user.sign_in_federated")) == 2


def test_the_accounts_e_mail_with_another_subject_is_refused_until_unlinked(
        session: Session, clock: FixedClock, world: World) -> None:
    op = world.operator.user_id
    assert op is not None
    federated_signin.sign_in(session, clock, _as("agent-1"), None)
    with pytest.raises(PermissionDenied) as refused:
        federated_signin.sign_in(session, clock, _as("quelqu-un-d-autre"), "192.0.2.9")
    assert refused.value.code == "svc.oidc_subject_changed"
    assert _bindings(session) == [(op, ISSUER, "agent-1")]  # nothing changed
    [event] = _details(session, "user.sign_in_federated_refused")
    assert event["reason_code"] == "svc.oidc_subject_changed"
    assert event["target_user_id"] == op and event["address"] == "192.0.2.9"
    # an administrator of the account's territory unlinks it; the next one binds anew
    admin = make_user(session, clock, "admin@demo.test", world.territory.id, "admin")
    assert users.identity_bound_at(session, admin, op) == clock.now()
    assert users.unlink_identity(session, clock, admin, op, "ProConnect") is True
    assert users.identity_bound_at(session, admin, op) is None
    assert users.unlink_identity(session, clock, admin, op, "ProConnect") is False
    [unlinked] = _details(session, "user.identity_unlink")
    assert unlinked == {"target_user_id": op, "provider": "ProConnect"}
    federated_signin.sign_in(session, clock, _as("quelqu-un-d-autre"), None)
    assert _bindings(session) == [(op, ISSUER, "quelqu-un-d-autre")]
    words = _Words(session, "fr")
    summaries = [words.summary(e) for e in session.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(["user.identity_unlink", "user.sign_in_federated_refused"]))
        .order_by(AuditEvent.id))]
    assert summaries == [
        "Op — via ProConnect — motif : ce compte Aiguillage est lié à une autre personne "
        "chez le fournisseur d'identité", "Op — via ProConnect"]


def test_only_the_accounts_administrators_see_or_unlink_it(
        session: Session, clock: FixedClock, world: World) -> None:
    op = world.operator.user_id
    assert op is not None
    federated_signin.sign_in(session, clock, _as("agent-1"), None)
    with pytest.raises((NotFound, PermissionDenied)):
        users.unlink_identity(session, clock, world.coordinator, op, "ProConnect")
    with pytest.raises((NotFound, PermissionDenied)):
        users.identity_bound_at(session, world.outsider, op)
    assert len(_bindings(session)) == 1


def test_another_subject_bound_elsewhere_opens_its_own_account(
        session: Session, clock: FixedClock, world: World) -> None:
    federated_signin.sign_in(session, clock, _as("agent-c", "coord@demo.test"), None)
    # the provider now presents op's e-mail for the coordinator's subject: the subject wins
    signed = federated_signin.sign_in(session, clock, _as("agent-c", "op@demo.test"), None)
    assert signed.user_id == world.coordinator.user_id


def test_a_password_sign_in_is_audited(session: Session, clock: FixedClock,
                                       world: World) -> None:
    signin.sign_in(session, clock, "coord@demo.test", PASSWORD, "192.0.2.1", LIMITS)
    [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.sign_in"))
    assert event.detail == {"target_user_id": world.coordinator.user_id,
                            "address": "192.0.2.1"}
    assert event.territory_id == world.territory.id
    assert _Words(session, "fr").row(event, None, None, None).label == "Connexion"


def test_a_flood_of_failures_writes_one_row_a_minute_counting_the_rest(
        session: Session, clock: FixedClock, world: World) -> None:
    many = signin.Throttle(max_failures=1000, address_max_failures=1000)
    for _ in range(7):
        with pytest.raises(PermissionDenied):
            signin.sign_in(session, clock, "coord@demo.test", "faux", "192.0.2.1", many)
        clock.advance(timedelta(seconds=5))
    assert _details(session, "user.sign_in_failed") == [{
        "target_user_id": world.coordinator.user_id, "address": "192.0.2.1"}]
    clock.advance(timedelta(minutes=1))
    with pytest.raises(PermissionDenied):
        signin.sign_in(session, clock, "coord@demo.test", "faux", "192.0.2.1", many)
    events = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "user.sign_in_failed").order_by(AuditEvent.id)).all()
    assert [e.detail.get("repeated") for e in events] == [None, 6]
    assert _Words(session, "fr").summary(events[1]) == \
        "Coord — 6 autres refus pareils depuis le précédent"
    # another account's failures are counted apart
    with pytest.raises(PermissionDenied):
        signin.sign_in(session, clock, "op@demo.test", "faux", "192.0.2.1", many)
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "user.sign_in_failed")) == 3
