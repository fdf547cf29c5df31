"""Accounts and their roles; passwords hashed with werkzeug (scrypt).

An administrator acts on an account (its details, state, password or roles) only when they
administer every territory the account belongs to (``access.require_account_admin``); a
refused attempt is itself audited for the account's administrators. Every event about an
account is linked to each territory it belongs to, so that their administrators see it.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine.clock import Clock
from engine.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engine.persistence.db import transaction
from engine.persistence.models import (
    FederatedIdentity,
    Membership,
    Organisation,
    Territory,
    User,
)
from engine.persistence.models.user import ADMIN_ROLE, PERSON
from engine.services import audit, sessions
from engine.services.access import (
    Actor,
    administered,
    overseen,
    require_account_admin,
    require_admin,
    require_member,
)

MIN_PASSWORD = 12
MAX_EMAIL = 254
MAX_NAME = 200
_EMAIL = re.compile(r"[a-z0-9][a-z0-9._%+'-]*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"
                    r"(?:[a-z]{2,63}|xn--[a-z0-9-]+)", re.ASCII)
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True)
class RoleHeld:
    """One membership: a role in a territory, maybe for an organisation."""

    membership_id: int
    territory_id: int
    role: str
    organisation_id: int | None


@dataclass(frozen=True)
class Account:
    """A person's account as an administrator sees it.

    ``roles`` are those held in the territories the administrator oversees; ``manageable``
    is False when the account also belongs to a territory they do not administer.
    """

    id: int
    email: str
    display_name: str
    active: bool
    must_change_password: bool
    roles: tuple[RoleHeld, ...] = ()
    manageable: bool = True


@dataclass(frozen=True)
class NewAccount:
    """A created account and its temporary password (to show once, never to store)."""

    user_id: int
    email: str
    display_name: str
    temporary_password: str


def valid_email(email: str) -> str:
    """The address trimmed and lower-cased.

    :raises InvalidInput: not a plain address (``_EMAIL``) or longer than 254 characters.
    """
    email = email.strip().lower()
    if len(email) > MAX_EMAIL or len(email.partition("@")[0]) > 64 \
            or not _EMAIL.fullmatch(email):
        raise InvalidInput(code="svc.email_invalid")
    return email


def valid_name(display_name: str) -> str:
    """The name trimmed.

    :raises InvalidInput: empty, longer than 200 characters, or with control characters.
    """
    name = display_name.strip()
    if not name:
        raise InvalidInput(code="svc.name_required")
    if len(name) > MAX_NAME:
        raise InvalidInput(code="svc.name_too_long", maximum=MAX_NAME)
    if any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in _BIDI_CONTROLS
           for c in name):
        raise InvalidInput(code="svc.name_invalid")
    return name


def create_user(session: Session, clock: Clock, actor: Actor, email: str, display_name: str,
                password: str) -> Account:
    """Create an active account with no role (the system only: demo, tools, tests).

    :raises PermissionDenied: a person asked; they create accounts with ``create_person``.
    :raises InvalidInput: the e-mail or the name is invalid.
    :raises Conflict: the e-mail is taken, or the password too short.
    """
    if not actor.is_system:
        raise PermissionDenied(code="svc.account_needs_role")
    email, name = valid_email(email), valid_name(display_name)
    if len(password) < MIN_PASSWORD:
        raise Conflict(code="svc.password_short", minimum=MIN_PASSWORD)
    with transaction(session):
        user = _insert_user(session, clock, email, name, password, temporary=False)
        audit.record(session, clock, actor, "user.create", target_user_id=user.id)
        return _account(user)


def create_person(session: Session, clock: Clock, actor: Actor, email: str, display_name: str,
                  territory_id: int, role: str, organisation_id: int | None = None) -> NewAccount:
    """Create an account with its first role and a temporary password, in one unit of work,
    everything checked before anything is written.

    :raises NotFound: the organisation is not the territory's.
    :raises PermissionDenied: the actor does not administer the territory (whether it exists
        or not: nothing leaks).
    :raises InvalidInput: invalid e-mail or name.
    :raises Conflict: the e-mail is taken, or the role unknown in the territory.
    """
    if not actor.is_system and territory_id not in administered(actor):
        raise PermissionDenied(code="svc.territory_out_of_scope")
    email, name = valid_email(email), valid_name(display_name)
    password = secrets.token_urlsafe(12)
    with transaction(session):
        _check_role(session, territory_id, role, organisation_id)
        user = _insert_user(session, clock, email, name, password, temporary=True)
        audit.record_for(session, clock, actor, "user.create", [territory_id],
                         target_user_id=user.id)
        _insert_membership(session, clock, actor, user.id, [], territory_id, role,
                           organisation_id)
    return NewAccount(user.id, email, name, password)


def _insert_user(session: Session, clock: Clock, email: str, name: str, password: str, *,
                 temporary: bool) -> User:
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(code="svc.account_exists", email=email)
    user = User(email=email, display_name=name, password_hash=generate_password_hash(password),
                active=True, created_at=clock.now(), must_change_password=temporary)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:  # created meanwhile by someone else
        raise Conflict(code="svc.account_exists", email=email) from None
    return user


def _check_role(session: Session, territory_id: int, role: str,
                organisation_id: int | None) -> None:
    """:raises NotFound: unknown territory or organisation. :raises Conflict: unknown role."""
    territory = session.get(Territory, territory_id)
    if territory is None:
        raise NotFound(code="svc.user_or_territory_unknown")
    if role != ADMIN_ROLE and role not in {r["key"] for r in territory.roles}:
        raise Conflict(code="svc.role_unknown", role=role[:60])
    if organisation_id is not None:
        org = session.get(Organisation, organisation_id)
        if org is None or org.territory_id != territory_id:
            raise NotFound(code="svc.organisation_unknown")


def _insert_membership(session: Session, clock: Clock, actor: Actor, user_id: int,
                       held: list[int], territory_id: int, role: str,
                       organisation_id: int | None) -> RoleHeld:
    existing = session.scalar(select(Membership).where(
        Membership.user_id == user_id, Membership.territory_id == territory_id,
        Membership.role == role))
    if existing is not None:
        return _role(existing)
    membership = Membership(user_id=user_id, territory_id=territory_id, role=role,
                            organisation_id=organisation_id)
    session.add(membership)
    session.flush()
    audit.record_for(session, clock, actor, "membership.add", [territory_id, *held],
                     target_user_id=user_id, role=role)
    return _role(membership)


@dataclass(frozen=True)
class _Target:
    user: User
    territories: list[int]  # those the account belongs to, when the use case starts


@contextmanager
def _on_account(session: Session, clock: Clock, actor: Actor, user_id: int,
                attempt: str) -> Iterator[_Target]:
    """The use case's unit of work on an account the actor may act on.

    A refusal is audited (after the rollback) for the administrators of the account's
    territories: they learn that someone tried.

    :raises NotFound: unknown account, or none of the actor's.
    :raises PermissionDenied: it also belongs to a territory the actor does not administer.
    """
    refused: list[list[int]] = []
    try:
        with transaction(session):
            user = session.get(User, user_id)
            held = _territories(session, user_id) if user is not None else []
            try:
                require_account_admin(actor, held)
            except (NotFound, PermissionDenied):
                refused.append(held)
                raise
            if user is None:
                raise NotFound(code="svc.user_not_found")
            yield _Target(user, held)
    except (NotFound, PermissionDenied):
        if refused and refused[0]:
            with transaction(session):
                audit.record_for(session, clock, actor, "user.refused", refused[0],
                                 target_user_id=user_id, attempt=attempt)
        raise


def _territories(session: Session, user_id: int) -> list[int]:
    return sorted(set(session.scalars(select(Membership.territory_id).where(
        Membership.user_id == user_id))))


def add_membership(session: Session, clock: Clock, actor: Actor, user_id: int,
                   territory_id: int, role: str, organisation_id: int | None = None) -> RoleHeld:
    """Give an account a role in a territory (an account of the actor's territories only).

    :raises NotFound: unknown or out-of-reach account, territory or organisation.
    :raises PermissionDenied: the actor does not administer the territory or the account.
    :raises Conflict: the role is not one of the territory's.
    """
    if not actor.is_system:
        require_admin(actor, territory_id)
    with _on_account(session, clock, actor, user_id, "membership.add") as target:
        _check_role(session, territory_id, role, organisation_id)
        return _insert_membership(session, clock, actor, user_id, target.territories,
                                  territory_id, role, organisation_id)


def account(session: Session, actor: Actor, user_id: int) -> Account:
    """An account and all its roles, for an administrator of every territory it belongs to
    (its roles page: the same right as changing them).

    :raises NotFound: unknown account, or none of the actor's.
    :raises PermissionDenied: it also belongs to a territory the actor does not administer.
    """
    user = session.get(User, user_id)
    require_account_admin(actor, _territories(session, user_id) if user is not None else [])
    if user is None:
        raise NotFound(code="svc.user_not_found")
    held = session.scalars(select(Membership).where(Membership.user_id == user_id)
                           .order_by(Membership.territory_id, Membership.role))
    return _account(user, list(held))


def role_labels(session: Session, actor: Actor) -> dict[int, dict[str, str]]:
    """The roles' names in each territory the actor oversees, by key (``admin`` included):
    what the pages show instead of the keys.

    :raises PermissionDenied: the actor administers nothing.
    """
    labels: dict[int, dict[str, str]] = {}
    for territory in session.scalars(select(Territory).where(
            Territory.id.in_(overseen(actor)))):
        labels[territory.id] = {ADMIN_ROLE: "Administration",
                                **{r["key"]: r["label"] for r in territory.roles}}
    return labels


def authenticate(session: Session, email: str, password: str) -> Account | None:
    """The active account with these credentials, or None (same answer for every failure)."""
    user = session.scalar(select(User).where(User.email == email.strip().lower(),
                                             User.kind == PERSON))
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        return None
    return _account(user)


def administered_users(session: Session, actor: Actor) -> list[Account]:
    """Accounts with a role in a territory the actor administers, by name, with those roles.

    :raises PermissionDenied: the actor administers nothing.
    """
    mine = set(overseen(actor))
    rows = session.execute(select(User, Membership).join(
        Membership, Membership.user_id == User.id).where(User.id.in_(
            select(Membership.user_id).where(Membership.territory_id.in_(mine))),
        User.kind == PERSON)  # an API key's technical account: on the keys' page
        .order_by(User.display_name, User.id, Membership.territory_id, Membership.role)).all()
    found: dict[int, tuple[User, list[Membership]]] = {}
    for user, membership in rows:
        found.setdefault(user.id, (user, []))[1].append(membership)
    return [_account(user, [m for m in held if m.territory_id in mine],
                     all(m.territory_id in mine for m in held))
            for user, held in found.values()]


def _account(user: User, memberships: list[Membership] | None = None,
             manageable: bool = True) -> Account:
    return Account(user.id, user.email, user.display_name, user.active,
                   user.must_change_password, tuple(_role(m) for m in memberships or []),
                   manageable)


def _role(m: Membership) -> RoleHeld:
    return RoleHeld(m.id, m.territory_id, m.role, m.organisation_id)


def update_user(session: Session, clock: Clock, actor: Actor, user_id: int, *,
                display_name: str | None = None, email: str | None = None) -> Account:
    """Change an account's name or e-mail.

    :raises InvalidInput: invalid name or e-mail.
    :raises Conflict: the e-mail belongs to someone else.
    """
    email = valid_email(email) if email is not None else None
    name = valid_name(display_name) if display_name is not None else None
    with _on_account(session, clock, actor, user_id, "user.update") as target:
        user = target.user
        if email is not None and email != user.email:
            if session.scalar(select(User.id).where(User.email == email)):
                raise Conflict(code="svc.account_exists", email=email)
            user.email = email
        if name is not None:
            user.display_name = name
        audit.record_for(session, clock, actor, "user.update", target.territories,
                         target_user_id=user.id)
        return _account(user)


def set_active(session: Session, clock: Clock, actor: Actor, user_id: int,
               active: bool) -> Account:
    """Deactivate (ending its sessions) or reactivate an account; the last active
    administrator of a territory stays.

    :raises Conflict: deactivating would leave a territory without an administrator.
    """
    action = "user.activate" if active else "user.deactivate"
    with _on_account(session, clock, actor, user_id, action) as target:
        if not active:
            for territory_id in session.scalars(select(Membership.territory_id).where(
                    Membership.user_id == user_id, Membership.role == ADMIN_ROLE)):
                _keep_an_admin(session, territory_id, user_id=user_id)
            sessions.revoke_all(session, clock, user_id, "deactivated")
        target.user.active = active
        audit.record_for(session, clock, actor, action, target.territories,
                         target_user_id=user_id)
        return _account(target.user)


def _keep_an_admin(session: Session, territory_id: int, *, user_id: int | None = None,
                   membership_id: int | None = None) -> None:
    """:raises Conflict: no other active administrator of the territory would remain."""
    query = select(Membership.id).join(User, User.id == Membership.user_id).where(
        Membership.territory_id == territory_id, Membership.role == ADMIN_ROLE,
        User.active.is_(True))
    if user_id is not None:
        query = query.where(Membership.user_id != user_id)
    if membership_id is not None:
        query = query.where(Membership.id != membership_id)
    if session.scalar(query.limit(1)) is None:
        raise Conflict(code="svc.last_admin")


def reset_password(session: Session, clock: Clock, actor: Actor, user_id: int) -> str:
    """Give an account a new temporary password, to be changed at its next sign-in, and end
    its sessions; the password is returned to be shown once, never stored in clear."""
    with _on_account(session, clock, actor, user_id, "user.password_reset") as target:
        password = secrets.token_urlsafe(12)
        target.user.password_hash = generate_password_hash(password)
        target.user.must_change_password = True
        target.user.password_changed_at = clock.now()
        sessions.revoke_all(session, clock, user_id, "password_reset")
        audit.record_for(session, clock, actor, "user.password_reset", target.territories,
                         target_user_id=user_id)
    return password


def remove_membership(session: Session, clock: Clock, actor: Actor, membership_id: int) -> int:
    """Withdraw a role (ending the account's sessions); never the last active administrator's.
    Returns the account's id.

    :raises NotFound: unknown role, or on an account out of the actor's reach.
    :raises PermissionDenied: the account also belongs to a territory the actor does not
        administer.
    :raises Conflict: it is the territory's last administrator membership.
    """
    membership = session.get(Membership, membership_id)
    if membership is None:
        raise NotFound(code="svc.role_not_found")
    user_id, territory_id, role = membership.user_id, membership.territory_id, membership.role
    with _on_account(session, clock, actor, user_id, "membership.remove") as target:
        membership = session.get(Membership, membership_id)
        if membership is None:
            raise NotFound(code="svc.role_not_found")
        if role == ADMIN_ROLE:
            _keep_an_admin(session, territory_id, membership_id=membership_id)
        session.delete(membership)
        sessions.revoke_all(session, clock, user_id, "role_removed")
        others = [t for t in target.territories if t != territory_id]
        audit.record_for(session, clock, actor, "membership.remove", [territory_id, *others],
                         target_user_id=user_id, role=role)
    return user_id


def people_with_role(session: Session, actor: Actor, territory_id: int,
                     role: str) -> list[tuple[int, str]]:
    """(id, name) of active people holding ``role`` in a territory (for list filters)."""
    require_member(actor, territory_id)
    rows = session.execute(select(User.id, User.display_name).join(
        Membership, Membership.user_id == User.id).where(
        Membership.territory_id == territory_id, Membership.role == role,
        User.active.is_(True), User.kind == PERSON).order_by(User.display_name)
        .distinct()).all()
    return [(uid, name) for uid, name in rows]


# ------------------------------------------------- identity at a sign-in provider (#18)

def identity_bound_at(session: Session, actor: Actor, user_id: int) -> datetime | None:
    """When the account was first matched with an identity at a sign-in provider
    (``federated_signin``), or None: what its roles page shows next to « délier ».

    :raises NotFound: unknown account, or none of the actor's.
    :raises PermissionDenied: it also belongs to a territory the actor does not administer.
    """
    require_account_admin(actor, _territories(session, user_id))
    return session.scalar(select(FederatedIdentity.first_at).where(
        FederatedIdentity.user_id == user_id).order_by(FederatedIdentity.first_at).limit(1))


def unlink_identity(session: Session, clock: Clock, actor: Actor, user_id: int,
                    provider: str) -> bool:
    """Forget the account's identities at the sign-in providers (audited « via
    <provider> »): its next sign-in there is matched by e-mail again and bound anew. False
    when none was bound (nothing changed, nothing audited).

    :raises NotFound: unknown account, or none of the actor's.
    :raises PermissionDenied: it also belongs to a territory the actor does not administer.
    """
    with _on_account(session, clock, actor, user_id, "user.identity_unlink") as target:
        bound = list(session.scalars(select(FederatedIdentity).where(
            FederatedIdentity.user_id == user_id)))
        for identity in bound:
            session.delete(identity)
        if bound:
            audit.record_for(session, clock, actor, "user.identity_unlink",
                             target.territories, target_user_id=user_id,
                             provider=provider[:100])
        return bool(bound)
