"""Users and memberships; passwords hashed with werkzeug (scrypt)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine.clock import Clock
from engine.errors import Conflict, NotFound
from engine.persistence.db import transaction
from engine.persistence.models import Membership, Organisation, Territory, User
from engine.persistence.models.user import ADMIN_ROLE
from engine.services import audit
from engine.services.access import Actor, require_admin

MIN_PASSWORD = 12


def create_user(session: Session, clock: Clock, actor: Actor, email: str, display_name: str,
                password: str) -> User:
    """Create an active user.

    :raises Conflict: the e-mail is taken or the password too short.
    """
    email = email.strip().lower()
    if len(password) < MIN_PASSWORD:
        raise Conflict(code="svc.password_short", minimum=MIN_PASSWORD)
    with transaction(session):
        if session.scalar(select(User).where(User.email == email)):
            raise Conflict(code="svc.account_exists", email=email)
        user = User(email=email, display_name=display_name.strip(),
                    password_hash=generate_password_hash(password), active=True,
                    created_at=clock.now())
        session.add(user)
        session.flush()
        audit.record(session, clock, actor, "user.create", target_user_id=user.id)
    return user


def add_membership(session: Session, clock: Clock, actor: Actor, user_id: int,
                   territory_id: int, role: str, organisation_id: int | None = None) -> Membership:
    """Give a user a role in a territory.

    :raises NotFound: unknown user, territory or organisation.
    :raises Conflict: the role is not one of the territory's.
    """
    if not actor.is_system:
        require_admin(actor, territory_id)
    with transaction(session):
        territory = session.get(Territory, territory_id)
        if territory is None or session.get(User, user_id) is None:
            raise NotFound(code="svc.user_or_territory_unknown")
        if role != ADMIN_ROLE and role not in {r["key"] for r in territory.roles}:
            raise Conflict(code="svc.role_unknown", role=role)
        if organisation_id is not None:
            org = session.get(Organisation, organisation_id)
            if org is None or org.territory_id != territory_id:
                raise NotFound(code="svc.organisation_unknown")
        existing = session.scalar(select(Membership).where(
            Membership.user_id == user_id, Membership.territory_id == territory_id,
            Membership.role == role))
        if existing is not None:
            return existing
        membership = Membership(user_id=user_id, territory_id=territory_id, role=role,
                                organisation_id=organisation_id)
        session.add(membership)
        session.flush()
        audit.record(session, clock, actor, "membership.add", territory_id=territory_id,
                     target_user_id=user_id, role=role)
    return membership


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, or None (same answer for every failure)."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        return None
    return user


def administered_users(session: Session, actor: Actor) -> list[tuple[User, list[Membership]]]:
    """Users with a membership in a territory the actor administers, with those memberships."""
    from engine.services.oversight import overseen
    territories = overseen(actor)
    memberships = list(session.scalars(select(Membership).where(
        Membership.territory_id.in_(territories))))
    by_user: dict[int, list[Membership]] = {}
    for m in memberships:
        by_user.setdefault(m.user_id, []).append(m)
    users = session.scalars(select(User).where(User.id.in_(by_user)).order_by(User.display_name))
    return [(u, by_user[u.id]) for u in users]


def _require_overseen_user(session: Session, actor: Actor, user_id: int) -> User:
    from engine.services.oversight import overseen
    territories = set(overseen(actor))
    user = session.get(User, user_id)
    held = set(session.scalars(select(Membership.territory_id).where(
        Membership.user_id == user_id))) if user else set()
    if user is None or not held & territories:
        raise NotFound(code="svc.user_not_found")
    return user


def update_user(session: Session, clock: Clock, actor: Actor, user_id: int, *,
                display_name: str | None = None, email: str | None = None) -> User:
    """Change a user's name or e-mail.

    :raises Conflict: the e-mail belongs to someone else.
    """
    with transaction(session):
        user = _require_overseen_user(session, actor, user_id)
        if email is not None and email.strip().lower() != user.email:
            email = email.strip().lower()
            if session.scalar(select(User.id).where(User.email == email)):
                raise Conflict(code="svc.account_exists", email=email)
            user.email = email
        if display_name:
            user.display_name = display_name.strip()[:200]
        audit.record(session, clock, actor, "user.update", target_user_id=user.id)
    return user


def set_active(session: Session, clock: Clock, actor: Actor, user_id: int,
               active: bool) -> User:
    """Deactivate or reactivate a user; the last active administrator of a territory stays.

    :raises Conflict: deactivating would leave a territory without an administrator.
    """
    with transaction(session):
        user = _require_overseen_user(session, actor, user_id)
        if not active:
            for territory_id in session.scalars(select(Membership.territory_id).where(
                    Membership.user_id == user_id, Membership.role == ADMIN_ROLE)):
                others = session.scalar(select(Membership.id).join(
                    User, User.id == Membership.user_id).where(
                    Membership.territory_id == territory_id, Membership.role == ADMIN_ROLE,
                    Membership.user_id != user_id, User.active.is_(True)))
                if others is None:
                    raise Conflict(code="svc.last_admin")
        user.active = active
        audit.record(session, clock, actor, "user.activate" if active else "user.deactivate",
                     target_user_id=user.id)
    return user


def reset_password(session: Session, clock: Clock, actor: Actor, user_id: int) -> str:
    """Give a user a new temporary password (shown once to the administrator)."""
    import secrets
    with transaction(session):
        user = _require_overseen_user(session, actor, user_id)
        password = secrets.token_urlsafe(12)
        user.password_hash = generate_password_hash(password)
        audit.record(session, clock, actor, "user.password_reset", target_user_id=user.id)
    return password


def remove_membership(session: Session, clock: Clock, actor: Actor, membership_id: int) -> None:
    """Withdraw a role; never the last active administrator's.

    :raises Conflict: it is the territory's last administrator membership.
    """
    with transaction(session):
        membership = session.get(Membership, membership_id)
        if membership is None:
            raise NotFound(code="svc.role_not_found")
        require_admin(actor, membership.territory_id)
        if membership.role == ADMIN_ROLE:
            others = session.scalar(select(Membership.id).join(
                User, User.id == Membership.user_id).where(
                Membership.territory_id == membership.territory_id,
                Membership.role == ADMIN_ROLE, Membership.id != membership.id,
                User.active.is_(True)))
            if others is None:
                raise Conflict(code="svc.last_admin")
        session.delete(membership)
        audit.record(session, clock, actor, "membership.remove",
                     territory_id=membership.territory_id, target_user_id=membership.user_id,
                     role=membership.role)


def people_with_role(session: Session, actor: Actor, territory_id: int,
                     role: str) -> list[tuple[int, str]]:
    """(id, name) of active people holding ``role`` in a territory (for list filters)."""
    from engine.services.access import require_member
    require_member(actor, territory_id)
    rows = session.execute(select(User.id, User.display_name).join(
        Membership, Membership.user_id == User.id).where(
        Membership.territory_id == territory_id, Membership.role == role,
        User.active.is_(True)).order_by(User.display_name).distinct()).all()
    return [(uid, name) for uid, name in rows]
