"""Signing in and changing one's own password: same work for every wrong answer, failures
counted in the database, temporary passwords changed at the first sign-in.

Every sign-in is audited (``user.sign_in``); failed and refused ones too, but a flood writes
at most one row a minute per account and reason, counting the others in it
(``audit.repeats_since_recorded``).

Failures are counted per account (its e-mail, known or not: the answer is the same) and per
client address, in ``sign_in_throttle``: every worker shares the counts and a restart keeps
them. Past the limit within the window, the key is refused for the lockout, even with the
right password. The password check runs outside any write transaction (it takes tens of
milliseconds and SQLite has one writer); the counts are written with an upsert, so two
workers counting at once never lose a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, literal, null, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine.clock import Clock
from engine.errors import Conflict, PermissionDenied, TooManyAttempts
from engine.persistence.db import UtcDateTime, table, transaction, upsert
from engine.persistence.models import Membership, SignInThrottle, User
from engine.persistence.models.user import PERSON
from engine.services import audit, sessions
from engine.services.access import SYSTEM, Actor
from engine.services.users import MIN_PASSWORD

_THROTTLE = table(SignInThrottle)
# What an unknown e-mail is checked against, so that it costs what a wrong password costs:
# a hash of a random password, made like every stored one (werkzeug's default scrypt).
DUMMY_HASH = ("scrypt:32768:8:1$7EptI3tqfbS2DTYP$2e79b57b0bf8e1fd5f6b02c15223640f0bd177c4c4e705"
              "55ad166acb7dd9d3164cd30cba1ab342e7b9d97ab1e903f070bd830bf254382095dd7cc06a3615203e")


@dataclass(frozen=True)
class Throttle:
    """Sign-in limits: failures per account and per address within ``window``, then a
    ``lockout`` during which that account or address is refused."""

    max_failures: int = 5
    address_max_failures: int = 50
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class SignedIn:
    """Who signed in, and whether they must first change a temporary password."""

    user_id: int
    must_change_password: bool


@dataclass(frozen=True)
class _Account:
    id: int
    password_hash: str
    active: bool
    must_change_password: bool


def sign_in(session: Session, clock: Clock, email: str, password: str, address: str | None,
            throttle: Throttle) -> SignedIn:
    """Check credentials, counting failures per account and per client address.

    :raises TooManyAttempts: too many recent failures for this e-mail or address.
    :raises PermissionDenied: unknown e-mail, wrong password or deactivated account (one
        answer for all, after the same work).
    """
    email = email.strip().lower()
    keys = _keys(email, address)
    account = _account(session, email)
    if _locked(session, clock, keys):
        with transaction(session):
            _audit(session, clock, "user.sign_in_refused", account, address)
        raise TooManyAttempts(code="svc.sign_in_locked", minutes=_minutes(throttle.lockout))
    right = check_password_hash(account.password_hash if account else DUMMY_HASH, password)
    if account is None or not account.active or not right:
        with transaction(session):
            _count_failure(session, clock, keys[0], throttle.max_failures, throttle)
            for key in keys[1:]:
                _count_failure(session, clock, key, throttle.address_max_failures, throttle)
            _audit(session, clock, "user.sign_in_failed", account, address)
        raise PermissionDenied(code="svc.sign_in_failed")
    with transaction(session):
        session.connection().execute(delete(_THROTTLE).where(_THROTTLE.c.key == keys[0]))
        audit.record_for(session, clock, SYSTEM, "user.sign_in",
                         _territories(session, account.id), target_user_id=account.id,
                         address=address or "")
    return SignedIn(account.id, account.must_change_password)


def change_password(session: Session, clock: Clock, actor: Actor, current: str, new: str,
                    keep_token_hash: str | None, throttle: Throttle) -> None:
    """Change the actor's own password: sign out their other sessions, clear the demand to
    change a temporary password, audit it (visible in each of their territories).

    :raises TooManyAttempts: too many wrong passwords lately for this account.
    :raises PermissionDenied: the current password is wrong (counted as a failed sign-in).
    :raises Conflict: the new password is too short or the same as the current one.
    """
    assert actor.user_id is not None
    user = session.get(User, actor.user_id)
    if user is None or not user.active:
        raise PermissionDenied(code="svc.user_unknown")
    key = _keys(user.email, None)[0]
    if _locked(session, clock, (key,)):
        raise TooManyAttempts(code="svc.sign_in_locked", minutes=_minutes(throttle.lockout))
    if not check_password_hash(user.password_hash, current):
        with transaction(session):
            _count_failure(session, clock, key, throttle.max_failures, throttle)
        raise PermissionDenied(code="svc.password_wrong")
    if len(new) < MIN_PASSWORD:
        raise Conflict(code="svc.password_short", minimum=MIN_PASSWORD)
    if new == current:
        raise Conflict(code="svc.password_same")
    password_hash = generate_password_hash(new)
    with transaction(session):
        user.password_hash = password_hash
        user.must_change_password = False
        user.password_changed_at = clock.now()
        sessions.revoke_all(session, clock, user.id, "password_change", keep_token_hash)
        session.connection().execute(delete(_THROTTLE).where(_THROTTLE.c.key == key))
        audit.record_for(session, clock, actor, "user.password_change",
                         _territories(session, user.id), target_user_id=user.id)


def _keys(email: str, address: str | None) -> tuple[str, ...]:
    account = "compte:" + email.replace("\x00", "")
    return (account[:300],) + ((f"adresse:{address}"[:300],) if address else ())


def _account(session: Session, email: str) -> _Account | None:
    if "\x00" in email or len(email) > 254:  # no such account can exist; PostgreSQL refuses NUL
        return None
    row = session.execute(select(User.id, User.password_hash, User.active,
                                 User.must_change_password).where(
        User.email == email, User.kind == PERSON)).first()
    return _Account(*row) if row else None


def _locked(session: Session, clock: Clock, keys: tuple[str, ...]) -> bool:
    return session.scalar(select(_THROTTLE.c.key).where(
        _THROTTLE.c.key.in_(keys), _THROTTLE.c.locked_until > clock.now()).limit(1)) is not None


def _count_failure(session: Session, clock: Clock, key: str, limit: int,
                   throttle: Throttle) -> None:
    """One more failure for ``key`` (a new window once the last one is over); lock at limit."""
    now = clock.now()
    stale = _THROTTLE.c.window_started_at <= _instant(now - throttle.window)
    failures = case((stale, 1), else_=_THROTTLE.c.failures + 1)
    lock = _instant(now + throttle.lockout)
    statement = upsert(session, _THROTTLE).values(
        key=key, failures=1, window_started_at=now,
        locked_until=now + throttle.lockout if limit <= 1 else None)
    session.connection().execute(statement.on_conflict_do_update(
        index_elements=[_THROTTLE.c.key],
        set_={"failures": failures,
              "window_started_at": case((stale, _instant(now)),
                                        else_=_THROTTLE.c.window_started_at),
              "locked_until": case((failures >= limit, lock), (stale, null()),
                                   else_=_THROTTLE.c.locked_until)}))


def _instant(value: datetime) -> Any:
    return literal(value, UtcDateTime())


def _audit(session: Session, clock: Clock, action: str, account: _Account | None,
           address: str | None) -> None:
    """A failed or refused sign-in (never the password, nor an unknown e-mail, which is often
    a password typed in the wrong field): at most one row a minute per account (or, for an
    unknown e-mail, per address) and action, the ones in between counted in the next."""
    who = account.id if account is not None else f"adresse:{address or ''}"
    repeated = audit.repeats_since_recorded(session, ("sign_in", who, action), clock.now())
    if repeated is None:
        return
    detail: dict[str, Any] = {"address": address or ""}
    if repeated:
        detail["repeated"] = repeated
    if account is None:
        audit.record(session, clock, SYSTEM, action, **detail)
        return
    audit.record_for(session, clock, SYSTEM, action, _territories(session, account.id),
                     target_user_id=account.id, **detail)


def _territories(session: Session, user_id: int) -> list[int]:
    return sorted(set(session.scalars(select(Membership.territory_id).where(
        Membership.user_id == user_id))))


def _minutes(delta: timedelta) -> int:
    return max(1, round(delta.total_seconds() / 60))
