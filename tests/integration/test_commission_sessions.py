"""Commission sessions (issue #15, item 3): cases join a session until its agenda closes, the
files go out M days before, a decision per case resumes each case's own circuit (C3 alone or
inside C1 through the call activity), members read the files only while they are out, and a
timer start event plans each session once. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import FixedClock
from engine.errors import Conflict, FormInvalid, NotFound, PermissionDenied
from engine.persistence.models import (
    AuditEvent,
    Circuit,
    CommissionSession,
    HumanTask,
    OutboxMessage,
    SessionCase,
)
from engine.services import cases, circuits, commission_sessions, tasks
from engine.services.access import SYSTEM, Actor
from tests.integration.factories import ROOT, give_consent, make_user

SCENARIOS = ROOT / "tests" / "scenarios" / "reference"
DECISION = {"membres_presents": "SIAO, CD, CMP.", "motivation_decision": "Échange en séance."}
PLANNED = "R12/2026-02-03T14:00:00+01:00/P1M"  # the reference's monthly sessions, a year earlier


@dataclass
class Hall:
    territory_id: int
    commission: int  # circuit ids
    coordination: int
    secretariat: Actor
    member: Actor
    coordinator: Actor
    presenter: Actor


def _folder(tmp_path: Path, extra: str = "") -> Path:
    folder = tmp_path / "reference"
    folder.mkdir()
    settings = json.loads((ROOT / "processes/reference/territory.json").read_text())
    settings["circuits"] = [c for c in settings["circuits"]
                            if c["key"] in ("commission", "coordination")]
    (folder / "territory.json").write_text(json.dumps(settings, ensure_ascii=False))
    shutil.copy(ROOT / "processes/reference/coordination.bpmn", folder)
    text = (ROOT / "processes/reference/commission.bpmn").read_text()
    if extra:  # the reference's cycle, starting on another day
        assert '"R12/2027-01-05T14:00:00+01:00/P1M"' in text
        text = text.replace("R12/2027-01-05T14:00:00+01:00/P1M", extra)
    (folder / "commission.bpmn").write_text(text)
    return folder


def _hall(session: Session, clock: FixedClock, tmp_path: Path, extra: str = "") -> Hall:
    versions = circuits.deploy_folder(session, clock, SYSTEM, _folder(tmp_path, extra),
                                      ROOT / "forms")
    ids = {session.get(Circuit, v.circuit_id).key: v.circuit_id  # type: ignore[union-attr]
           for v in versions}
    territory_id = session.get(Circuit, ids["commission"]).territory_id  # type: ignore[union-attr]
    return Hall(territory_id, ids["commission"], ids["coordination"],
                make_user(session, clock, "secr@demo.test", territory_id, "secretariat"),
                make_user(session, clock, "membre@demo.test", territory_id, "membre_commission"),
                make_user(session, clock, "coord@demo.test", territory_id, "coordination"),
                make_user(session, clock, "pres@demo.test", territory_id, "presentateur"))


@pytest.fixture
def hall(session: Session, clock: FixedClock, tmp_path: Path) -> Hall:
    return _hall(session, clock, tmp_path)


def _open(session: Session, case_id: int, step: str | None = None) -> list[HumanTask]:
    query = select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == "open")
    if step:
        query = query.where(HumanTask.bpmn_id == step)
    return list(session.scalars(query))


def _drive(session: Session, clock: FixedClock, scenario: str, circuit_id: int,
           until: str = "C3_T03") -> int:
    """Open a case and complete the scenario's steps (as the system) up to ``until``."""
    story = json.loads((SCENARIOS / scenario).read_text())
    case = cases.start(session, clock, SYSTEM, circuit_id, story["data"])
    for step in story["steps"]:
        if step.get("task") == until:
            break
        [row] = _open(session, case.id, step["task"])
        tasks.complete(session, clock, SYSTEM, row.id, step.get("data", {}))
    assert _open(session, case.id, until), f"{scenario} does not reach {until}"
    return case.id


