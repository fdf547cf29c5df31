"""Webhooks out (issue #18, item 3): events written in the transaction that makes them true,
one delivery id per event and subscription, signed deliveries retried with backoff, leases,
the attempts' log, and a real receiver that gets each event exactly once across a restart of
the sender."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import FixedClock
from engine.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from engine.mail import LogSender
from engine.persistence.db import transaction
from engine.persistence.models import (
    AuditEvent,
    HumanTask,
    OutboxMessage,
    WebhookAttempt,
)
from engine.persistence.models.outbox import OutboxStatus
from engine.services import cases, notices, tasks, webhooks
from engine.services.access import Actor
from engine.webhook_sender import (
    Delivery,
    HttpSender,
    RecordingSender,
    headers,
    sign,
    url_problem,
)
from tests.integration.factories import (
    World,
    declare_parts,
    make_org,
    make_party,
    make_user,
    make_world,
    start_at_decision,
)
from tests.integration.webhook_receiver import receiver, verify

ROOT = Path(__file__).resolve().parents[2]
ALL = list(webhooks.EVENTS)


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    world = make_world(session, clock)
    declare_parts(session, world.territory.id, [
        {"key": "operator", "label": "Opérateur d'accompagnement"}])
    return world


@pytest.fixture
def admin(session: Session, clock: FixedClock, world: World) -> Actor:
    return make_user(session, clock, "admin@demo.test", world.territory.id, "admin")


def _subscribe(session: Session, clock: FixedClock, world: World, admin: Actor,
               organisation: int, events: list[str] | None = None,
               url: str = "https://partenaire.example/aiguillage") -> webhooks.Created:
    return webhooks.create(session, clock, admin, world.territory.id, organisation, url,
                           events or ALL)


def _rows(session: Session) -> list[OutboxMessage]:
    session.commit()
    return list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == webhooks.KIND).order_by(OutboxMessage.id)))


def _offered(session: Session, clock: FixedClock, world: World, organisation: int,
             name: str = "Ménage Secret") -> HumanTask:
    """A case waiting on ``decision``, bound to the operator part held by ``organisation``
    as the runtime writes it."""
    case_id = start_at_decision(session, clock, world, name)
    task = session.scalar(select(HumanTask).where(HumanTask.case_id == case_id,
                                                  HumanTask.bpmn_id == "decision"))
    assert task is not None
    session.execute(update(HumanTask).where(HumanTask.id == task.id).values(
        part="operator", organisation_id=organisation))
    session.commit()
    return task


def test_subscriptions_are_checked_and_audited_and_the_secret_is_shown_once(
        session: Session, clock: FixedClock, world: World, admin: Actor) -> None:
    relais = make_org(session, clock, world.territory.id, "Relais")
    created = _subscribe(session, clock, world, admin, relais, ["step.offered"])
    assert created.secret.startswith("whsec_") and len(created.secret) > 40
    [listed] = webhooks.listed(session, admin, world.territory.id)
    assert listed.events == ("step.offered",) and listed.organisation == "Relais"
    assert created.secret not in repr(listed)
    audited = session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.create"))
    assert audited is not None and created.secret not in json.dumps(audited.detail)
    for url in ("http://partenaire.example/x", "ftp://x.example/", "https://", "https://a b",
                "https://user:pw@x.example/", "https://x.example/" + "a" * 500, "\x00"):
        with pytest.raises(InvalidInput):
            _subscribe(session, clock, world, admin, relais, url=url)
    with pytest.raises(InvalidInput):
        _subscribe(session, clock, world, admin, relais, ["case.deleted"])
    with pytest.raises(InvalidInput):
        webhooks.create(session, clock, admin, world.territory.id, relais,
                        "https://partenaire.example/", [])
    with pytest.raises(InvalidInput):
        _subscribe(session, clock, world, admin, 999_999)
    with pytest.raises(PermissionDenied):
        _subscribe(session, clock, world, world.coordinator, relais)
    with pytest.raises(NotFound):
        webhooks.deactivate(session, clock, world.outsider, listed.id)
    assert url_problem("http://127.0.0.1:8080/x") is None  # loopback: tests
    webhooks.deactivate(session, clock, admin, listed.id)
    with pytest.raises(InvalidTransition):
        webhooks.deactivate(session, clock, admin, listed.id)
    assert len(webhooks.listed(session, admin, world.territory.id)) == 1


def test_a_step_offered_is_one_delivery_per_matching_subscription_without_personal_data(
        session: Session, clock: FixedClock, world: World, admin: Actor) -> None:
    relais = make_org(session, clock, world.territory.id, "Relais")
    horizon = make_org(session, clock, world.territory.id, "Horizon")
    first = _subscribe(session, clock, world, admin, relais, ["step.offered"]).subscription
    second = _subscribe(session, clock, world, admin, relais, ["step.overdue"],
                        url="https://partenaire.example/retards").subscription
    _subscribe(session, clock, world, admin, horizon)
    stopped = _subscribe(session, clock, world, admin, relais,
                         url="https://partenaire.example/ancien").subscription
    webhooks.deactivate(session, clock, admin, stopped.id)
    task = _offered(session, clock, world, relais)
    notices.scan_new_steps(session, clock)
    [row] = _rows(session)
    assert row.dedupe_key == f"webhook:{first.id}:step.offered:{task.id}:{relais}"
    body = row.payload["body"]
    assert body["type"] == "step.offered" and body["id"] == row.dedupe_key
    assert body["data"]["step"]["name"] == "Statuer sur l'orientation"
    assert body["data"]["circuit"] == world.circuit.title
    assert "Secret" not in json.dumps(row.payload)  # never the household's name
    notices.scan_new_steps(session, clock)  # again: nothing new
    assert len(_rows(session)) == 1
    # overdue: the other subscription of the same organisation
    session.execute(update(HumanTask).where(HumanTask.id == task.id).values(
        due_at=clock.now() + timedelta(days=1), due_sort=clock.now() + timedelta(days=1)))
    session.commit()
    clock.advance(timedelta(days=2))
    notices.scan_overdue(session, clock)
    assert [r.dedupe_key for r in _rows(session)][1:] == [
        f"webhook:{second.id}:step.overdue:{task.id}"]
    # the mail delivery leaves webhooks alone
    notices.deliver(session, clock, LogSender())
    assert {r.status for r in _rows(session)} == {OutboxStatus.PENDING}
    assert all(r.attempts == 0 for r in _rows(session))


def test_a_rolled_back_close_emits_nothing_and_a_close_emits_once(
        session: Session, clock: FixedClock, world: World, admin: Actor) -> None:
    relais = make_org(session, clock, world.territory.id, "Relais")
    subscription = _subscribe(session, clock, world, admin, relais, ["case.closed"]).subscription
    case_id = start_at_decision(session, clock, world, "Ménage Secret")
    make_party(session, clock, case_id, "operator", relais)
    with pytest.raises(RuntimeError), transaction(session):
        cases.close(session, clock, world.coordinator, case_id, "Essai")
        assert len(session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == webhooks.KIND)).all()) == 1  # written in the transaction
        raise RuntimeError("the business transaction fails after the event was written")
    assert _rows(session) == []
    cases.close(session, clock, world.coordinator, case_id, "Essai")
    [row] = _rows(session)
    assert row.dedupe_key == f"webhook:{subscription.id}:case.closed:{case_id}"
    assert row.payload["body"]["data"]["status"] == "closed"
    # emitting the same event again (a retried pass) writes nothing
    with transaction(session):
        assert webhooks.emit_to_parties(session, clock.now(), "case.closed",
                                        f"case.closed:{case_id}", world.territory.id,
                                        case_id, {}) == 0
    assert len(_rows(session)) == 1


def test_a_case_reaching_its_end_is_told_to_its_parties(
        session: Session, clock: FixedClock, world: World, admin: Actor) -> None:
    relais = make_org(session, clock, world.territory.id, "Relais")
    _subscribe(session, clock, world, admin, relais, ["case.closed"])
    case_id = start_at_decision(session, clock, world, "Ménage Secret")
    make_party(session, clock, case_id, "operator", relais)
    task_id = session.scalar(select(HumanTask.id).where(
        HumanTask.case_id == case_id, HumanTask.bpmn_id == "decision"))
    assert task_id is not None
    tasks.complete(session, clock, world.operator, task_id, {"decision": "refus_personne"})
    [row] = _rows(session)
    assert row.payload["body"]["data"]["status"] == "completed"
    assert row.payload["body"]["data"]["end"]["id"]


def test_failures_back_off_then_give_up_and_an_administrator_retries(
        session: Session, clock: FixedClock, world: World, admin: Actor) -> None:
    relais = make_org(session, clock, world.territory.id, "Relais")
    created = _subscribe(session, clock, world, admin, relais)
    with transaction(session):
        webhooks.emit(session, clock.now(), "case.closed", "case.closed:1",
                      world.territory.id, [relais], {"case": "X"})
    sender = RecordingSender(statuses=[500] * 100)
    waits = []
    for attempt in range(1, webhooks.MAX_ATTEMPTS + 1):
        report = webhooks.deliver(session, clock, sender, jitter=lambda: 0.0)
        [row] = _rows(session)
        if row.status == OutboxStatus.FAILED:
            break
        assert report.retried == 1 and row.attempts == attempt
        assert row.lease_until is not None
        waits.append(row.lease_until - clock.now())
        assert webhooks.deliver(session, clock, sender).retried == 0  # not due yet
        clock.set(row.lease_until)
    assert waits[:5] == [timedelta(seconds=s) for s in (30, 60, 120, 240, 480)]
    assert max(waits) == webhooks.LONGEST_WAIT
    assert row.status == OutboxStatus.FAILED  # after about a day
    assert row.created_at + webhooks.GIVE_UP - webhooks.LONGEST_WAIT * 2 < clock.now()
    ids = {d.delivery_id for d, _ in sender.sent}
    assert ids == {row.dedupe_key}  # one id whatever the retries
    subscription, log = webhooks.attempts(session, admin, created.subscription.id)
    assert len(log) == len(sender.sent) and log[0].next_at is None
    assert log[-1].error == "réponse 500" and log[-1].status_code == 500
    assert log[-1].next_at == log[-1].at + timedelta(seconds=30)
    # the administrator retries: one more attempt, now delivered
    with pytest.raises(PermissionDenied):
        webhooks.retry(session, clock, world.coordinator, row.id)
    webhooks.retry(session, clock, admin, row.id)
    with pytest.raises(InvalidTransition):
        webhooks.retry(session, clock, admin, row.id)
    report = webhooks.deliver(session, clock, RecordingSender([200]))
    assert report.delivered == 1
    assert _rows(session)[0].status == OutboxStatus.SENT


def test_jitter_adds_at_most_a_fifth_and_a_timeout_is_said(
        session: Session, clock: FixedClock, world: World, admin: Actor) -> None:
    assert webhooks.wait_before(1, 1.0) == timedelta(seconds=36)
    assert webhooks.wait_before(30, 0.5) == webhooks.LONGEST_WAIT * 1.1
    relais = make_org(session, clock, world.territory.id, "Relais")
    created = _subscribe(session, clock, world, admin, relais)
    with transaction(session):
        webhooks.emit(session, clock.now(), "case.closed", "case.closed:1",
                      world.territory.id, [relais], {"case": "X"})
    webhooks.deliver(session, clock, RecordingSender([None]), jitter=lambda: 0.5)
    _, [line] = webhooks.attempts(session, admin, created.subscription.id)
    assert line.status_code is None and line.error == "délai dépassé"
    assert line.next_at == line.at + timedelta(seconds=33)


def test_a_leased_delivery_is_not_sent_twice_until_its_lease_ends(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock, world: World,
        admin: Actor) -> None:
    relais = make_org(session, clock, world.territory.id, "Relais")
    _subscribe(session, clock, world, admin, relais)
    with transaction(session):
        webhooks.emit(session, clock.now(), "case.closed", "case.closed:1",
                      world.territory.id, [relais], {"case": "X"})
    [first] = webhooks.claim(session, clock)  # a sender that dies before marking it
    with sessions() as other:
        assert webhooks.claim(other, clock) == []
        clock.advance(webhooks.LEASE)
        [again] = webhooks.claim(other, clock)
    assert again.delivery is not None and first.delivery is not None
    assert again.delivery.delivery_id == first.delivery.delivery_id
    assert again.delivery.body == first.delivery.body  # byte for byte


def test_a_deactivated_subscription_fails_its_pending_deliveries(
        session: Session, clock: FixedClock, world: World, admin: Actor) -> None:
    relais = make_org(session, clock, world.territory.id, "Relais")
    created = _subscribe(session, clock, world, admin, relais)
    with transaction(session):
        webhooks.emit(session, clock.now(), "case.closed", "case.closed:1",
                      world.territory.id, [relais], {"case": "X"})
    webhooks.deactivate(session, clock, admin, created.subscription.id)
    sender = RecordingSender()
    assert webhooks.deliver(session, clock, sender).failed == 1
    assert sender.sent == [] and _rows(session)[0].status == OutboxStatus.FAILED


def test_the_documented_verifier_refuses_replays_and_tampering() -> None:
    secret = webhooks.new_secret()
    delivery = Delivery("https://x.example/", "webhook:1:case.closed:7", b'{"a":1}', secret)
    now = 1_800_000_000
    signed = headers(delivery, now)
    assert verify(secret, signed, delivery.body, now=now + 10)
    assert not verify(secret, signed, delivery.body, now=now + 301)  # replayed later
    assert not verify(secret, signed, b'{"a":2}', now=now)  # body changed
    assert not verify(webhooks.new_secret(), signed, delivery.body, now=now)  # other secret
    moved = {**signed, "Webhook-Timestamp": str(now + 100)}  # a fresher stamp on old proof
    assert not verify(secret, moved, delivery.body, now=now + 100)
    assert signed["Webhook-Signature"] == sign(secret, delivery.delivery_id, now, delivery.body)


def test_no_redirect_is_followed_and_private_addresses_are_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    secret = webhooks.new_secret()
    monkeypatch.delenv("AIGUILLAGE_WEBHOOKS_ALLOW_PRIVATE", raising=False)
    with receiver(secret) as (url, got):
        answer = HttpSender().post(Delivery(url, "id-1", b"{}", secret), int(time.time()))
        assert answer.status_code is None and answer.error is not None
        assert "privée" in answer.error and got.requests == []
        monkeypatch.setenv("AIGUILLAGE_WEBHOOKS_ALLOW_PRIVATE", "1")
        answer = HttpSender().post(Delivery(url, "id-1", b"{}", secret), int(time.time()))
        assert answer.delivered and got.requests == [("id-1", b"{}", True)]


@pytest.mark.slow
def test_a_receiver_gets_each_event_once_across_a_restart_of_the_sender(
        session: Session, db_url: str, clock: FixedClock, world: World, admin: Actor) -> None:
    """20 events; the first sender is killed (SIGKILL) while the receiver holds its 5th
    delivery (received, not yet answered), a second one starts past its leases: every event
    arrives, each under one id, each signature valid, the 5th twice with the same id and
    body (the receiver deduplicates on the id)."""
    relais = make_org(session, clock, world.territory.id, "Relais")
    with receiver("", delay=0.05, hang_on=5) as (url, got):
        created = _subscribe(session, clock, world, admin, relais, url=url)
        got.secret = created.secret
        with transaction(session):
            for n in range(20):
                webhooks.emit(session, clock.now(), "case.closed", f"case.closed:{n}",
                              world.territory.id, [relais], {"case": f"REF-{n:02d}"})
        expected = {r.dedupe_key for r in _rows(session)}
        assert len(expected) == 20
        env = {**os.environ, "AIGUILLAGE_WEBHOOKS_ALLOW_PRIVATE": "1"}
        first = _child(db_url, 0, env)
        deadline = time.monotonic() + 60
        while len(got.ids()) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert first.stdout is not None
        first.stdout.close()
        assert len(got.ids()) == 5, "killed mid-way, the 5th delivery unanswered"
        held = got.requests[4][0]
        second = _child(db_url, 2 * webhooks.LEASE.total_seconds(), env)
        out, _ = second.communicate(timeout=120)
        assert second.returncode == 0 and "done" in out
    assert got.ids() == expected  # no event lost, no other id
    assert all(ok for _, _, ok in got.requests)  # every signature valid
    bodies: dict[str, set[bytes]] = {}
    for delivery_id, body, _ in got.requests:
        bodies.setdefault(delivery_id, set()).add(body)
    assert all(len(b) == 1 for b in bodies.values())  # a re-sent delivery is the same
    assert [i for i, _, _ in got.requests].count(held) == 2  # re-sent, under its id
    cases_seen = {json.loads(next(iter(b)))["data"]["case"] for b in bodies.values()}
    assert len(cases_seen) == 20  # each event under one id
    assert {r.status for r in _rows(session)} == {OutboxStatus.SENT}
    session.commit()
    assert session.scalar(select(WebhookAttempt.id).where(
        WebhookAttempt.status_code == 200)) is not None


def _child(db_url: str, ahead: float, env: dict[str, str]) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.webhook_child", db_url, str(ahead)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child



def test_an_orientation_answered_is_told_to_the_referrer_with_coded_reasons_only(
        session: Session, clock: FixedClock, tmp_path: Path) -> None:
    from tests.integration.orientation_world import answer, new_case, orient, oriented_world

    place = oriented_world(session, clock, tmp_path)
    admin = make_user(session, clock, "admin@demo.test", place.world.territory.id, "admin")
    referrer = _subscribe(session, clock, place.world, admin, place.referrer_org,
                          ["orientation.answered"]).subscription
    _subscribe(session, clock, place.world, admin, place.org_a, ["orientation.answered"])
    case_id = new_case(session, clock, place, name="Ménage Secret")
    orient(session, clock, place, case_id, place.free)
    answer(session, clock, place.worker_a, case_id, decision="acceptee",
           message_personne="Un rendez-vous vous sera proposé",
           message_orienteur="Appelez Madame Secret")
    [row] = _rows(session)
    assert row.dedupe_key.startswith(f"webhook:{referrer.id}:orientation.answered:")
    told = row.payload["body"]["data"]["orientation"]
    assert told["state"] == "acceptee" and told["service"] == "AVDL Alpha"
    assert "Secret" not in json.dumps(row.payload) and "rendez-vous" not in json.dumps(row.payload)


def test_the_scheduler_tick_delivers_webhooks(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock, world: World,
        admin: Actor) -> None:
    from engine import scheduler

    relais = make_org(session, clock, world.territory.id, "Relais")
    _subscribe(session, clock, world, admin, relais)
    with transaction(session):
        webhooks.emit(session, clock.now(), "case.closed", "case.closed:1",
                      world.territory.id, [relais], {"case": "X"})
    sender = RecordingSender()
    tick = scheduler.run_once(sessions, clock, "essai", webhook_sender=sender)
    assert tick.webhooks == 1 and len(sender.sent) == 1
    assert scheduler.run_once(sessions, clock, "essai", webhook_sender=sender).webhooks == 0
