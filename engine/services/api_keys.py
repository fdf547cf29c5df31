"""API keys of organisations (issue #18, item 2): software that acts in a territory.

A key is ``agl_<prefix>_<secret>``: the prefix (12 hex digits) names the key in lists and
finds its row; the secret is 32 random bytes. Only the SHA-256 of the whole token is stored
(for a 32-byte random token a slow hash adds nothing), compared in constant time; the token
is shown once, by ``create`` or ``rotate``. Each key acts as a technical account
(``user.kind == "api"``, no usable password) holding the key's roles in its organisation:
the rules made for people (steps offered, the visibility rule, audit, "completed by") apply
unchanged, and the key further limits its rights (``read``, ``write``) and maybe its circuits
(``access.require_scope``, ``Actor.circuits``). The territory's administrators manage keys;
every change, and every refused key, is audited (never with the presented secret).

``rotate`` issues a new token for the same software (same technical account): the old one
stops at once, or after an overlap the administrator chooses (it is then revoked at that
instant), so that the software can be redeployed without a gap.

The rate limit (``check_rate``) is kept in process memory, per key: each worker process
counts its own requests, so with N workers a key may make up to N times the limit.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from engine.persistence.db import transaction
from engine.persistence.models import ApiKey, Circuit, Membership, Organisation, Territory, User
from engine.persistence.models.user import ADMIN_ROLE, API
from engine.services import audit
from engine.services.access import READ_SCOPE, WRITE_SCOPE, Actor, require_admin
from engine.services.users import valid_name

TOKEN_START = "agl_"
MAX_TOKEN = 200  # a real token is 60 characters: anything longer is refused unread
MAX_NAME = 120
SCOPES = (READ_SCOPE, WRITE_SCOPE)
USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often
_TOKEN = re.compile(r"agl_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})", re.ASCII)
_NO_PASSWORD = "!api"  # no werkzeug hash: no password ever matches


@dataclass(frozen=True)
class IssuedKey:
    """A key just created or rotated, with its token: shown once, never stored."""

    id: int
    prefix: str
    name: str
    token: str


@dataclass(frozen=True)
class KeyItem:
    """A key as the administrators' list shows it (no secret)."""

    id: int
    name: str
    prefix: str
    organisation_id: int
    organisation: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    circuits: tuple[int, ...] | None  # None: every circuit of the territory
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None  # maybe later than now: a rotation's overlap
    rotated_from_id: int | None
    replaced_by: str | None = None  # the prefix of the key that renewed this one

    def live(self, now: datetime) -> bool:
        """Does the key open now?"""
        return self.revoked_at is None or self.revoked_at > now


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    prefix = secrets.token_hex(6)
    return prefix, f"{TOKEN_START}{prefix}_{secrets.token_urlsafe(32)}"


# --------------------------------------------------------------------------- authentication


def authenticate(session: Session, clock: Clock, presented: str) -> Actor:
    """The actor a presented token stands for: the key's technical account with its roles
    and organisation in the key's territory, its rights and circuits.

    :raises Unauthenticated: malformed, unknown, revoked (the same message for all); audited
        as ``api_key.refused`` without the token.
    """
    now = clock.now()
    match = _TOKEN.fullmatch(presented) if len(presented) <= MAX_TOKEN else None
    key = None if match is None else session.scalar(
        select(ApiKey).where(ApiKey.prefix == match.group(1)))
    reason = ("malformed" if match is None else "unknown" if key is None
              else "mismatch" if not hmac.compare_digest(key.secret_hash, _hash(presented))
              else "revoked" if key.revoked_at is not None and key.revoked_at <= now
              else None)
    if reason is None and key is not None:
        user = session.get(User, key.user_id)
        if user is None or not user.active:
            reason = "revoked"
    if reason is not None or key is None:
        repeated = audit.repeats_since_recorded(
            session, ("api_key.refused", key.id if key is not None else None, reason), now)
        if repeated is not None:
            with transaction(session):
                detail = {"reason": reason} | (key.detail() if key is not None else {})
                if repeated:
                    detail["repeated"] = repeated
                audit.record(session, clock, Actor(user_id=None), "api_key.refused",
                             territory_id=key.territory_id if key is not None else None,
                             **detail)
        raise Unauthenticated(code="svc.api_unauthenticated")
    actor = _actor(key)
    if key.last_used_at is None or now - key.last_used_at >= USED_EVERY:
        with transaction(session):
            key.last_used_at = now
    return actor


