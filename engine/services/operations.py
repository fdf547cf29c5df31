"""Operations from the command line (``aiguillage territory|admin|user``): create a territory
from its folder, its first administrator, reset a password. The system acts (``SYSTEM``);
each event it audits says ``via="ligne_de_commande"`` so the journal can tell a person at the
server's console from the scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from engine.clock import Clock
from engine.core.bundles import TerritoryError, load_territory
from engine.errors import Conflict, InvalidInput, NotFound, ProcessDefinitionError
from engine.persistence.db import transaction
from engine.persistence.models import Circuit, Membership, Territory, User
from engine.persistence.models.user import ADMIN_ROLE
from engine.services import audit, circuits, sessions, territories, users
from engine.services.access import SYSTEM
from engine.services.circuits import Version

COMMAND_LINE = "ligne_de_commande"  # audit detail ``via``
MAX_PREFIX = 8  # territory.prefix


@dataclass(frozen=True)
class TerritoryRow:
    """A territory as ``territory list`` prints it."""

    code: str
    name: str
    prefix: str
    circuits: int
    administrators: int


@dataclass(frozen=True)
class CreatedTerritory:
    """What ``create_territory`` did."""

    code: str
    name: str
    created: bool  # False: an existing territory was updated
    versions: tuple[Version, ...]


def check_password(password: str) -> str:
    """The app's password rule (as for a change at « Mon compte »).

    :raises Conflict: shorter than ``users.MIN_PASSWORD``.
    """
    if len(password) < users.MIN_PASSWORD:
        raise Conflict(code="svc.password_short", minimum=users.MIN_PASSWORD)
    return password


def create_territory(session: Session, clock: Clock, folder: Path, forms_root: Path, *,
                     update: bool = False, prefix: str | None = None,
                     note: str = "") -> CreatedTerritory:
    """Create the territory of a folder (``territory.json``, its circuits and their forms)
    and deploy its circuits, all in one unit of work; with ``update``, an existing one gets
    its settings reloaded and its changed circuits deployed as new versions.

    :raises ProcessDefinitionError: no or invalid ``territory.json``, or a circuit fails its
        check; nothing is stored.
    :raises Conflict: the territory exists and ``update`` is not set.
    :raises InvalidInput: a prefix that is not 2 to 8 letters or digits.
    """
    try:
        settings = load_territory(folder)
    except TerritoryError as exc:
        raise ProcessDefinitionError([circuits.territory_problem(folder, exc)]) from None
    if prefix is not None and not (2 <= len(prefix) <= MAX_PREFIX and prefix.isascii()
                                   and prefix.isalnum()):
        raise InvalidInput(code="svc.prefix_invalid", maximum=MAX_PREFIX)
    with transaction(session):
        exists = session.scalar(select(Territory.id).where(Territory.code == settings.code))
        if exists is not None and not update:
            raise Conflict(code="svc.territory_exists", territory=settings.code)
        versions = circuits.deploy_folder(session, clock, SYSTEM, folder, forms_root, note,
                                          prefix=prefix)
    return CreatedTerritory(settings.code, settings.name, exists is None, tuple(versions))


def territory_rows(session: Session) -> list[TerritoryRow]:
    """Every territory by code, with its circuits and its active administrators counted."""
    circuit_count = select(func.count(Circuit.id)).where(
        Circuit.territory_id == Territory.id).scalar_subquery()
    admin_count = select(func.count(func.distinct(Membership.user_id))).join(
        User, User.id == Membership.user_id).where(
        Membership.territory_id == Territory.id, Membership.role == ADMIN_ROLE,
        User.active.is_(True)).scalar_subquery()
    rows = session.execute(select(Territory.code, Territory.name, Territory.prefix,
                                  circuit_count, admin_count).order_by(Territory.code)).all()
    return [TerritoryRow(code, name, prefix, n_circuits or 0, n_admins or 0)
            for code, name, prefix, n_circuits, n_admins in rows]


def create_admin(session: Session, clock: Clock, territory_code: str, email: str,
                 display_name: str, password: str, *, temporary: bool = False) -> int:
    """Create an active account administering a territory, with this password, in one unit
    of work: kept when the person typed it at the console, to be changed at the first sign-in
    when ``temporary`` (generated and printed). Returns the account's id.

    :raises NotFound: no territory with that code.
    :raises InvalidInput: invalid e-mail or name.
    :raises Conflict: the e-mail is taken, or the password too short.
    """
    email, name = users.valid_email(email), users.valid_name(display_name)
    check_password(password)
    password_hash = generate_password_hash(password)
    with transaction(session):
        territory = territories.get_by_code(session, territory_code)
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            raise Conflict(code="svc.account_exists", email=email)
        user = User(email=email, display_name=name, password_hash=password_hash, active=True,
                    created_at=clock.now(), must_change_password=temporary)
        session.add(user)
        try:
            session.flush()
        except IntegrityError:  # created meanwhile by someone else
            raise Conflict(code="svc.account_exists", email=email) from None
        audit.record_for(session, clock, SYSTEM, "user.create", [territory.id],
                         target_user_id=user.id, via=COMMAND_LINE)
        session.add(Membership(user_id=user.id, territory_id=territory.id, role=ADMIN_ROLE))
        session.flush()
        audit.record_for(session, clock, SYSTEM, "membership.add", [territory.id],
                         target_user_id=user.id, role=ADMIN_ROLE, via=COMMAND_LINE)
        return user.id


@dataclass(frozen=True)
class PasswordReset:
    """What ``set_password`` did."""

    sessions_ended: int
    active: bool  # False: the account stays deactivated (an administrator reactivates it)


def set_password(session: Session, clock: Clock, email: str, password: str) -> PasswordReset:
    """Give an account a new password chosen at the console, to be changed at its next
    sign-in (someone else than the person may know it), and end its sessions; audited for
    each territory it belongs to.

    :raises NotFound: no account with that e-mail.
    :raises Conflict: the password is too short.
    """
    check_password(password)
    password_hash = generate_password_hash(password)
    with transaction(session):
        user = session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise NotFound(code="svc.user_email_unknown", email=email.strip()[:254])
        user.password_hash = password_hash
        user.must_change_password = True
        user.password_changed_at = clock.now()
        ended = sessions.revoke_all(session, clock, user.id, "password_reset")
        held = sorted(set(session.scalars(select(Membership.territory_id).where(
            Membership.user_id == user.id))))
        audit.record_for(session, clock, SYSTEM, "user.password_reset", held,
                         target_user_id=user.id, via=COMMAND_LINE)
        return PasswordReset(ended, user.active)