def _join(session: Session, clock: FixedClock, actor: Actor, case_id: int,
          session_id: Any) -> None:
    [row] = _open(session, case_id, "C3_T03")
    tasks.complete(session, clock, actor, row.id, {"seance": session_id,
                                                    "date_seance": "2026-01-01"})


def _plan(session: Session, clock: FixedClock, hall: Hall, days: int = 12) -> int:
    return commission_sessions.plan(session, clock, hall.secretariat, hall.territory_id,
                                    clock.now() + timedelta(days=days), "Salle 2").id


def test_a_case_joins_an_open_session_and_waits_for_it(session: Session, clock: FixedClock,
                                                        hall: Hall) -> None:
    sid = _plan(session, clock, hall)
    offered = commission_sessions.open_sessions(session, clock, hall.territory_id)
    assert [s.id for s in offered] == [sid]
    case_id = _drive(session, clock, "commission/e1-orientee-vers-dispositif.json", hall.commission)
    [step] = _open(session, case_id, "C3_T03")
    _, form = tasks.form_of(session, hall.secretariat, step.id, clock)
    assert form is not None
    [field] = [f for f in form.fields if f.name == "seance"]
    assert field.kind == "choice" and [c.value for c in field.choices] == [sid]
    _join(session, clock, hall.secretariat, case_id, sid)
    assert session.scalar(select(SessionCase.case_id).where(SessionCase.session_id == sid)) \
        == case_id
    [send] = _open(session, case_id, "C3_T04")
    with pytest.raises(Conflict, match="page de la séance"):  # held by the session
        tasks.complete(session, clock, hall.secretariat, send.id, {"dossiers_diffuses": True})
    assert _open(session, case_id, "C3_T04")


def test_the_agenda_closes_n_days_before(session: Session, clock: FixedClock,
                                         hall: Hall) -> None:
    sid = _plan(session, clock, hall, days=10)  # closes in 3 days
    case_id = _drive(session, clock, "commission/e1-orientee-vers-dispositif.json", hall.commission)
    clock.advance(timedelta(days=3, minutes=1))
    assert commission_sessions.open_sessions(session, clock, hall.territory_id) == []
    with pytest.raises(Conflict, match="est clos"):
        _join(session, clock, hall.secretariat, case_id, sid)
    for forged in (2**31 - 1, "abc", -1):
        with pytest.raises((Conflict, FormInvalid)):
            _join(session, clock, hall.secretariat, case_id, forged)
    assert session.scalar(select(func.count()).select_from(SessionCase)) == 0
    assert _open(session, case_id, "C3_T03")


def test_only_the_secretariat_or_coordination_plans(session: Session, clock: FixedClock,
                                                    hall: Hall) -> None:
    for who in (hall.member, hall.presenter):
        with pytest.raises(PermissionDenied):
            commission_sessions.plan(session, clock, who, hall.territory_id,
                                     clock.now() + timedelta(days=20), "Salle")
    with pytest.raises(Exception, match="passée"):
        commission_sessions.plan(session, clock, hall.coordinator, hall.territory_id,
                                 clock.now() - timedelta(days=1), "Salle")
    assert session.scalar(select(func.count()).select_from(CommissionSession)) == 0


