"""Notices: new steps, overdue escalations and daily digests written to the outbox, then
delivered.

Writing happens in the same transaction as what caused it and is deduplicated by key, so a
restart never writes a notice twice; delivery claims each message with a lease and marks it
sent, at least once (a crash between sending and marking resends it with the same
Message-ID).

Who is told of a step is the visibility rule's "who acts on it" (``access.acts_on``): its
holder when assigned; else, for a lane bound to a part, the active people of the organisation
holding that part who hold the step's role (nobody while no organisation holds it); else
those holding the role in the territory. Each person chooses how they hear of new steps
(``user.notice_mode``): one e-mail per step, or the daily digest. No e-mail carries personal
data: the case reference, the step's name and a link, nothing else.

New steps are found by the notice pass, not by the code that writes steps: open steps that
became ready within ``NEW_STEP_WINDOW`` (or were offered to another organisation since: a
party set or changed) and have no marker row ``step-new:<step>:<org>`` in the outbox. The
marker and the step's e-mails are written in one transaction, so a restart neither loses
nor repeats one; a step re-routed to another organisation gets a new marker key, so the new
organisation hears of it too. The pass reads only what is recent, on indexes: steps of an
id above a cursor kept in the outbox (``step-new:cursor``: the newest step id seen at least
``SETTLE`` ago) and parties set since then. Why no column on ``human_task``: the outbox's
unique key already gives exactly-once, and the step rows belong to the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import metrics
from engine.clock import Clock
from engine.core.calendar import PARIS
from engine.errors import Conflict, NotFound
from engine.mail import Mail, Sender, public_url
from engine.persistence.db import transaction
from engine.persistence.models import (
    Case,
    CaseParty,
    HumanTask,
    Membership,
    OutboxMessage,
    Territory,
    User,
)
from engine.persistence.models.human_task import TaskStatus
from engine.persistence.models.outbox import OutboxStatus
from engine.persistence.models.user import COORDINATOR_ROLE, PERSON
from engine.services import audit, oversight, tasks, webhooks
from engine.services.access import Actor, load_actor

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 5
DIGEST_HOUR = 7  # Paris time
IMMEDIATE, DIGEST = "immediate", "digest"
NOTICE_MODES: dict[str, str] = {  # user.notice_mode -> how the account page says it
    IMMEDIATE: "à chaque étape",
    DIGEST: "dans le récapitulatif quotidien",
}
# a step that became ready longer ago than this is not announced (a scheduler down for
# longer, a restored backup, generated volume); Mes tâches and the digest's overdue and
# soon-due steps still show it
NEW_STEP_WINDOW = timedelta(days=1)
SETTLE = timedelta(minutes=5)  # a transaction that writes a step commits within this
CURSOR_KEY = "step-new:cursor"
# outbox status of a new step's line kept for a person's next daily digest: never delivered
# on its own; the digest lists it and marks it sent
HELD = "held"


@dataclass
class Report:
    """What a notice pass did."""

    new_steps: int = 0
    overdue: int = 0
    digests: int = 0
    sent: int = 0
    failed: int = 0


def notice_mode(session: Session, actor: Actor) -> str:
    """How the signed-in person hears of new steps (``immediate`` or ``digest``).

    :raises NotFound: the system, or an unknown account.
    """
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None:
        raise NotFound(code="svc.user_unknown")
    return user.notice_mode if user.notice_mode in NOTICE_MODES else DIGEST


def set_notice_mode(session: Session, clock: Clock, actor: Actor, mode: str) -> None:
    """The signed-in person chooses how they hear of new steps; audited in each of their
    territories (``user.notice_mode``). Choosing the current mode changes nothing.

    :raises Conflict: an unknown mode.
    :raises NotFound: the system, or an unknown account.
    """
    if mode not in NOTICE_MODES:
        raise Conflict(code="svc.notice_mode_unknown")
    with transaction(session):
        user = session.get(User, actor.user_id) if actor.user_id is not None else None
        if user is None or not user.active:
            raise NotFound(code="svc.user_unknown")
        if user.notice_mode == mode:
            return
        before, user.notice_mode = user.notice_mode, mode
        territories = sorted(set(session.scalars(select(Membership.territory_id).where(
            Membership.user_id == user.id))))
        audit.record_for(session, clock, actor, "user.notice_mode", territories,
                         target_user_id=user.id, before=before, after=mode)


def _step_marker() -> ColumnElement[str]:
    """SQL: the outbox key marking a step as announced to the organisation holding it."""
    return (literal("step-new:") + cast(HumanTask.id, String) + literal(":")
            + cast(func.coalesce(HumanTask.organisation_id, 0), String))


def scan_new_steps(session: Session, clock: Clock, batch: int = 500,
                   max_batches: int = 20) -> int:
    """Announce the steps that became ready (within ``NEW_STEP_WINDOW``), and those offered
    to another organisation since (a party set or changed): for each person who acts on it,
    one e-mail now if they chose ``immediate``, else a line held for their next digest; a
    marker row either way. Steps bound to a part no
    organisation holds yet wait (their marker is written once an organisation holds it).
    Returns the steps marked.

    The read follows a cursor (the outbox row ``step-new:cursor``, locked while a pass runs,
    so that schedulers take turns): steps of an id above the newest step id seen at least
    ``SETTLE`` ago, and parties set since then. Reading a little back each time, and the
    markers, let a step written by a transaction that committed late still be seen once.
    """
    now = clock.now()
    total = 0
    try:
        with transaction(session):
            cursor = _cursor(session, now)
            if cursor is None:
                return 0  # another scheduler is on it
            # (time of a complete pass, the highest step id then): the ids a pass may not have
            # seen are those of transactions in flight, which commit within SETTLE
            seen = [(datetime.fromisoformat(at), top) for at, top in cursor.payload["seen"]]
            last = seen[-1][0]
            floor_id = max((h for h in seen if h[0] <= last - SETTLE), default=seen[0])[1]
            top = session.scalar(select(func.max(HumanTask.id))) or 0
            people: Memo = {}
            hooks: webhooks.Memo = {}  # the organisations' webhook subscriptions
            holders: Holders = {}  # the organisations of a role's people
            complete = False
            for _ in range(max_batches):
                rows = _new_or_rerouted(session, now, floor_id, last - SETTLE, batch)
                for task, reference in rows:
                    _announce(session, now, task, reference, people, hooks, holders)
                session.flush()  # the next batch's read sees these markers
                total += len(rows)
                if len(rows) < batch:
                    complete = True
                    break
            # a complete pass moves the cursor when steps were added, or every SETTLE (a
            # write per tick at most when busy, none when quiet)
            if complete and (top != seen[-1][1] or last <= now - SETTLE):
                history = [h for h in seen if h[0] <= now - SETTLE][-1:] + [
                    h for h in seen if h[0] > now - SETTLE] + [(now, top)]
                cursor.payload = {"seen": [[at.isoformat(), n] for at, n in history]}
    except IntegrityError:  # two schedulers created the cursor at once: the other one won
        return 0
    return total


def _cursor(session: Session, now: datetime) -> OutboxMessage | None:
    """The cursor row, locked (created at the first pass ever, from the newest step that
    became ready before the window); None while another scheduler holds it."""
    row = session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == CURSOR_KEY)
                         .with_for_update(skip_locked=True))
    if row is not None:
        return row
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == CURSOR_KEY)):
        return None
    since = now - NEW_STEP_WINDOW
    older = session.scalar(select(func.max(HumanTask.id)).where(HumanTask.ready_at < since))
    row = OutboxMessage(dedupe_key=CURSOR_KEY, kind="marker", status=OutboxStatus.SENT,
                        created_at=now, delivered_at=now,
                        payload={"seen": [[since.isoformat(), older or 0]]})
    session.add(row)
    session.flush()
    return row


# open, with the status through a function: these reads go by the primary key or the case,
# never by an index of the open steps (SQLite takes one for a plain equality on the status)
_OPEN_ELSEWHERE = func.lower(HumanTask.status) == TaskStatus.OPEN.value


def _new_or_rerouted(session: Session, now: datetime, floor_id: int, since: datetime,
                     batch: int) -> list[Any]:
    """Open steps not yet announced to the organisation holding them: new ones (an id
    above ``floor_id``, ready within the window), and those of a party set since ``since``
    (each read on its index: the primary key, and the parties by part)."""
    marker = _step_marker()
    routable = or_(HumanTask.part.is_(None), HumanTask.organisation_id.is_not(None),
                   HumanTask.assignee_id.is_not(None))
    fresh = session.execute(
        select(HumanTask, Case.reference).join(Case, Case.id == HumanTask.case_id)
        .where(HumanTask.id > floor_id, _OPEN_ELSEWHERE,
               HumanTask.ready_at >= now - NEW_STEP_WINDOW, HumanTask.ready_at <= now,
               routable,
               ~exists().where(OutboxMessage.dedupe_key == marker))
        .order_by(HumanTask.id).limit(batch)).all()
    parts = sorted({p["key"] for ps in session.scalars(select(Territory.parts))
                    for p in ps or [] if isinstance(p, dict) and "key" in p})
    if len(fresh) >= batch or not parts:
        return list(fresh)
    # the parties set since the cursor (few: read on their index by part), then their cases'
    # open steps bound to those parts (read on the case index)
    changed = {(c, p, o) for c, p, o in session.execute(
        select(CaseParty.case_id, CaseParty.part, CaseParty.organisation_id).where(
            CaseParty.part.in_(parts), CaseParty.until.is_(None),
            CaseParty.since >= since, CaseParty.since <= now))}
    out: list[Any] = list(fresh)
    known = {t.id for t, _ in fresh}
    cases = sorted({c for c, _, _ in changed})
    for start in range(0, len(cases), 500):
        for task, reference in session.execute(
                select(HumanTask, Case.reference).join(Case, Case.id == HumanTask.case_id)
                .where(HumanTask.case_id.in_(cases[start:start + 500]),
                       _OPEN_ELSEWHERE, HumanTask.part.is_not(None),
                       HumanTask.assignee_id.is_(None),
                       ~exists().where(OutboxMessage.dedupe_key == marker))
                .order_by(HumanTask.id)):
            if (task.case_id, task.part, task.organisation_id) in changed \
                    and task.id not in known:
                out.append((task, reference))
                known.add(task.id)
            if len(out) >= batch:
                return out
    return out


Memo = dict[tuple[int, str | None, int | None], list[tuple[int, str]]]
# (territory, role) -> the organisations some active person of which holds the role there
Holders = dict[tuple[int, str], list[int]]


def _told(session: Session, task: HumanTask, holders: Holders) -> list[int]:
    """The organisations a step's webhooks (``step.offered``, ``step.overdue``) go to: the
    one holding the step's part; for a step offered to its role across the territory (a lane
    bound to no part, nobody assigned), every organisation some active person of which holds
    that role there — the people who find it in their Mes tâches (``access.acts_on``);
    none for a step assigned to a person on such a lane, or waiting for its part."""
    if task.organisation_id is not None:
        return [task.organisation_id]
    if task.part is not None or task.role is None or task.assignee_id is not None:
        return []
    key = (task.territory_id, task.role)
    if key not in holders:
        holders[key] = sorted({o for o in session.scalars(
            select(Membership.organisation_id).join(User, User.id == Membership.user_id)
            .where(*_holding(task.territory_id, task.role, None),
                   Membership.organisation_id.is_not(None))) if o is not None})
    return holders[key]


def _announce(session: Session, now: datetime, task: HumanTask, reference: str,
              people: Memo, hooks: webhooks.Memo | None = None,
              holders: Holders | None = None) -> None:
    """The step's marker, and for each person who acts on it: an e-mail now, or a line
    held for their next daily digest (``HELD``: never delivered on its own); the webhooks
    (``step.offered``) of the organisations it is offered to (``_told``)."""
    key = f"step-new:{task.id}:{task.organisation_id or 0}"
    for user_id, mode in _people(session, task, people):
        immediate = mode == IMMEDIATE
        session.add(OutboxMessage(
            dedupe_key=f"{key}:{user_id}", kind="etape" if immediate else "etape-digest",
            status=OutboxStatus.PENDING if immediate else HELD, territory_id=task.territory_id,
            case_id=task.case_id, recipient_user_id=user_id, created_at=now,
            payload={"case": reference, "step": task.name, "task_id": task.id}))
    session.add(OutboxMessage(dedupe_key=key, kind="marker", status=OutboxStatus.SENT,
                              created_at=now, delivered_at=now, payload={"task_id": task.id}))
    told = _told(session, task, {} if holders is None else holders)
    if told:  # the organisations' webhooks (no personal data)
        webhooks.emit(session, now, "step.offered",
                      f"step.offered:{task.id}:{task.organisation_id or 0}", task.territory_id,
                      told, _step_data(task, reference),
                      case_id=task.case_id, circuit_id=task.circuit_id,
                      memo=hooks)


def _step_data(task: HumanTask, reference: str) -> dict[str, Any]:
    """What a step's webhook tells: the case's reference and the step, nothing else."""
    return {"case": reference, "step": {"id": task.bpmn_id, "name": task.name,
                                        "task_id": task.id, "part": task.part,
                                        "due_at": task.due_at.isoformat()
                                        if task.due_at else None}}


def _people(session: Session, task: HumanTask, memo: Memo) -> list[tuple[int, str]]:
    """The active people who act on ``task``, with how each hears of new steps."""
    if task.assignee_id is not None:
        user = session.get(User, task.assignee_id)
        return [(user.id, user.notice_mode)] if user is not None and user.active \
            and user.kind == PERSON else []
    if task.role is None or (task.part is not None and task.organisation_id is None):
        return []
    group = (task.territory_id, task.role, task.organisation_id)
    if group not in memo:
        memo[group] = sorted({(u, m) for u, m in session.execute(
            select(User.id, User.notice_mode).join(Membership, Membership.user_id == User.id)
            .where(*_holding(task.territory_id, task.role, task.organisation_id)))})
    return memo[group]


def _holding(territory_id: int, role: str,
             organisation_id: int | None) -> list[ColumnElement[bool]]:
    """SQL conditions on ``Membership``/``User``: active people holding ``role`` in the
    territory, in ``organisation_id`` when one is given."""
    where: list[ColumnElement[bool]] = [
        Membership.territory_id == territory_id, Membership.role == role, User.active.is_(True),
        User.kind == PERSON]
    if organisation_id is not None:
        where.append(Membership.organisation_id == organisation_id)
    return where


def scan_overdue(session: Session, clock: Clock, batch: int = 500) -> int:
    """Write one notice to the step's holder (or the people who act on it) and one to the
    territory's coordination for every step that became overdue. Returns the steps noticed."""
    now = clock.now()
    with transaction(session):
        rows = session.execute(
            select(HumanTask, Case.reference).join(Case, Case.id == HumanTask.case_id)
            .where(HumanTask.status == TaskStatus.OPEN, HumanTask.due_at < now,
                   HumanTask.overdue_noticed_at.is_(None))
            .order_by(HumanTask.due_at).limit(batch)
            .with_for_update(skip_locked=True, of=HumanTask)).all()
        hooks: webhooks.Memo = {}  # the organisations' webhook subscriptions
        holders: Holders = {}  # the organisations of a role's people
        for task, reference in rows:
            assert task.due_at is not None
            payload = {"case": reference, "step": task.name, "due_at": task.due_at.isoformat(),
                       "task_id": task.id, "organisation_id": task.organisation_id,
                       "part": task.part}
            targets: list[tuple[str, dict[str, object]]] = []
            if task.assignee_id is not None:
                targets.append(("holder", dict(recipient_user_id=task.assignee_id)))
            elif task.part is None or task.organisation_id is not None:
                targets.append(("holder", dict(recipient_role=task.role)))
            targets.append(("coordination", dict(recipient_role=COORDINATOR_ROLE)))
            for suffix, target in targets:
                session.add(OutboxMessage(
                    dedupe_key=f"overdue:{task.id}:{suffix}", kind="retard",
                    territory_id=task.territory_id, case_id=task.case_id,
                    payload={**payload, "to": suffix}, created_at=now, **target))
            task.overdue_noticed_at = now
            told = _told(session, task, holders)
            if told:
                webhooks.emit(session, now, "step.overdue", f"step.overdue:{task.id}",
                              task.territory_id, told,
                              _step_data(task, reference), case_id=task.case_id,
                              circuit_id=task.circuit_id, memo=hooks)
    return len(rows)


