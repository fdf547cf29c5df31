"""Notices: overdue escalations and daily digests written to the outbox, then delivered.

Writing happens in the same transaction as what caused it and is deduplicated by key, so a
restart never writes a notice twice; delivery claims each message with a lease and marks it
sent, at least once (a crash between sending and marking resends it with the same
Message-ID).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.calendar import PARIS
from engine.mail import Mail, Sender
from engine.persistence.db import transaction
from engine.persistence.models import Case, HumanTask, Membership, OutboxMessage, User
from engine.persistence.models.human_task import TaskStatus
from engine.persistence.models.outbox import OutboxStatus
from engine.persistence.models.user import COORDINATOR_ROLE
from engine.services import oversight
from engine.services.results import DUE_SOON

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 5
DIGEST_HOUR = 7  # Paris time


@dataclass
class Report:
    """What a notice pass did."""

    overdue: int = 0
    digests: int = 0
    sent: int = 0
    failed: int = 0


def scan_overdue(session: Session, clock: Clock, batch: int = 500) -> int:
    """Write one notice to the step's holder (or role) and one to the territory's
    coordination for every step that became overdue. Returns the steps noticed."""
    now = clock.now()
    with transaction(session):
        rows = session.execute(
            select(HumanTask, Case.reference).join(Case, Case.id == HumanTask.case_id)
            .where(HumanTask.status == TaskStatus.OPEN, HumanTask.due_at < now,
                   HumanTask.overdue_noticed_at.is_(None))
            .order_by(HumanTask.due_at).limit(batch).with_for_update(skip_locked=True)).all()
        for task, reference in rows:
            assert task.due_at is not None
            payload = {"case": reference, "step": task.name, "due_at": task.due_at.isoformat(),
                       "task_id": task.id}
            holder = dict(recipient_user_id=task.assignee_id,
                          recipient_role=None if task.assignee_id else task.role)
            for suffix, target in (("holder", holder),
                                   ("coordination", dict(recipient_role=COORDINATOR_ROLE))):
                session.add(OutboxMessage(
                    dedupe_key=f"overdue:{task.id}:{suffix}", kind="retard",
                    territory_id=task.territory_id, case_id=task.case_id, payload=payload,
                    created_at=now, **target))
            task.overdue_noticed_at = now
    return len(rows)


def write_digests(session: Session, clock: Clock) -> int:
    """Once a day after 7:00 (Paris), one digest per person with overdue or soon-due steps."""
    now = clock.now()
    local = now.astimezone(PARIS)
    if local.hour < DIGEST_HOUR:
        return 0
    day = local.date().isoformat()
    done_key = f"digests:{day}"
    written = 0
    with transaction(session):
        # the scheduler ticks every few seconds: after today's pass, one indexed read
        if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == done_key)):
            return 0
        users = session.scalars(select(User).where(User.active.is_(True)))
        for user in users:
            key = f"digest:{user.id}:{day}"
            if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)):
                continue
            steps = _steps_for(session, user.id, now)
            if not steps:
                continue
            session.add(OutboxMessage(dedupe_key=key, kind="digest", recipient_user_id=user.id,
                                      created_at=now, payload={"day": day, "steps": steps}))
            written += 1
        session.add(OutboxMessage(dedupe_key=done_key, kind="marker", status=OutboxStatus.SENT,
                                  created_at=now, delivered_at=now, payload={"day": day}))
    return written


def _steps_for(session: Session, user_id: int, now: object) -> list[dict[str, str]]:
    roles = session.execute(select(Membership.territory_id, Membership.role)
                            .where(Membership.user_id == user_id)).all()
    offered = [and_(HumanTask.territory_id == t, HumanTask.role == r,
                    HumanTask.assignee_id.is_(None)) for t, r in roles]
    rows = session.execute(
        select(HumanTask.name, HumanTask.due_at, Case.reference)
        .join(Case, Case.id == HumanTask.case_id)
        .where(HumanTask.status == TaskStatus.OPEN, HumanTask.due_at < now + DUE_SOON,  # type: ignore[operator]
               or_(HumanTask.assignee_id == user_id, *offered))
        .order_by(HumanTask.due_sort).limit(20)).all()
    return [{"step": n, "due_at": d.isoformat(), "case": r} for n, d, r in rows if d]


def deliver(session: Session, clock: Clock, sender: Sender, batch: int = 100) -> Report:
    """Send pending messages; each is claimed, sent, then marked sent."""
    report = Report()
    now = clock.now()
    with transaction(session):
        claimed = list(session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.status == OutboxStatus.PENDING,
                or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now))
            .order_by(OutboxMessage.id).limit(batch).with_for_update(skip_locked=True)))
        for message in claimed:
            message.lease_until, message.attempts = now + LEASE, message.attempts + 1
        mails = {m.id: _mail(session, m) for m in claimed}
    for message_id, mail in mails.items():
        with transaction(session):
            found = session.get(OutboxMessage, message_id)
            assert found is not None
            message = found
            try:
                if mail.to:
                    sender.send(mail)
            except Exception as exc:  # noqa: BLE001 - any delivery failure is retried
                message.last_error = str(exc)[:2000]
                message.lease_until = now + LEASE * message.attempts
                if message.attempts >= MAX_ATTEMPTS:
                    message.status = OutboxStatus.FAILED
                report.failed += 1
                continue
            message.status, message.delivered_at = OutboxStatus.SENT, clock.now()
            report.sent += 1
    return report


def _mail(session: Session, message: OutboxMessage) -> Mail:
    to = _recipients(session, message)
    payload = message.payload
    if message.kind == "digest":
        lines = [f"- {s['case']} : {s['step']} (échéance {_day(s['due_at'])})"
                 for s in payload["steps"]]
        subject = f"Aiguillage : {len(lines)} étape(s) en retard ou à échéance proche"
        body = "Bonjour,\n\nVoici les étapes qui vous attendent :\n" + "\n".join(lines)
    elif message.kind == "retard":
        subject = f"Aiguillage : étape en retard — dossier {payload['case']}"
        body = (f"Bonjour,\n\nL'étape « {payload['step']} » du dossier {payload['case']} "
                f"devait être réalisée le {_day(payload['due_at'])}.")
    else:
        subject = f"Aiguillage : relance — dossier {payload.get('case')}"
        body = (f"Bonjour,\n\n{payload.get('notice')} pour l'étape "
                f"« {payload.get('step_name') or payload.get('step')} » du dossier "
                f"{payload.get('case')}.")
    return Mail(tuple(to), subject, body + "\n\n— Aiguillage", message.dedupe_key)


def _recipients(session: Session, message: OutboxMessage) -> list[str]:
    if message.recipient_user_id is not None:
        user = session.get(User, message.recipient_user_id)
        return [user.email] if user is not None and user.active else []
    if message.recipient_role and message.territory_id is not None:
        return sorted(set(session.scalars(
            select(User.email).join(Membership, Membership.user_id == User.id).where(
                Membership.territory_id == message.territory_id,
                Membership.role == message.recipient_role, User.active.is_(True)))))
    return []


def _day(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(PARIS).strftime("%d/%m/%Y")


def tick(session: Session, clock: Clock, sender: Sender) -> Report:
    """One pass of the scheduler: overdue notices, daily counts, digests, delivery."""
    report = Report(overdue=scan_overdue(session, clock))
    with transaction(session):
        oversight.record_daily_counts(session, clock)
    report.digests = write_digests(session, clock)
    delivered = deliver(session, clock, sender)
    report.sent, report.failed = delivered.sent, delivered.failed
    return report
