"""Administrators: overdue dashboard, counts, history, notices, repairs, users, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.errors import Conflict, InvalidTransition, NotFound, PermissionDenied
from engine.mail import LogSender, Mail
from engine.persistence.models import OutboxMessage
from engine.services import audit, cases, notices, oversight, tasks, users
from engine.services.access import SYSTEM, Actor, load_actor
from tests.integration.factories import World, make_user, make_world


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return make_world(session, clock)


@pytest.fixture
def admin(session: Session, clock: FixedClock, world: World) -> Actor:
    return make_user(session, clock, "admin@demo.test", world.territory.id, "admin")


def _cases(session: Session, clock: FixedClock, world: World, count: int) -> list[int]:
    return [cases.start(session, clock, world.coordinator, world.circuit.id,
                        {"nom_menage": f"Ménage {n}"}).id for n in range(count)]


def test_overdue_steps_counts_and_export(session: Session, clock: FixedClock, world: World,
                                         admin: Actor) -> None:
    _cases(session, clock, world, 3)
    assert oversight.steps(session, clock, admin).total == 0
    clock.advance(timedelta(days=6))
    page = oversight.steps(session, clock, admin)
    assert page.total == 3
    row = page.items[0]
    assert (row.step, row.territory, row.lane, row.days_late) == (
        "Analyser la demande", world.territory.name, "Coordination de la plateforme", 1)
    counts = oversight.counts(session, clock, admin)
    assert counts.total == 3
    assert counts.by_step == [("Analyser la demande", 3)]
    assert counts.by_organisation == [("Non attribuée", 3)]
    lines = list(oversight.export_rows(session, clock, admin))
    assert lines[0][0] == "dossier" and len(lines) == 4
    filtered = oversight.steps(session, clock, admin, filters=oversight.Filters(step="decision"))
    assert filtered.total == 0


def test_export_reads_chunks_after_one_another_without_counting(
        session: Session, clock: FixedClock, world: World, admin: Actor,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #17: 10,000 overdue steps took seconds to export, a count and an offset per page
    of 200; now chunks, each after the last step read, in the screen's order, none twice."""
    _cases(session, clock, world, 5)
    clock.advance(timedelta(days=6))
    monkeypatch.setattr(oversight, "EXPORT_CHUNK", 2)
    seen: list[str] = []
    bind = session.get_bind()

    def _seen(conn: object, cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)
    event.listen(bind, "before_cursor_execute", _seen)
    try:
        lines = list(oversight.export_rows(session, clock, admin))
    finally:
        event.remove(bind, "before_cursor_execute", _seen)
    screen = oversight.steps(session, clock, admin).items
    assert [line[0] for line in lines[1:]] == [r.case_reference for r in screen]
    assert len(lines) == 6 and len({line[0] for line in lines[1:]}) == 5
    selects = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert not [s for s in selects if "count(" in s.lower()]
    assert len(selects) <= 3 + 2  # three chunks of two, plus what the actor check reads
    # the columns shown, not whole rows (10,000 rows built as objects cost seconds)
    assert not [s for s in selects if "human_task.spiff_task_id" in s]


def test_coming_deadlines_and_steps_without_deadline(session: Session, clock: FixedClock,
                                                     world: World, admin: Actor) -> None:
    [case_id] = _cases(session, clock, world, 1)
    assert oversight.steps(session, clock, admin, view="coming").total == 1
    [task] = tasks.my_tasks(session, clock, world.coordinator).items
    tasks.complete(session, clock, world.coordinator, task.id, {"mesure": "avdl"})
    clock.advance(timedelta(days=16))  # escalation fires only with the scheduler
    from engine.persistence.db import session_factory
    from engine.scheduler import run_once
    run_once(session_factory(session.get_bind()), clock, "test")  # type: ignore[arg-type]
    clock.advance(timedelta(hours=1))
    waiting = oversight.steps(session, clock, admin, view="no_deadline", older_than_days=0)
    assert [r.step for r in waiting.items] == ["Relancer l'opérateur ou réorienter"]
    assert oversight.steps(session, clock, admin, view="no_deadline", older_than_days=3).total == 0


def test_only_administrators_of_the_territory(session: Session, clock: FixedClock,
                                              world: World, admin: Actor) -> None:
    for actor in (world.coordinator, world.operator, world.outsider):
        with pytest.raises(PermissionDenied):
            oversight.steps(session, clock, actor)
    elsewhere = world.outsider.territories()[0]
    with pytest.raises(PermissionDenied):
        oversight.steps(session, clock, admin, filters=oversight.Filters(territory_id=elsewhere))


