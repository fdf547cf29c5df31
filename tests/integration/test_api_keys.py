"""API keys of organisations (issue #18, item 2): issued once and stored hashed, opened,
refused (unknown, malformed, revoked: one answer), rotated, limited by rights and circuits,
acting as a technical account that no person's list offers. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from engine.persistence.models import ApiKey, AuditEvent, Case, Circuit, HumanTask, User
from engine.services import api_keys, cases, circuits, notices, signin, tasks, users
from engine.services.access import SYSTEM, Actor, case_scope, case_view, require_scope
from tests.integration.factories import MINI, World, make_org, make_user, make_world


@dataclass
class Place:
    world: World
    admin: Actor
    org: int
    other_circuit: int


@pytest.fixture
def place(session: Session, clock: FixedClock, tmp_path: Path) -> Place:
    api_keys.reset_rates()
    world = make_world(session, clock)
    bis = tmp_path / "bis"
    shutil.copytree(MINI, bis)
    spec = json.loads((bis / "territory.json").read_text(encoding="utf-8"))
    spec["circuits"][0].update(key="mini_bis", title="Circuit bis")
    (bis / "territory.json").write_text(json.dumps(spec), encoding="utf-8")
    [version] = circuits.deploy_folder(session, clock, SYSTEM, bis, bis / "forms")
    admin = make_user(session, clock, "admin@demo.test", world.territory.id, "admin")
    org = make_org(session, clock, world.territory.id, "SIAO de Test", "siao")
    return Place(world, admin, org, version.circuit_id)


def _create(session: Session, clock: FixedClock, place: Place, *, scopes: tuple[str, ...] =
            ("read", "write"), circuit_ids: list[int] | None = None,
            roles: tuple[str, ...] = ("operateur",)) -> api_keys.IssuedKey:
    return api_keys.create(session, clock, place.admin, place.world.territory.id, place.org,
                           "Logiciel SI-SIAO", roles, scopes, circuit_ids)


def _at_decision(session: Session, clock: FixedClock, world: World, circuit_id: int) -> int:
    case = cases.start(session, clock, world.coordinator, circuit_id, {"nom_menage": "Essai"})
    task_id = session.scalar(select(HumanTask.id).where(
        HumanTask.case_id == case.id, HumanTask.bpmn_id == "analyse",
        HumanTask.status == "open"))
    assert task_id is not None
    tasks.complete(session, clock, world.coordinator, task_id, {"mesure": "avdl"})
    return case.id


def test_the_token_is_shown_once_and_only_its_hash_is_stored(
        session: Session, clock: FixedClock, place: Place) -> None:
    issued = _create(session, clock, place)
    assert issued.token.startswith(f"agl_{issued.prefix}_")
    row = session.get(ApiKey, issued.id)
    assert row is not None
    assert row.secret_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    assert issued.token not in json.dumps([row.prefix, row.secret_hash, row.name])
    listed = api_keys.list_keys(session, place.admin, place.world.territory.id)
    assert [k.prefix for k in listed] == [issued.prefix]
    assert not any(issued.token in str(v) for v in vars(listed[0]).values())
    assert listed[0].scopes == ("read", "write") and listed[0].circuits is None
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "api_key.create"))
    [event] = list(events)
    assert event.user_id == place.admin.user_id and issued.token not in json.dumps(event.detail)


def test_authenticate_opens_a_key_as_its_technical_account(
        session: Session, clock: FixedClock, place: Place) -> None:
    issued = _create(session, clock, place, scopes=("read",))
    actor = api_keys.authenticate(session, clock, issued.token)
    territory = place.world.territory.id
    assert actor.roles == {territory: frozenset({"operateur"})}
    assert actor.organisations == {territory: frozenset({place.org})}
    assert actor.scopes == frozenset({"read"}) and actor.circuits is None
    assert actor.name == "Logiciel « Logiciel SI-SIAO »" and actor.api_key_id == issued.id
    user = session.get(User, actor.user_id)
    assert user is not None and user.kind == "api"
    row = session.get(ApiKey, issued.id)
    assert row is not None and row.last_used_at == clock.now()
    # used again within the minute: not written again
    clock.advance(timedelta(seconds=30))
    api_keys.authenticate(session, clock, issued.token)
    session.refresh(row)
    assert row.last_used_at == clock.now() - timedelta(seconds=30)


@pytest.mark.parametrize("presented", [
    "", "agl_", "agl_0123456789ab_" + "x" * 43, "agl_0123\x00456789ab_" + "x" * 43,
    "a" * 10_000, "Bearer something", "agl_ZZZZZZZZZZZZ_" + "x" * 43, "é" * 50])
def test_unknown_or_malformed_tokens_are_refused_alike(
        session: Session, clock: FixedClock, place: Place, presented: str) -> None:
    issued = _create(session, clock, place)
    with pytest.raises(Unauthenticated) as refused:
        api_keys.authenticate(session, clock, presented)
    assert str(refused.value) == "clé d'API absente, inconnue ou révoquée"
    wrong_secret = issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthenticated) as again:
        api_keys.authenticate(session, clock, wrong_secret)
    assert str(again.value) == str(refused.value)
    details = [e.detail for e in session.scalars(
        select(AuditEvent).where(AuditEvent.action == "api_key.refused"))]
    assert len(details) == 2
    assert details[0]["reason"] in ("malformed", "unknown")
    assert details[1]["reason"] == "mismatch" and details[1]["prefix"] == issued.prefix
    written = json.dumps(details, ensure_ascii=False)
    assert issued.token not in written and wrong_secret not in written
    assert len(presented) < 8 or presented[-8:] not in written  # never the presented text


def test_a_revoked_key_is_refused_and_revoking_twice_is_a_conflict(
        session: Session, clock: FixedClock, place: Place) -> None:
    issued = _create(session, clock, place)
    territory = place.world.territory.id
    api_keys.revoke(session, clock, place.admin, territory, issued.id)
    with pytest.raises(Unauthenticated):
        api_keys.authenticate(session, clock, issued.token)
    with pytest.raises(Conflict, match="déjà révoquée"):
        api_keys.revoke(session, clock, place.admin, territory, issued.id)
    with pytest.raises(NotFound):
        api_keys.revoke(session, clock, place.admin, territory, 10**30)
    actions = list(session.scalars(select(AuditEvent.action).where(
        AuditEvent.action.like("api_key.%")).order_by(AuditEvent.id)))
    assert actions == ["api_key.create", "api_key.revoke", "api_key.refused"]


def test_rotation_issues_a_new_token_and_stops_the_old_one(
        session: Session, clock: FixedClock, place: Place) -> None:
    territory = place.world.territory.id
    first = _create(session, clock, place)
    user_id = api_keys.authenticate(session, clock, first.token).user_id
    second = api_keys.rotate(session, clock, place.admin, territory, first.id)
    assert second.token != first.token and second.prefix != first.prefix
    with pytest.raises(Unauthenticated):
        api_keys.authenticate(session, clock, first.token)
    assert api_keys.authenticate(session, clock, second.token).user_id == user_id
    # with an overlap, the old token still opens until its end
    third = api_keys.rotate(session, clock, place.admin, territory, second.id,
                            overlap=timedelta(hours=1))
    assert api_keys.authenticate(session, clock, second.token).user_id == user_id
    clock.advance(timedelta(hours=1))
    with pytest.raises(Unauthenticated):
        api_keys.authenticate(session, clock, second.token)
    assert api_keys.authenticate(session, clock, third.token).user_id == user_id
    row = session.get(ApiKey, third.id)
    assert row is not None and row.rotated_from_id == second.id
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "api_key.rotate")) == 2


def test_only_the_territory_administrators_manage_keys(
        session: Session, clock: FixedClock, place: Place) -> None:
    territory = place.world.territory.id
    with pytest.raises(PermissionDenied):
        api_keys.create(session, clock, place.world.coordinator, territory, place.org, "X",
                        ["operateur"], ["read"], None)
    with pytest.raises(NotFound):
        api_keys.list_keys(session, place.world.outsider, territory)
    issued = _create(session, clock, place)
    with pytest.raises(NotFound):
        api_keys.revoke(session, clock, place.admin, territory + 1, issued.id)
    with pytest.raises(InvalidInput):
        _create(session, clock, place, roles=("admin",))
    platform = _create(session, clock, place, roles=("coordination",))  # its own software
    assert api_keys.authenticate(session, clock, platform.token).is_coordinator(territory)
    with pytest.raises(InvalidInput):
        _create(session, clock, place, scopes=("delete",))
    with pytest.raises(InvalidInput):
        _create(session, clock, place, circuit_ids=[10**30])
    assert len(api_keys.list_keys(session, place.admin, territory)) == 2


def test_scopes_and_circuits_limit_the_key(
        session: Session, clock: FixedClock, place: Place) -> None:
    world = place.world
    issued = _create(session, clock, place, scopes=("read",), circuit_ids=[world.circuit.id])
    actor = api_keys.authenticate(session, clock, issued.token)
    require_scope(actor, "read", world.circuit.id)
    with pytest.raises(PermissionDenied, match="ne permet pas"):
        require_scope(actor, "write")
    with pytest.raises(PermissionDenied, match="ne permet pas"):
        require_scope(actor, "read", place.other_circuit)
    require_scope(world.operator, "write", place.other_circuit)  # a person: no limit
    here = _at_decision(session, clock, world, world.circuit.id)
    there = _at_decision(session, clock, world, place.other_circuit)
    offered = tasks.my_tasks(session, clock, actor)
    assert {t.case_id for t in offered.items} == {here} and offered.total == 1
    assert {t.case_id for t in tasks.my_tasks(session, clock, world.operator).items} == {
        here, there}
    territory = world.territory.id
    case_view(session, actor, here, territory, clock.now())
    with pytest.raises(NotFound):
        case_view(session, actor, there, territory, clock.now())
    everything = Actor(user_id=actor.user_id, roles={territory: frozenset({"coordination"})},
                       circuits=frozenset({world.circuit.id}))
    seen = set(session.scalars(select(Case.id).where(
        case_scope(everything, territory, Case.id, session))))
    assert seen == {here}
    through = set(session.scalars(select(HumanTask.case_id).where(
        case_scope(everything, territory, HumanTask.case_id))))
    assert through == {here}


def test_the_technical_account_never_signs_in_nor_is_offered_to_people(
        session: Session, clock: FixedClock, place: Place) -> None:
    world = place.world
    issued = _create(session, clock, place)
    actor = api_keys.authenticate(session, clock, issued.token)
    user = session.get(User, actor.user_id)
    assert user is not None
    for password in ("", "!api", user.password_hash):
        with pytest.raises(PermissionDenied):
            signin.sign_in(session, clock, user.email, password, None, signin.Throttle())
        assert users.authenticate(session, user.email, password) is None
    listed = users.administered_users(session, place.admin)
    assert actor.user_id not in {a.id for a in listed}
    assert actor.user_id not in {
        uid for uid, _ in users.people_with_role(session, world.coordinator,
                                                 world.territory.id, "operateur")}
    case_id = _at_decision(session, clock, world, world.circuit.id)
    task = session.scalar(select(HumanTask).where(HumanTask.case_id == case_id,
                                                  HumanTask.status == "open"))
    assert task is not None
    assert tasks._candidates(session, task) == [
        p for p in tasks._candidates(session, task) if p.id != actor.user_id]
    assert actor.user_id not in {p.id for p in tasks._candidates(session, task)}
    with pytest.raises(Conflict):
        tasks.assign(session, clock, world.coordinator, task.id, actor.user_id or 0)
    assert actor.user_id not in {u for u, _ in notices._people(session, task, {})}
    # the key itself may take and complete the step offered to its role and organisation
    assert task.id in {t.id for t in tasks.my_tasks(session, clock, actor).items}


def test_the_rate_limit_counts_per_key_in_memory(place: Place, clock: FixedClock) -> None:
    now = clock.now()
    assert all(api_keys.check_rate(1, now, limit=3) is None for _ in range(3))
    wait = api_keys.check_rate(1, now, limit=3)
    assert wait is not None and 0 < wait <= 20
    assert api_keys.check_rate(2, now, limit=3) is None  # another key: its own count
    assert api_keys.check_rate(1, now + timedelta(seconds=20), limit=3) is None


def test_circuit_of_another_territory_is_refused(
        session: Session, clock: FixedClock, place: Place) -> None:
    elsewhere = session.scalar(select(Circuit.id).where(
        Circuit.territory_id != place.world.territory.id))
    if elsewhere is None:
        elsewhere = 10**6
    with pytest.raises(InvalidInput, match="circuit inconnu"):
        _create(session, clock, place, circuit_ids=[elsewhere])


def test_a_flood_of_bad_tokens_writes_one_audit_row_a_minute(
        session: Session, clock: FixedClock, place: Place) -> None:
    issued = _create(session, clock, place)
    wrong = issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB")
    for _ in range(50):
        with pytest.raises(Unauthenticated):
            api_keys.authenticate(session, clock, wrong)
    clock.advance(timedelta(seconds=61))
    with pytest.raises(Unauthenticated):
        api_keys.authenticate(session, clock, wrong)
    details = [e.detail for e in session.scalars(
        select(AuditEvent).where(AuditEvent.action == "api_key.refused").order_by(AuditEvent.id))]
    assert [d.get("repeated", 0) for d in details] == [0, 49]
    assert all(d["reason"] == "mismatch" for d in details)
