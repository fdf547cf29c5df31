"""Signing in through an OpenID Connect provider (ProConnect or any standard one).

The web layer checks the provider's answer (state, PKCE, the ID token's signature, issuer,
audience, expiry and nonce) and hands over the identity it vouches for. Here the account is
found by that e-mail, only if the provider says it verified it (or the deployment trusts
the provider to, as ProConnect does), case-insensitively. The account must already exist
and be active: roles stay managed in Aiguillage, so nothing is ever created. Every outcome
is audited; a refusal carries its reason as a code of the message catalogue.

The first match binds the account to the provider's (issuer, subject)
(``federated_identity``): later sign-ins find the account by that pair first, so a change of
the account's e-mail in Aiguillage changes nothing, and the account's e-mail presented with
another subject (an address the provider gave to someone else) is refused
(``svc.oidc_subject_changed``) until an administrator unlinks the identity
(``users.unlink_identity``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import PermissionDenied
from engine.persistence.db import transaction
from engine.persistence.models import FederatedIdentity, Membership, User
from engine.persistence.models.user import API
from engine.services import audit
from engine.services.access import SYSTEM
from engine.services.signin import SignedIn

# Why a sign-in through the provider was refused: each is ``svc.oidc_<reason>`` in the
# message catalogue (the page and the audit log say it in words).
REASONS = frozenset({
    "state", "provider_error", "unavailable", "signature", "issuer", "audience", "nonce",
    "expired", "token_invalid", "email_unverified", "unknown_account", "inactive_account",
    "api_account", "subject_changed"})


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in (its ID token and user info, already checked)."""

    provider: str  # the provider's name as people know it (« ProConnect »)
    email: str
    email_verified: bool
    issuer: str = ""  # the ID token's ``iss`` and ``sub``: who it is at the provider, for good
    subject: str = ""


def sign_in(session: Session, clock: Clock, identity: Identity,
            address: str | None) -> SignedIn:
    """Open the account matching the provider's verified e-mail (audited « via <provider> »).

    :raises PermissionDenied: the e-mail is not verified (``svc.oidc_email_unverified``), no
        account has it (``svc.oidc_unknown_account``), the account is deactivated
        (``svc.oidc_inactive_account``) or technical (``svc.oidc_api_account``), or the
        account is bound to another subject of this provider (``svc.oidc_subject_changed``);
        audited, nothing changed.
    """
    try:
        return _sign_in(session, clock, identity, address)
    except IntegrityError:  # the same first sign-in twice at once: the other one bound it
        session.rollback()
        return _sign_in(session, clock, identity, address)


def _sign_in(session: Session, clock: Clock, identity: Identity,
             address: str | None) -> SignedIn:
    bound = _bound(session, identity)
    if bound is not None:
        user = session.get(User, bound.user_id)
        assert user is not None  # a foreign key
    else:
        email = identity.email.strip().lower()
        if not identity.email_verified or not email or "\x00" in email or len(email) > 254:
            _refuse(session, clock, "email_unverified", identity.provider, address, None)
        found = session.scalar(select(User).where(func.lower(User.email) == email))
        if found is None:
            _refuse(session, clock, "unknown_account", identity.provider, address, None,
                    email=email)
        user = found
    user_id = user.id
    if user.kind == API:  # an API key's technical account (issue #18, item 2)
        _refuse(session, clock, "api_account", identity.provider, address, user_id)
    if not user.active:
        _refuse(session, clock, "inactive_account", identity.provider, address, user_id)
    if bound is None and _storable(identity) and session.scalar(
            select(FederatedIdentity.id).where(FederatedIdentity.user_id == user_id,
                                               FederatedIdentity.issuer == identity.issuer)):
        # the account's e-mail, but not the person it was bound to at this provider
        _refuse(session, clock, "subject_changed", identity.provider, address, user_id)
    now = clock.now()
    with transaction(session):
        if bound is not None:
            bound.last_at = now
        elif _storable(identity):
            session.add(FederatedIdentity(user_id=user_id, issuer=identity.issuer,
                                          subject=identity.subject, first_at=now,
                                          last_at=now))
            session.flush()
        audit.record_for(session, clock, SYSTEM, "user.sign_in_federated",
                         _territories(session, user_id), target_user_id=user_id,
                         provider=identity.provider, address=address or "")
    return SignedIn(user_id, must_change_password=False)


def _bound(session: Session, identity: Identity) -> FederatedIdentity | None:
    """The account bound to this (issuer, subject), if any."""
    if not _storable(identity):
        return None
    return session.scalar(select(FederatedIdentity).where(
        FederatedIdentity.issuer == identity.issuer,
        FederatedIdentity.subject == identity.subject))


def _storable(identity: Identity) -> bool:
    """Whether the identity can be bound (the web layer refuses the others before: a
    subject too long or with a NUL byte, which PostgreSQL refuses)."""
    return bool(identity.subject) and len(identity.subject) <= 255 \
        and len(identity.issuer) <= 300 and "\x00" not in identity.subject + identity.issuer


def refuse(session: Session, clock: Clock, reason: str, provider: str,
           address: str | None) -> None:
    """Record a sign-in the web layer refused before any account was known (bad token,
    provider error or down, state mismatch); ``reason`` is one of ``REASONS``."""
    assert reason in REASONS, reason
    with transaction(session):
        audit.record(session, clock, SYSTEM, "user.sign_in_federated_refused",
                     reason_code=f"svc.oidc_{reason}", provider=provider,
                     address=address or "")


def _refuse(session: Session, clock: Clock, reason: str, provider: str,
            address: str | None, user_id: int | None, **params: str) -> NoReturn:
    """Audit the refusal (in the account's territories when there is one) and raise it."""
    detail: dict[str, Any] = {"reason_code": f"svc.oidc_{reason}", "provider": provider,
                              "address": address or "", **params}
    with transaction(session):
        if user_id is None:
            audit.record(session, clock, SYSTEM, "user.sign_in_federated_refused", **detail)
        else:
            audit.record_for(session, clock, SYSTEM, "user.sign_in_federated_refused",
                             _territories(session, user_id), target_user_id=user_id,
                             **detail)
    raise PermissionDenied(code=f"svc.oidc_{reason}", **params)


def _territories(session: Session, user_id: int) -> list[int]:
    return sorted(set(session.scalars(select(Membership.territory_id).where(
        Membership.user_id == user_id))))