def test_daily_counts_are_recorded_once_per_day(session: Session, clock: FixedClock,
                                                world: World, admin: Actor) -> None:
    _cases(session, clock, world, 2)
    clock.advance(timedelta(days=6))
    assert oversight.record_daily_counts(session, clock) >= 1
    session.commit()
    assert oversight.record_daily_counts(session, clock) == 0
    clock.advance(timedelta(days=1))
    oversight.record_daily_counts(session, clock)
    session.commit()
    assert [(o, s) for _, o, s in oversight.history(session, admin)] == [(2, 0), (2, 0)]


def test_overdue_notices_are_written_and_sent_once(session: Session, clock: FixedClock,
                                                   world: World, admin: Actor) -> None:
    _cases(session, clock, world, 2)
    clock.advance(timedelta(days=6))
    assert notices.scan_overdue(session, clock) == 2
    assert notices.scan_overdue(session, clock) == 0
    sender = LogSender()
    report = notices.deliver(session, clock, sender)
    assert report.sent == 4
    assert {m.to for m in sender.sent} == {("coord@demo.test",)}
    restarted = LogSender()  # a new process: nothing pending is sent again
    assert notices.deliver(session, clock, restarted).sent == 0 and restarted.sent == []
    assert len({m.message_id for m in sender.sent}) == 4


def test_failed_delivery_is_retried_then_given_up(session: Session, clock: FixedClock,
                                                  world: World) -> None:
    _cases(session, clock, world, 1)
    clock.advance(timedelta(days=6))
    notices.scan_overdue(session, clock)

    class Broken:
        def send(self, mail: Mail) -> None:
            raise OSError("smtp down")

    assert notices.deliver(session, clock, Broken()).failed == 2
    assert notices.deliver(session, clock, Broken()).failed == 0  # leased until back-off ends
    for _ in range(notices.MAX_ATTEMPTS):
        clock.advance(timedelta(hours=2))
        notices.deliver(session, clock, Broken())
    statuses = set(session.scalars(select(OutboxMessage.status)))
    assert statuses == {"failed"}


def test_daily_digest_once_per_person_per_day(session: Session, clock: FixedClock,
                                              world: World) -> None:
    _cases(session, clock, world, 2)
    clock.advance(timedelta(days=4))  # 13 Jan, 14:00 UTC: after 7:00 in Paris
    assert notices.write_digests(session, clock) == 1  # the coordinator; the operator has none
    assert notices.write_digests(session, clock) == 0
    digest = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "digest"))
    assert digest is not None and len(digest.payload["steps"]) == 2


def test_reset_a_case_to_an_earlier_step(session: Session, clock: FixedClock, world: World,
                                         admin: Actor) -> None:
    [case_id] = _cases(session, clock, world, 1)
    [task] = tasks.my_tasks(session, clock, world.coordinator).items
    tasks.complete(session, clock, world.coordinator, task.id, {"mesure": "avdl"})
    assert cases.steps_done(session, clock, admin, case_id) == [("analyse", "Analyser la demande")]
    with pytest.raises(PermissionDenied):
        cases.reset(session, clock, world.coordinator, case_id, "analyse")
    with pytest.raises(NotFound):
        cases.reset(session, clock, admin, case_id, "jamais")
    cases.reset(session, clock, admin, case_id, "analyse")
    open_steps = [t.bpmn_id for t in tasks.my_tasks(session, clock, SYSTEM).items]
    assert open_steps == ["analyse"]
    detail = cases.get(session, clock, admin, case_id)
    assert {t.status for t in detail.timers} == {"cancelled"}
    assert detail.timeline[-1][1] == "case.reset"


def test_last_administrator_cannot_be_deactivated(session: Session, clock: FixedClock,
                                                  world: World, admin: Actor) -> None:
    with pytest.raises(Conflict, match="dernier administrateur"):
        users.set_active(session, clock, admin, admin.user_id, False)  # type: ignore[arg-type]
    second = make_user(session, clock, "admin2@demo.test", world.territory.id, "admin")
    users.set_active(session, clock, admin, second.user_id, False)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        load_actor(session, second.user_id)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        users.set_active(session, clock, admin, world.outsider.user_id, False)  # type: ignore[arg-type]
    password = users.reset_password(session, clock, admin, world.operator.user_id)  # type: ignore[arg-type]
    assert users.authenticate(session, "op@demo.test", password) is not None