def test_a_decision_per_case_resumes_each_circuit(session: Session, clock: FixedClock,
                                                  hall: Hall) -> None:
    sid = _plan(session, clock, hall)
    alone = _drive(session, clock, "commission/e1-orientee-vers-dispositif.json", hall.commission)
    shared = _drive(session, clock, "commission/e4-situation-stabilisee.json", hall.commission)
    called = _drive(session, clock, "coordination/e6-transmise-en-commission.json",
                    hall.coordination)
    for case_id in (alone, shared, called):
        _join(session, clock, hall.secretariat, case_id, sid)
    with pytest.raises(Conflict, match="Diffusez"):
        commission_sessions.record_decision(session, clock, hall.secretariat, sid, alone,
                                            {**DECISION, "decision_commission": "ajournement"})
    sent = commission_sessions.send_files(session, clock, hall.secretariat, sid)
    assert sent.state == "files_sent"
    for case_id in (alone, shared, called):
        assert _open(session, case_id, "C3_T05") and not _open(session, case_id, "C3_T04")
    with pytest.raises(PermissionDenied):
        commission_sessions.record_decision(session, clock, hall.member, sid, alone,
                                            {**DECISION, "decision_commission": "orientation",
                                             "dispositif_retenu": "iml"})
    with pytest.raises(FormInvalid):  # an orientation names its scheme
        commission_sessions.record_decision(session, clock, hall.secretariat, sid, alone,
                                            {**DECISION, "decision_commission": "orientation"})
    commission_sessions.record_decision(session, clock, hall.secretariat, sid, alone,
                                        {**DECISION, "decision_commission": "orientation",
                                         "dispositif_retenu": "iml"})
    plan = {**DECISION, "decision_commission": "plan_partage", "suivi_plan": "circuit_origine",
            "engagements_partenaires": "CCAS : accompagnement budgétaire, fin du mois."}
    commission_sessions.record_decision(session, clock, hall.coordinator, sid, shared, plan)
    commission_sessions.record_decision(session, clock, hall.secretariat, sid, called, plan)
    assert [t.bpmn_id for t in _open(session, alone)] == ["C3_T07"]
    assert [t.bpmn_id for t in _open(session, shared)] == ["C3_T06"]
    assert [t.bpmn_id for t in _open(session, called)] == ["C3_T06"]  # inside C1
    with pytest.raises(Exception, match="déjà enregistrée"):
        commission_sessions.record_decision(session, clock, hall.secretariat, sid, alone, plan)
    with pytest.raises(NotFound):
        commission_sessions.record_decision(session, clock, hall.secretariat, sid, 2**31 - 1,
                                            plan)
    detail = commission_sessions.detail(session, clock, hall.secretariat, sid)
    assert [a.decision for a in detail.agenda] == ["orientation", "plan_partage",
                                                   "plan_partage"]
    assert commission_sessions.close(session, clock, hall.secretariat, sid).state == "ended"


def test_members_read_the_files_only_while_they_are_out(session: Session, clock: FixedClock,
                                                        hall: Hall) -> None:
    sid = _plan(session, clock, hall)
    case_id = _drive(session, clock, "commission/e1-orientee-vers-dispositif.json",
                     hall.commission)
    _join(session, clock, hall.secretariat, case_id, sid)
    with pytest.raises(NotFound):  # not sent yet
        commission_sessions.case_file(session, clock, hall.member, sid, case_id)
    assert commission_sessions.detail(session, clock, hall.member, sid).agenda == []
    with pytest.raises(NotFound):
        commission_sessions.detail(session, clock, hall.presenter, sid)
    commission_sessions.send_files(session, clock, SYSTEM, sid)
    assert session.scalar(select(OutboxMessage.recipient_user_id).where(
        OutboxMessage.kind == "seance")) == hall.member.user_id
    # the consent given at « Constituer le dossier » covers the assessment, not the
    # identity, nor health (partage_sante: false)
    read = commission_sessions.case_file(session, clock, hall.member, sid, case_id)
    labels = dict(read.fields)
    assert read.household_name is None and not read.minimal
    assert "Question posée à la commission" in labels
    assert not any(label.startswith("Besoins") for label in labels)  # health
    give_consent(session, clock, case_id, "commission", ["identity"], purpose="commission")
    named = commission_sessions.case_file(session, clock, hall.member, sid, case_id)
    assert named.household_name == "Ménage Test Klein"
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "case.read", AuditEvent.case_id == case_id,
        AuditEvent.user_id == hall.member.user_id)) >= 1
    with pytest.raises(NotFound):  # a case not on the agenda
        other = _drive(session, clock, "commission/e4-situation-stabilisee.json", hall.commission)
        commission_sessions.case_file(session, clock, hall.member, sid, other)
    commission_sessions.record_decision(session, clock, hall.secretariat, sid, case_id,
                                        {**DECISION, "decision_commission": "ajournement"})
    commission_sessions.close(session, clock, hall.secretariat, sid)
    with pytest.raises(NotFound):
        commission_sessions.case_file(session, clock, hall.member, sid, case_id)
    assert commission_sessions.detail(session, clock, hall.member, sid).agenda == []
    # the coordination still reads it after the end
    assert commission_sessions.case_file(session, clock, hall.coordinator, sid, case_id)