def write_digests(session: Session, clock: Clock) -> int:
    """Once a day after 7:00 (Paris), one digest per person with overdue or soon-due steps
    (of their Mes tâches: ``tasks.my_tasks``, the same rule), and, for those who chose the
    digest, the new steps the notice pass held for them that are still open. Each person's
    digest is read outside any write and written in a short transaction of its own, so that
    a day's digests never hold the database's write lock for long."""
    now = clock.now()
    local = now.astimezone(PARIS)
    if local.hour < DIGEST_HOUR:
        return 0
    day = local.date().isoformat()
    done_key = f"digests:{day}"
    # the scheduler ticks every few seconds: after today's pass, one indexed read
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == done_key)):
        return 0
    held = _held(session, now)
    written = 0
    people = session.execute(select(User.id, User.notice_mode).where(
        User.active.is_(True), User.kind == PERSON).order_by(User.id)).all()
    for user_id, mode in people:
        key = f"digest:{user_id}:{day}"
        if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)):
            continue
        steps = _steps_for(session, clock, load_actor(session, user_id))
        lines = held.get(user_id, []) if mode != IMMEDIATE else []
        new = [payload for _, payload in lines][:DIGEST_STEPS]
        session.commit()  # end the read
        if not steps and not new:
            continue
        with transaction(session):
            if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)):
                continue  # another scheduler wrote it meanwhile
            session.add(OutboxMessage(dedupe_key=key, kind="digest", recipient_user_id=user_id,
                                      created_at=now,
                                      payload={"day": day, "steps": steps, "new": new}))
            if lines:
                session.execute(update(OutboxMessage).where(
                    OutboxMessage.id.in_([i for i, _ in lines]),
                    OutboxMessage.status == HELD).values(
                    status=OutboxStatus.SENT, delivered_at=now))
        written += 1
    with transaction(session):
        if not session.scalar(select(OutboxMessage.id).where(
                OutboxMessage.dedupe_key == done_key)):
            session.add(OutboxMessage(dedupe_key=done_key, kind="marker",
                                      status=OutboxStatus.SENT, created_at=now,
                                      delivered_at=now, payload={"day": day}))
    return written


