"""Every model, imported here so ``Base.metadata`` knows all tables (Alembic reads it)."""

from engine.persistence.models.api_idempotency import ApiIdempotency
from engine.persistence.models.api_key import ApiKey
from engine.persistence.models.audit_event import AuditEvent, AuditEventTerritory
from engine.persistence.models.case import Case, CaseState, ReferenceCounter
from engine.persistence.models.circuit import Circuit, CircuitVersion
from engine.persistence.models.commission_session import CommissionSession, SessionCase
from engine.persistence.models.consent import CaseConsent
from engine.persistence.models.draft import CircuitDraft
from engine.persistence.models.federated_identity import FederatedIdentity
from engine.persistence.models.heartbeat import SchedulerHeartbeat
from engine.persistence.models.household import Household, HouseholdMatch
from engine.persistence.models.human_task import HumanTask
from engine.persistence.models.orientation import (
    AnswerLink,
    Orientation,
    OrientationEvent,
    RefusalReason,
)
from engine.persistence.models.outbox import OutboxMessage
from engine.persistence.models.oversight import DailyCount
from engine.persistence.models.party import CaseParty, CaseReferent
from engine.persistence.models.records import DirectoryPlaceChange, DirectoryService
from engine.persistence.models.statistic import CaseFact
from engine.persistence.models.territory import Organisation, Territory
from engine.persistence.models.timer import Timer
from engine.persistence.models.user import Membership, User
from engine.persistence.models.web_session import SignInThrottle, WebSession
from engine.persistence.models.webhook import WebhookAttempt, WebhookSubscription

__all__ = [
    "AnswerLink", "AuditEvent", "AuditEventTerritory", "Case", "CaseConsent", "CaseParty",
    "CaseReferent", "CaseState", "Circuit", "CircuitDraft", "CircuitVersion",
    "CommissionSession", "DailyCount",
    "DirectoryPlaceChange", "DirectoryService", "Household", "HouseholdMatch", "HumanTask",
    "Membership", "Organisation", "Orientation", "OrientationEvent", "OutboxMessage",
    "RefusalReason", "ReferenceCounter", "SessionCase",
    "SignInThrottle", "Territory", "Timer", "User", "WebSession",
    "CaseFact",  # statistics (#16)
    "SchedulerHeartbeat",  # readiness (#17)
    "ApiKey",  # API keys (#18)
    "WebhookAttempt", "WebhookSubscription",  # webhooks out (#18)
    "ApiIdempotency",  # API idempotency keys (#18)
    "FederatedIdentity",  # sign-in through a provider (#18)
]