def test_a_timer_start_event_plans_each_session_once(sessions: sessionmaker[Session],
                                                     clock: FixedClock, tmp_path: Path) -> None:
    with sessions() as session:
        _hall(session, clock, tmp_path, PLANNED)
    # 9 January 2026: the first Tuesday of February (3rd) is within 45 days, March's is not
    with sessions() as one, sessions() as two:
        assert commission_sessions.plan_from_circuits(one, clock) == 1
        assert commission_sessions.plan_from_circuits(two, clock) == 0
    clock.advance(timedelta(days=30))
    with sessions() as session:
        assert commission_sessions.sweep(session, clock) >= 1
        rows = session.execute(select(CommissionSession.starts_at, CommissionSession.state,
                                      CommissionSession.place)
                               .order_by(CommissionSession.starts_at)).all()
    assert [(r[0].isoformat(), r[2]) for r in rows] == [
        ("2026-02-03T13:00:00+00:00", "Salle de la commission"),
        ("2026-03-03T13:00:00+00:00", "Salle de la commission")]
    assert rows[0][1] == "files_sent"  # 3 February is 5 days away on 8 February


def test_two_schedulers_at_once_create_each_session_once(sessions: sessionmaker[Session],
                                                          clock: FixedClock,
                                                          tmp_path: Path) -> None:
    """Two sweeps racing (two schedulers, two connections): one row per occurrence, and the
    files of a due session sent once (one notice per member)."""
    with sessions() as session:
        hall = _hall(session, clock, tmp_path, PLANNED)
    clock.advance(timedelta(days=21))  # 30 January: 3 February is within the files' 5 days
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            with sessions() as session:
                barrier.wait()
                commission_sessions.sweep(session, clock)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with sessions() as session:
        rows = session.execute(select(CommissionSession.plan_key, CommissionSession.state)).all()
        assert len(rows) == 2 and len({r[0] for r in rows}) == 2
        assert sorted(r[1] for r in rows) == ["files_sent", "planned"]
        assert session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == "seance",
            OutboxMessage.recipient_user_id == hall.member.user_id)) == 1


def test_toulouse_joins_sessions_and_keeps_its_own_steps(session: Session, clock: FixedClock
                                                         ) -> None:
    """The Toulouse variant holds no step for the session: its cases join a session, the
    secretariat completes « Diffuser » and « Examiner » from the steps' pages as before, and
    the session closes without a decision recorded on its page."""
    versions = circuits.deploy_folder(session, clock, SYSTEM, ROOT / "processes" / "toulouse",
                                      ROOT / "forms")
    commission = next(v.circuit_id for v in versions
                      if session.get(Circuit, v.circuit_id).key == "commission")  # type: ignore[union-attr]
    territory_id = session.get(Circuit, commission).territory_id  # type: ignore[union-attr]
    secretariat = make_user(session, clock, "secr@demo.test", territory_id, "secretariat")
    sid = commission_sessions.plan(session, clock, secretariat, territory_id,
                                   clock.now() + timedelta(days=12), "Salle").id
    story = json.loads((ROOT / "tests/scenarios/toulouse/commission/"
                        "e1-orientee-vers-dispositif.json").read_text())
    case = cases.start(session, clock, SYSTEM, commission, story["data"])
    for step in story["steps"][:5]:
        [row] = _open(session, case.id, step["task"])
        data = {"seance": sid} if step["task"] == "C3_T03" else step["data"]
        tasks.complete(session, clock, secretariat if step["task"] == "C3_T03" else SYSTEM,
                       row.id, data)
    assert [t.bpmn_id for t in _open(session, case.id)] == ["C3_T07"]
    commission_sessions.send_files(session, clock, secretariat, sid)
    assert commission_sessions.close(session, clock, secretariat, sid).state == "ended"