def _actor(key: ApiKey) -> Actor:
    roles = frozenset(key.roles)
    return Actor(user_id=key.user_id, roles={key.territory_id: roles},
                 organisations={key.territory_id: frozenset({key.organisation_id})},
                 name=_account_name(key.name), scopes=frozenset(key.scopes),
                 circuits=None if key.circuits is None else frozenset(key.circuits),
                 api_key_id=key.id)


def _account_name(name: str) -> str:
    return f"Logiciel « {name} »"


# --------------------------------------------------------------------------- rate limit

_BUCKETS: dict[int, tuple[float, datetime]] = {}  # key id → (tokens left, as of)
_LOCK = threading.Lock()


def rate_limit() -> int:
    """Requests per minute per key (``AIGUILLAGE_API_RATE_LIMIT``, default 120)."""
    try:
        return max(1, int(os.environ.get("AIGUILLAGE_API_RATE_LIMIT", "120")))
    except ValueError:
        return 120


def check_rate(key_id: int, now: datetime, limit: int | None = None) -> float | None:
    """Count one request of a key (a token bucket of ``limit`` requests per minute, refilled
    steadily); None if it may go on, else the seconds to wait. In this process's memory only:
    no database write per request, and the limit applies per worker process."""
    per_minute = limit or rate_limit()
    with _LOCK:
        tokens, since = _BUCKETS.get(key_id, (float(per_minute), now))
        elapsed = max(0.0, (now - since).total_seconds())
        tokens = min(float(per_minute), tokens + elapsed * per_minute / 60.0)
        if tokens >= 1.0:
            _BUCKETS[key_id] = (tokens - 1.0, now)
            return None
        _BUCKETS[key_id] = (tokens, now)
        return (1.0 - tokens) * 60.0 / per_minute


def reset_rates() -> None:
    """Forget every count, of requests and of refusals (tests)."""
    with _LOCK:
        _BUCKETS.clear()


# --------------------------------------------------------------------------- administration


def create(session: Session, clock: Clock, actor: Actor, territory_id: int,
           organisation_id: int, name: str, roles: list[str] | tuple[str, ...],
           scopes: list[str] | tuple[str, ...],
           circuit_ids: list[int] | tuple[int, ...] | None) -> IssuedKey:
    """Create a key and its technical account (its roles in the organisation); the token is
    returned here only.

    :raises NotFound: the territory is not the actor's, or the organisation not of it.
    :raises PermissionDenied: the actor does not administer the territory.
    :raises InvalidInput: bad name, roles, rights or circuits.
    """
    require_admin(actor, territory_id)
    name = _valid_key_name(name)
    with transaction(session):
        role_list = _valid_roles(session, territory_id, roles)
        scope_list = _valid_scopes(scopes)
        circuits = _valid_circuits(session, territory_id, circuit_ids)
        org = session.get(Organisation, organisation_id)
        if org is None or org.territory_id != territory_id or not org.active:
            raise NotFound(code="svc.organisation_unknown")
        now = clock.now()
        user = User(email=f"cle-api-{secrets.token_hex(8)}@aiguillage.invalid",
                    display_name=_account_name(name)[:200], password_hash=_NO_PASSWORD,
                    active=True, created_at=now, must_change_password=False, kind=API,
                    notice_mode="digest")
        session.add(user)
        session.flush()
        for role in role_list:
            session.add(Membership(user_id=user.id, territory_id=territory_id, role=role,
                                   organisation_id=organisation_id))
        issued, key = _issue(session, now, actor, territory_id, organisation_id, name,
                             role_list, scope_list, circuits, user.id, None)
        audit.record(session, clock, actor, "api_key.create", territory_id=territory_id,
                     **key.detail(), organisation_id=organisation_id, roles=role_list,
                     scopes=scope_list, circuits=circuits)
        return issued


