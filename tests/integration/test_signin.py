"""Sign-in throttling, password change and stored sessions, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.errors import Conflict, PermissionDenied, TooManyAttempts
from engine.persistence.models import AuditEvent, SignInThrottle, User, WebSession
from engine.services import sessions, signin
from tests.integration.factories import PASSWORD, World, make_world

LIMITS = signin.Throttle(max_failures=3, address_max_failures=5,
                         window=timedelta(minutes=15), lockout=timedelta(minutes=15))
LIFE = sessions.Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=12))


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return make_world(session, clock)


def _fail(session: Session, clock: FixedClock, email: str = "coord@demo.test",
          address: str = "192.0.2.1") -> None:
    with pytest.raises(PermissionDenied):
        signin.sign_in(session, clock, email, "pas le bon", address, LIMITS)


def _row(session: Session, key: str) -> SignInThrottle | None:
    session.expire_all()
    return session.get(SignInThrottle, key)


def test_failures_lock_the_account_then_the_lock_ends(session: Session, clock: FixedClock,
                                                       world: World) -> None:
    for _ in range(3):
        _fail(session, clock)
    row = _row(session, "compte:coord@demo.test")
    assert row is not None and row.failures == 3
    assert row.locked_until == clock.now() + LIMITS.lockout
    with pytest.raises(TooManyAttempts) as refused:
        signin.sign_in(session, clock, "Coord@Demo.test ", PASSWORD, "198.51.100.1", LIMITS)
    assert refused.value.message_in("fr") == \
        "trop de tentatives de connexion : réessayez dans 15 minutes"
    clock.advance(LIMITS.lockout)
    signed = signin.sign_in(session, clock, "coord@demo.test", PASSWORD, "192.0.2.1", LIMITS)
    assert signed.user_id == world.coordinator.user_id and not signed.must_change_password
    assert _row(session, "compte:coord@demo.test") is None  # success clears the account's count
    address = _row(session, "adresse:192.0.2.1")
    assert address is not None and address.failures == 3  # the address's count stays


def test_failures_outside_the_window_start_a_new_count(session: Session, clock: FixedClock,
                                                        world: World) -> None:
    for _ in range(2):
        _fail(session, clock)
    clock.advance(LIMITS.window)
    _fail(session, clock)
    row = _row(session, "compte:coord@demo.test")
    assert row is not None and row.failures == 1 and row.locked_until is None
    assert row.window_started_at == clock.now()


def test_an_address_is_locked_across_accounts(session: Session, clock: FixedClock,
                                               world: World) -> None:
    for i in range(5):
        _fail(session, clock, f"inconnu{i}@demo.test")
    with pytest.raises(TooManyAttempts):
        signin.sign_in(session, clock, "op@demo.test", PASSWORD, "192.0.2.1", LIMITS)
    assert signin.sign_in(session, clock, "op@demo.test", PASSWORD, "192.0.2.2",
                          LIMITS).user_id == world.operator.user_id


def test_a_deactivated_account_gets_the_same_answer(session: Session, clock: FixedClock,
                                                     world: World) -> None:
    user = session.get(User, world.operator.user_id)
    assert user is not None
    user.active = False
    session.commit()
    with pytest.raises(PermissionDenied) as refused:
        signin.sign_in(session, clock, "op@demo.test", PASSWORD, None, LIMITS)
    assert refused.value.code == "svc.sign_in_failed"


def _open(session: Session, clock: FixedClock, token: str, user_id: int | None) -> str:
    token_hash = sessions.digest(token)
    sessions.open_session(session, clock, token_hash, user_id, {"lang": "fr"}, LIFE)
    return token_hash


def test_changing_a_password_keeps_only_the_current_session(session: Session,
                                                             clock: FixedClock,
                                                             world: World) -> None:
    me = world.coordinator
    assert me.user_id is not None
    here, there = _open(session, clock, "ici", me.user_id), _open(session, clock, "la", me.user_id)
    others = _open(session, clock, "autre", world.operator.user_id)
    signin.change_password(session, clock, me, PASSWORD, "un nouveau mot de passe sûr", here,
                           LIMITS)
    states = {h: sessions.find(session, clock, h, LIFE) for h in (here, there, others)}
    assert {h: s.state for h, s in states.items() if s} == {
        here: "live", there: "revoked", others: "live"}
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "user.password_change"))
    assert event is not None and event.territory_id == world.territory.id
    with pytest.raises(Conflict):
        signin.change_password(session, clock, me, "un nouveau mot de passe sûr", "court", here,
                               LIMITS)
    with pytest.raises(PermissionDenied):
        signin.change_password(session, clock, me, PASSWORD, "encore un autre mot de passe",
                               here, LIMITS)


def test_a_session_lives_until_idle_or_its_end(session: Session, clock: FixedClock,
                                                world: World) -> None:
    token_hash = _open(session, clock, "jeton", world.coordinator.user_id)
    found = sessions.find(session, clock, token_hash, LIFE)
    assert found is not None and found.live and found.data == {"lang": "fr"}
    for _ in range(30):  # active every half hour less a minute: alive until its 12 hours
        clock.advance(timedelta(minutes=29))
        found = sessions.find(session, clock, token_hash, LIFE)
        assert found is not None
        if found.state != "live":
            break
        sessions.save(session, clock, token_hash, None)
    assert found.state == "absolute"
    other = _open(session, clock, "autre", world.coordinator.user_id)
    clock.advance(timedelta(minutes=30))
    found = sessions.find(session, clock, other, LIFE)
    assert found is not None and found.state == "idle"


def test_a_revoked_session_is_never_revived_and_dead_ones_are_purged(
        session: Session, clock: FixedClock, world: World) -> None:
    token_hash = _open(session, clock, "jeton", world.coordinator.user_id)
    visitor = _open(session, clock, "visiteur", None)
    sessions.end(session, clock, token_hash, "sign_out")
    sessions.end(session, clock, visitor, "emptied")  # a visitor's row is simply deleted
    sessions.save(session, clock, token_hash, {"lang": "en"})
    found = sessions.find(session, clock, token_hash, LIFE)
    assert found is not None and found.state == "revoked" and found.data == {"lang": "fr"}
    assert sessions.find(session, clock, visitor, LIFE) is None
    clock.advance(timedelta(minutes=31))
    _open(session, clock, "neuf", None)
    assert session.scalar(select(func.count()).select_from(WebSession)) == 1