DIGEST_STEPS = 20  # steps per list of a digest


def _held(session: Session, now: datetime) -> dict[int, list[tuple[int, dict[str, str]]]]:
    """The new steps' lines held for digests in the last two days (on the outbox's status
    index), per person, oldest first, for the steps still open."""
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.recipient_user_id, OutboxMessage.payload)
        .where(OutboxMessage.status == HELD,
               OutboxMessage.created_at >= now - timedelta(days=2))
        .order_by(OutboxMessage.created_at, OutboxMessage.id)).all()
    ids = {int(p["task_id"]) for _, _, p in rows}
    still = set(session.scalars(select(HumanTask.id).where(
        HumanTask.id.in_(sorted(ids)), HumanTask.status == TaskStatus.OPEN))) if ids else set()
    out: dict[int, list[tuple[int, dict[str, str]]]] = {}
    for message_id, user_id, payload in rows:
        if user_id is not None and int(payload["task_id"]) in still:
            out.setdefault(user_id, []).append((message_id, {
                "step": payload["step"], "task_id": str(payload["task_id"]),
                "case": payload["case"]}))
    return out


def _steps_for(session: Session, clock: Clock, actor: Actor) -> list[dict[str, str]]:
    """Overdue, then soon-due steps of the person's Mes tâches (at most 20, soonest
    first)."""
    items = list(tasks.my_tasks(session, clock, actor, due="overdue",
                                per_page=DIGEST_STEPS).items)
    if len(items) < DIGEST_STEPS:
        items += tasks.my_tasks(session, clock, actor, due="soon",
                                per_page=DIGEST_STEPS - len(items)).items
    return [{"step": t.name, "due_at": t.due_at.isoformat(), "case": t.case_reference}
            for t in items if t.due_at is not None]