def _issue(session: Session, now: datetime, actor: Actor, territory_id: int,
           organisation_id: int, name: str, roles: list[str], scopes: list[str],
           circuits: list[int] | None, user_id: int,
           rotated_from: int | None) -> tuple[IssuedKey, ApiKey]:
    prefix, token = _new_token()
    key = ApiKey(territory_id=territory_id, organisation_id=organisation_id, name=name,
                 prefix=prefix, secret_hash=_hash(token), roles=roles, scopes=scopes,
                 circuits=circuits, user_id=user_id, created_at=now,
                 created_by_id=actor.user_id, rotated_from_id=rotated_from)
    session.add(key)
    session.flush()
    return IssuedKey(key.id, prefix, name, token), key


def rotate(session: Session, clock: Clock, actor: Actor, territory_id: int, key_id: int,
           overlap: timedelta = timedelta(0)) -> IssuedKey:
    """A new token for the same software (same account, roles, rights and circuits); the old
    key stops at once, or at the end of ``overlap`` (at most a week).

    :raises NotFound: unknown key, or not of this territory.
    :raises PermissionDenied: the actor does not administer the territory.
    :raises Conflict: the key is already revoked.
    """
    require_admin(actor, territory_id)
    overlap = min(max(overlap, timedelta(0)), timedelta(days=7))
    with transaction(session):
        old = _live_key(session, clock, territory_id, key_id)
        now = clock.now()
        old.revoked_at, old.revoked_by_id = now + overlap, actor.user_id
        issued, key = _issue(session, now, actor, territory_id, old.organisation_id, old.name,
                             list(old.roles), list(old.scopes),
                             None if old.circuits is None else list(old.circuits),
                             old.user_id, old.id)
        audit.record(session, clock, actor, "api_key.rotate", territory_id=territory_id,
                     **key.detail(), previous_prefix=old.prefix,
                     overlap_minutes=int(overlap.total_seconds() // 60))
        return issued


def revoke(session: Session, clock: Clock, actor: Actor, territory_id: int,
           key_id: int) -> None:
    """Stop a key now (and its account, once no key of it opens any more).

    :raises NotFound: unknown key, or not of this territory.
    :raises PermissionDenied: the actor does not administer the territory.
    :raises Conflict: the key is already revoked.
    """
    require_admin(actor, territory_id)
    with transaction(session):
        key = _live_key(session, clock, territory_id, key_id)
        now = clock.now()
        key.revoked_at, key.revoked_by_id = now, actor.user_id
        still = session.scalar(select(ApiKey.id).where(
            ApiKey.user_id == key.user_id, ApiKey.id != key.id,
            or_(ApiKey.revoked_at.is_(None), ApiKey.revoked_at > now)).limit(1))
        if still is None:
            user = session.get(User, key.user_id)
            if user is not None:
                user.active = False
        audit.record(session, clock, actor, "api_key.revoke", territory_id=territory_id,
                     **key.detail())


def _live_key(session: Session, clock: Clock, territory_id: int, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id, with_for_update=True) if 0 < key_id < 2**63 else None
    if key is None or key.territory_id != territory_id:
        raise NotFound(code="svc.api_key_not_found")
    if key.revoked_at is not None and key.revoked_at <= clock.now():
        raise Conflict(code="svc.api_key_revoked")
    return key


def list_keys(session: Session, actor: Actor, territory_id: int) -> list[KeyItem]:
    """The territory's keys, live and revoked, newest first (never a secret).

    :raises PermissionDenied: the actor does not administer the territory.
    """
    require_admin(actor, territory_id)
    creator = User.__table__.alias("creator")
    rows = session.execute(
        select(ApiKey, Organisation.name, creator.c.display_name)
        .join(Organisation, Organisation.id == ApiKey.organisation_id)
        .outerjoin(creator, creator.c.id == ApiKey.created_by_id)
        .where(ApiKey.territory_id == territory_id)
        .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())).all()
    successors = {k.rotated_from_id: k.prefix for k, _, _ in rows if k.rotated_from_id}
    return [KeyItem(k.id, k.name, k.prefix, k.organisation_id, org, tuple(k.roles),
                    tuple(k.scopes), None if k.circuits is None else tuple(k.circuits),
                    k.created_at, by or "système", k.last_used_at, k.revoked_at,
                    k.rotated_from_id, successors.get(k.id)) for k, org, by in rows]


def territory_of(session: Session, actor: Actor, key_id: int) -> int:
    """The territory of a key the actor administers (pages address keys by id alone).

    :raises NotFound: unknown key, or of a territory the actor does not administer (no
        existence leak).
    """
    found = session.scalar(select(ApiKey.territory_id).where(ApiKey.id == key_id)) \
        if 0 < key_id < 2**63 else None
    if found is None or not actor.is_admin(found):
        raise NotFound(code="svc.api_key_not_found")
    return found


def key(session: Session, actor: Actor, territory_id: int, key_id: int) -> KeyItem:
    """One key of the territory.

    :raises NotFound: unknown, or not of this territory.
    :raises PermissionDenied: the actor does not administer the territory.
    """
    for item in list_keys(session, actor, territory_id):
        if item.id == key_id:
            return item
    raise NotFound(code="svc.api_key_not_found")


# --------------------------------------------------------------------------- checks


def _valid_key_name(name: str) -> str:
    name = valid_name(name)
    if len(name) > MAX_NAME:
        raise InvalidInput(code="svc.name_too_long", maximum=MAX_NAME)
    return name


def key_roles(session: Session, territory_id: int) -> list[tuple[str, str]]:
    """(key, label) of the roles a key may play in a territory: its lane roles and the
    coordination (the platform's own software works its steps, and then reads every case of
    the territory, within the key's circuits), never administration (accounts, repairs and
    keys stay with people)."""
    territory = session.get(Territory, territory_id)
    if territory is None:
        return []
    return [(r["key"], r["label"]) for r in territory.roles
            if r["key"] != ADMIN_ROLE]


def _valid_roles(session: Session, territory_id: int,
                 roles: list[str] | tuple[str, ...]) -> list[str]:
    allowed = {k for k, _ in key_roles(session, territory_id)}
    chosen = sorted(set(roles))
    if not chosen or not set(chosen) <= allowed:
        raise InvalidInput(code="svc.api_key_roles")
    return chosen


def _valid_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    chosen = set(scopes)
    if not chosen or not chosen <= set(SCOPES):
        raise InvalidInput(code="svc.api_key_scopes")
    chosen.add(READ_SCOPE)  # writing implies reading
    return sorted(chosen)


def _valid_circuits(session: Session, territory_id: int,
                    circuit_ids: list[int] | tuple[int, ...] | None) -> list[int] | None:
    if circuit_ids is None:
        return None
    chosen = sorted(set(circuit_ids))
    if not chosen or any(not 0 < c < 2**63 for c in chosen):
        raise InvalidInput(code="svc.api_key_circuit_unknown")
    found = set(session.scalars(select(Circuit.id).where(
        Circuit.id.in_(chosen), Circuit.territory_id == territory_id)))
    if found != set(chosen):
        raise InvalidInput(code="svc.api_key_circuit_unknown")
    return chosen
