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
        raise Conflict(f"mot de passe trop court ({MIN_PASSWORD} caractères au moins)")
    with transaction(session):
        if session.scalar(select(User).where(User.email == email)):
            raise Conflict(f"un compte existe déjà pour {email}")
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
            raise NotFound("utilisateur ou territoire inconnu")
        if role != ADMIN_ROLE and role not in {r["key"] for r in territory.roles}:
            raise Conflict(f"rôle inconnu dans ce territoire : {role}")
        if organisation_id is not None:
            org = session.get(Organisation, organisation_id)
            if org is None or org.territory_id != territory_id:
                raise NotFound("organisation inconnue dans ce territoire")
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