def deliver(session: Session, clock: Clock, sender: Sender, batch: int = 100) -> Report:
    """Send pending messages; each is claimed, sent, then marked sent."""
    report = Report()
    now = clock.now()
    with transaction(session):
        claimed = list(session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.kind != webhooks.KIND,  # sent by webhooks.deliver
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
            if message.kind == LINK_KIND:  # the link is not kept once delivered
                message.payload = _answer_links().without_address(message.payload)
            report.sent += 1
    metrics.notices_sent(report.sent)
    return report


def _mail(session: Session, message: OutboxMessage) -> Mail:
    if message.kind == LINK_KIND:  # a signed answer link: its own address and text
        link_mail: Mail = _answer_links().mail_of(message)
        return link_mail
    to = _recipients(session, message)
    payload = message.payload
    if message.kind == "digest":
        lines = [f"- {s['case']} : {s['step']} (échéance {_day(s['due_at'])})"
                 for s in payload["steps"]]
        new = [f"- {s['case']} : {s['step']} — {_link(s['task_id'])}"
               for s in payload.get("new", [])]
        subject = (f"Aiguillage : {len(new)} nouvelle(s) étape(s), {len(lines)} en retard ou "
                   "à échéance proche" if new else
                   f"Aiguillage : {len(lines)} étape(s) en retard ou à échéance proche")
        body = "Bonjour,\n"
        if new:
            body += "\nNouvelles étapes depuis hier :\n" + "\n".join(new) + "\n"
        if lines:
            body += "\nVoici les étapes qui vous attendent :\n" + "\n".join(lines) + "\n"
        body += f"\nMes tâches : {public_url()}/taches/"
    elif message.kind == "etape":
        subject = f"Aiguillage : nouvelle étape — dossier {payload['case']}"
        body = (f"Bonjour,\n\nUne nouvelle étape vous attend : « {payload['step']} » du "
                f"dossier {payload['case']}.\n\n{_link(payload['task_id'])}\n\n"
                "Vous recevez un message à chaque nouvelle étape ; vous pouvez choisir le "
                f"récapitulatif quotidien dans Mon compte : {public_url()}/compte/")
    elif message.kind == "retard":
        subject = f"Aiguillage : étape en retard — dossier {payload['case']}"
        body = (f"Bonjour,\n\nL'étape « {payload['step']} » du dossier {payload['case']} "
                f"devait être réalisée le {_day(payload['due_at'])}.")
    elif message.kind in ORIENTATION_NOTICES:
        subject, body = _orientation_mail(message.kind, payload)
    elif message.kind == "seance":  # commission_sessions.send_files: no personal data
        subject = f"Aiguillage : dossiers de la séance du {payload.get('when')}"
        body = (f"Bonjour,\n\nL'ordre du jour et les dossiers de la séance de la commission du "
                f"{payload.get('when')} ({payload.get('place')}) sont diffusés : "
                f"{payload.get('cases')} situation(s). Ils restent consultables jusqu'à la "
                f"fin de la séance.\n\n{public_url()}/commission/seances/"
                f"{payload.get('session_id')}")
    else:
        subject = f"Aiguillage : relance — dossier {payload.get('case')}"
        body = (f"Bonjour,\n\n{payload.get('notice')} pour l'étape "
                f"« {payload.get('step_name') or payload.get('step')} » du dossier "
                f"{payload.get('case')}.")
    return Mail(tuple(to), subject, body + "\n\n— Aiguillage", message.dedupe_key)


# an orientation's notices go to the people of one organisation (payload
# ``organisation_id``): the operator when it arrives, the referrer when it is answered or
# expires (engine/services/orientations.py writes them)
ORIENTATION_NOTICES = frozenset({"orientation", "orientation-reponse", "orientation-expiree"})


def _orientation_mail(kind: str, payload: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of an orientation's notice: the case's reference, the service, the
    state and the refusal's reasons (coded labels); never the household's data, nor the
    operator's message (it is read on the case page)."""
    case, service = payload.get("case"), payload.get("service")
    link = f"{public_url()}/dossiers/{payload.get('case_id')}"
    if kind == "orientation":
        return (f"Aiguillage : nouvelle orientation — dossier {case}",
                f"Bonjour,\n\nLe dossier {case} est orienté vers votre service « {service} » "
                f"({str(payload.get('state', '')).lower()}).\n\n{link}")
    if kind == "orientation-expiree":
        return (f"Aiguillage : orientation expirée — dossier {case}",
                f"Bonjour,\n\nL'orientation du dossier {case} vers « {service} » a expiré "
                f"sans réponse du service.\n\n{link}")
    reasons = f"\nMotifs : {payload['reasons']}." if payload.get("reasons") else ""
    return (f"Aiguillage : réponse à l'orientation — dossier {case}",
            f"Bonjour,\n\nLe service « {service} » a répondu à l'orientation du dossier "
            f"{case} : {str(payload.get('state', '')).lower()}.{reasons}\nLe message du "
            f"service est à lire sur la page du dossier.\n\n{link}")


# --------------------------------------------------------------------------- answer links
# The message that carries a signed answer link (engine.services.answer_links, issue #13 item
# 5) goes to an organisation's address, not to an account; its text lives with the links.
LINK_KIND = "lien_reponse"  # answer_links.KIND


def _answer_links() -> Any:
    # answer_links imports orientations and tasks, which write notices here: a cycle
    from engine.services import answer_links
    return answer_links


def _link(task_id: object) -> str:
    return f"{public_url()}/taches/{task_id}"


def _recipients(session: Session, message: OutboxMessage) -> list[str]:
    if message.recipient_user_id is not None:
        user = session.get(User, message.recipient_user_id)
        return [user.email] if user is not None and user.active \
            and user.kind == PERSON else []
    if message.kind in ORIENTATION_NOTICES and message.territory_id is not None:
        return sorted(set(session.scalars(
            select(User.email).join(Membership, Membership.user_id == User.id).where(
                Membership.territory_id == message.territory_id, User.active.is_(True),
                User.kind == PERSON,
                Membership.organisation_id == message.payload.get("organisation_id")))))
    if not message.recipient_role or message.territory_id is None:
        return []
    organisation_id: int | None = None
    if message.recipient_role != COORDINATOR_ROLE:
        bound = _bound_to(session, message)
        if bound is not None:  # a step bound to a part: its organisation's people only
            if bound[1] is None:
                return []
            organisation_id = bound[1]
    return sorted(set(session.scalars(
        select(User.email).join(Membership, Membership.user_id == User.id).where(
            *_holding(message.territory_id, message.recipient_role, organisation_id)))))


def _bound_to(session: Session, message: OutboxMessage) -> tuple[str, int | None] | None:
    """(part, organisation) of the step a role-addressed notice is about, when its lane is
    bound to a part; None for an unbound step (the role across the territory)."""
    payload = message.payload
    if payload.get("part"):
        return str(payload["part"]), payload.get("organisation_id")
    if message.kind == "relance" and message.case_id is not None and payload.get("step"):
        row = session.execute(select(HumanTask.part, HumanTask.organisation_id).where(
            HumanTask.case_id == message.case_id, HumanTask.bpmn_id == payload["step"],
            HumanTask.status == TaskStatus.OPEN).limit(1)).first()
        if row is not None and row.part is not None:
            return row.part, row.organisation_id
    return None


def _day(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(PARIS).strftime("%d/%m/%Y")


def tick(session: Session, clock: Clock, sender: Sender) -> Report:
    """One pass of the scheduler: new steps, overdue notices, daily counts, digests,
    delivery."""
    report = Report(new_steps=scan_new_steps(session, clock),
                    overdue=scan_overdue(session, clock))
    with transaction(session):
        oversight.record_daily_counts(session, clock)
    report.digests = write_digests(session, clock)
    delivered = deliver(session, clock, sender)
    report.sent, report.failed = delivered.sent, delivered.failed
    return report