def test_audit_log_filters_and_export(session: Session, clock: FixedClock, world: World,
                                      admin: Actor) -> None:
    [case_id] = _cases(session, clock, world, 1)
    cases.get(session, clock, world.coordinator, case_id)
    rows, total = audit.search(session, admin, audit.AuditFilters(action="case.read"))
    assert total == 1 and rows[0].user == "Coord"  # the name, never the e-mail
    assert rows[0].label == "Lecture du dossier"
    reference = rows[0].case_reference
    rows, total = audit.search(session, admin, audit.AuditFilters(case_reference=reference))
    assert {r.action for r in rows} == {"case.start", "case.read"}
    day = clock.now().date()
    assert audit.search(session, admin, audit.AuditFilters(since=day + timedelta(days=1)))[1] == 0
    lines = list(audit.export_rows(session, admin, audit.AuditFilters(
        person="coord@demo.test")))
    assert lines[0][0] == "date et heure" and len(lines) == 3
    assert len(list(audit.export_rows(session, admin, audit.AuditFilters(person="coo")))) == 3
    with pytest.raises(PermissionDenied):
        audit.search(session, world.coordinator, audit.AuditFilters())
    count = session.scalar(select(func.count()).select_from(OutboxMessage))
    assert count == 0


def test_retry_refuses_a_timer_that_already_fired(session: Session, clock: FixedClock,
                                                  world: World, admin: Actor) -> None:
    from engine.persistence.models import Timer
    from engine.services import timers
    _cases(session, clock, world, 1)
    [task] = tasks.my_tasks(session, clock, world.coordinator).items
    tasks.complete(session, clock, world.coordinator, task.id, {"mesure": "avdl"})
    timer = session.scalar(select(Timer).order_by(Timer.id))
    assert timer is not None
    with pytest.raises(InvalidTransition):
        timers.retry(session, clock, admin, timer.id)


def test_move_running_cases_to_a_new_version(session: Session, clock: FixedClock, world: World,
                                             admin: Actor) -> None:
    from dataclasses import replace as dc_replace

    from engine.errors import Conflict
    from engine.services import circuits, moves
    from tests.conftest import mini_bundle
    [waiting_decision, at_analysis] = _cases(session, clock, world, 2)
    [task] = [t for t in tasks.my_tasks(session, clock, world.coordinator).items
              if t.case_id == waiting_decision]
    tasks.complete(session, clock, world.coordinator, task.id, {"mesure": "avdl"})
    base = mini_bundle()
    text = base.bpmn["mini.bpmn"].decode().replace('name="Statuer sur l\'orientation"',
                                                   'name="Décider de l\'orientation"')
    v2 = circuits.deploy(session, clock, world.coordinator, world.territory.id, "mini",
                         dc_replace(base, bpmn={**base.bpmn, "mini.bpmn": text.encode()}),
                         "renommage")
    with pytest.raises(PermissionDenied):
        moves.preview(session, clock, world.coordinator, world.circuit.id, v2.id)
    found = {m.case_id: m for m in moves.preview(session, clock, admin, world.circuit.id, v2.id)}
    assert set(found) == {waiting_decision, at_analysis}
    assert found[waiting_decision].preview.changed_active == ["Statuer sur l'orientation"]
    assert not found[waiting_decision].preview.blocked
    moves.move(session, clock, admin, waiting_decision, v2.id)
    [moved] = [t for t in tasks.my_tasks(session, clock, world.operator).items
               if t.case_id == waiting_decision]
    assert moved.name == "Décider de l'orientation"
    with pytest.raises(InvalidTransition):
        moves.move(session, clock, admin, waiting_decision, v2.id)
    detail = cases.get(session, clock, admin, waiting_decision)
    assert detail.version_number == 2 and detail.timeline[-1][1] == "case.move"
    del Conflict


def test_the_dashboard_reads_the_overdue_steps_once_for_its_counts(
        session: Session, clock: FixedClock, world: World, admin: Actor) -> None:
    """Issue #17: the dashboard counted the overdue steps four times (the list's total, the
    total, by step, by territory: 3 ms each over 10,000 at 100k); now one grouped read gives
    the counts, and the list takes its total from them."""
    _cases(session, clock, world, 4)
    clock.advance(timedelta(days=6))
    bind = session.get_bind()
    seen: list[str] = []

    def _seen(conn: object, cursor: object, statement: str, *_: object) -> None:
        if "count(" in statement.lower() and "human_task" in statement:
            seen.append(statement)
    event.listen(bind, "before_cursor_execute", _seen)
    try:
        counts = oversight.counts(session, clock, admin)
        page = oversight.steps(session, clock, admin, counted=counts)
    finally:
        event.remove(bind, "before_cursor_execute", _seen)
    assert len(seen) == 2  # the grouped read and the organisations'
    assert (counts.total, counts.by_step, counts.by_territory) == (
        4, [("Analyser la demande", 4)], [(world.territory.name, 4)])
    alone = oversight.steps(session, clock, admin)
    assert (page.total, page.items) == (alone.total, alone.items) == (4, alone.items)
    coming = oversight.steps(session, clock, admin, view="coming", counted=counts)
    assert coming.total == 0  # another view counts its own
