"""The audit log in words (issue #14, item 7): every action code written anywhere in the
engine has its label, people are named, roles have their territory's names, and one read of
a case is recorded per person and case in a unit of work (and per web request)."""

from __future__ import annotations

import ast
import re
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.core import messages
from engine.persistence.db import transaction
from engine.persistence.models import AuditEvent
from engine.services import audit, cases, tasks, users
from engine.services.access import SYSTEM, Actor
from tests.integration.factories import World, make_user, make_world

ENGINE = Path(__file__).resolve().parents[2] / "engine"
CODE = re.compile(r"[a-z_]+\.[a-z_]+")
# the callables that write an event, and the position of their action argument
WRITERS = {"record": 3, "record_for": 3, "_audit": 2}


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return make_world(session, clock)


def _callee(call: ast.Call) -> str | None:
    func_ = call.func
    if isinstance(func_, ast.Attribute) and isinstance(func_.value, ast.Name) \
            and func_.value.id == "audit" and func_.attr in ("record", "record_for"):
        return func_.attr
    if isinstance(func_, ast.Name) and func_.id == "_audit":
        return "_audit"
    return None


def _constants(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and CODE.fullmatch(n.value)}


def _codes_in_source() -> tuple[set[str], list[str]]:
    """Every action code the engine writes, and the calls whose code could not be read."""
    found: set[str] = set()
    unread: list[str] = []
    for path in ENGINE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in [n for n in ast.walk(tree)
                         if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            params = {a.arg for a in [*function.args.args, *function.args.kwonlyargs]}
            assigned: dict[str, set[str]] = {}
            for node in ast.walk(function):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            assigned.setdefault(target.id, set()).update(_constants(node.value))
            for call in [n for n in ast.walk(function) if isinstance(n, ast.Call)]:
                name = _callee(call)
                if name is None or len(call.args) <= WRITERS[name]:
                    continue
                argument = call.args[WRITERS[name]]
                if isinstance(argument, ast.Name) and argument.id in params \
                        and argument.id not in assigned:
                    continue  # a helper passing its caller's code on: the caller is read
                codes = (assigned.get(argument.id, set()) if isinstance(argument, ast.Name)
                         else _constants(argument))
                if not codes:
                    unread.append(f"{path.name}:{call.lineno}")
                found |= codes
    return found, unread


def test_every_action_code_in_the_source_has_its_words() -> None:
    found, unread = _codes_in_source()
    assert not unread, f"action codes the test cannot read: {unread}"
    assert {"case.read", "task.claim", "membership.add", "user.sign_in_failed",
            "orientation.create", "household.merge", "answer_link.used",
            "case.cancel", "case.close", "directory.reactivated", "user.activate"} <= found
    missing = sorted(c for c in found if f"audit.{c}" not in messages.CATALOGUE)
    assert not missing, f"actions without words in engine/core/messages.py: {missing}"
    for code in found:
        french, english = messages.CATALOGUE[f"audit.{code}"]
        assert french != code and english != code and not CODE.fullmatch(french)
    assert audit.label("task.claim") == "Étape prise en charge"
    assert audit.label("membership.add", "en") == "Role added"
    assert ("case.read", "Lecture du dossier") in audit.actions()


def _reads(session: Session, actor: Actor, case_id: int) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "case.read", AuditEvent.case_id == case_id,
        AuditEvent.user_id == actor.user_id)) or 0


def test_one_read_per_person_and_case_in_a_unit_of_work(
        session: Session, clock: FixedClock, world: World) -> None:
    case_id = cases.start(session, clock, world.coordinator, world.circuit.id,
                          {"nom_menage": "Ménage Lu"}).id
    [step] = tasks.my_tasks(session, clock, world.coordinator).items
    with transaction(session):  # a use case made of several reading ones
        cases.get(session, clock, world.coordinator, case_id)
        tasks.details(session, clock, world.coordinator, step.id)
        cases.get(session, clock, world.coordinator, case_id)
    assert _reads(session, world.coordinator, case_id) == 1
    cases.get(session, clock, world.coordinator, case_id)  # another unit of work: read again
    assert _reads(session, world.coordinator, case_id) == 2
    with pytest.raises(RuntimeError), transaction(session):
        cases.get(session, clock, world.coordinator, case_id)
        raise RuntimeError("rolled back: the read was not written")
    cases.get(session, clock, world.coordinator, case_id)
    assert _reads(session, world.coordinator, case_id) == 3


def test_one_read_per_request_on_a_web_session(
        session: Session, clock: FixedClock, world: World) -> None:
    case_id = cases.start(session, clock, world.coordinator, world.circuit.id,
                          {"nom_menage": "Ménage Lu"}).id
    [step] = tasks.my_tasks(session, clock, world.coordinator).items
    audit.one_read_per_request(session)  # what the web layer does for each request
    cases.get(session, clock, world.coordinator, case_id)
    tasks.details(session, clock, world.coordinator, step.id)
    cases.get(session, clock, world.coordinator, case_id)
    assert _reads(session, world.coordinator, case_id) == 1
    admin = make_user(session, clock, "lectrice@demo.test", world.territory.id, "admin",
                      "coordination")
    cases.get(session, clock, admin, case_id)  # another person reads it: recorded
    assert _reads(session, admin, case_id) == 1


def test_the_log_names_people_and_roles_in_words(
        session: Session, clock: FixedClock, world: World) -> None:
    admin = make_user(session, clock, "admin@demo.test", world.territory.id, "admin")
    created = users.create_person(session, clock, admin, "camille@demo.test",
                                  "Camille Martin", world.territory.id, "operateur")
    users.add_membership(session, clock, admin, created.user_id, world.territory.id,
                         "coordination")
    rows, total = audit.search(session, admin, audit.AuditFilters(person="Admin"))
    assert total == 3 and {r.user for r in rows} == {"Admin"}
    words = {(r.label, r.summary) for r in rows}
    assert ("Rôle ajouté", "Coordination de la plateforme — Camille Martin") in words
    assert ("Compte créé", "Camille Martin") in words
    assert all("@" not in r.summary for r in rows)
    english, _ = audit.search(session, admin, audit.AuditFilters(action="membership.add"),
                              lang="en")
    assert {r.label for r in english} == {"Role added"}
    lines = list(audit.export_rows(session, admin, audit.AuditFilters(
        action="membership.add", person="admin@demo.test")))
    assert lines[0][:3] == ["date et heure", "personne", "action"]
    assert [line[1:3] for line in lines[1:]] == [["Admin", "Rôle ajouté"]] * 2
    assert isinstance(lines[1][0], datetime)  # the CSV writer shows it in Paris time
    users.set_active(session, clock, SYSTEM, created.user_id, False)
    [system] = audit.search(session, admin, audit.AuditFilters(action="user.deactivate"))[0]
    assert system.user is None and system.summary == "Camille Martin"


def test_refusal_reasons_read_in_words_never_as_codes(
        session: Session, clock: FixedClock, world: World) -> None:
    admin = make_user(session, clock, "admin@demo.test", world.territory.id, "admin")
    territory = world.territory.id
    audit.record(session, clock, SYSTEM, "case.message_refused", territory_id=territory,
                 reason="svc.message_not_awaited", reason_params={"name": "reponse_caf"})
    audit.record(session, clock, SYSTEM, "case.message_refused", territory_id=territory,
                 reason="svc.message_sender")
    audit.record(session, clock, SYSTEM, "api_key.refused", territory_id=territory,
                 reason="mismatch", repeated=49)
    audit.record(session, clock, SYSTEM, "case.close", territory_id=territory,
                 reason="Le ménage a déménagé.")
    session.commit()
    summaries = {r.summary for r in audit.search(session, admin, audit.AuditFilters())[0]}
    assert "motif : Ce dossier n'attend pas le message « reponse_caf » (déjà reçu, pas " \
        "encore attendu, ou inconnu de son circuit)." in summaries
    assert any(s.startswith("motif : Vous ne pouvez pas enregistrer cette réponse")
               for s in summaries)
    assert "motif : secret erroné — 49 autres refus pareils depuis le précédent" in summaries
    assert "motif : Le ménage a déménagé." in summaries
    assert not any("svc." in s or "mismatch" in s for s in summaries)


def test_the_log_names_fields_by_their_forms_labels_in_one_read(
        session: Session, clock: FixedClock, world: World) -> None:
    admin = make_user(session, clock, "admin@demo.test", world.territory.id, "admin")
    opened = [cases.start(session, clock, world.coordinator, world.circuit.id,
                          {"nom_menage": f"Ménage {n}", "nb_enfants": n}).id for n in range(3)]
    [task] = [t for t in tasks.my_tasks(session, clock, world.coordinator).items
              if t.case_id == opened[0]]
    tasks.complete(session, clock, world.coordinator, task.id, {"mesure": "avdl"})
    audit.record(session, clock, SYSTEM, "case.close", territory_id=world.territory.id,
                 case_id=opened[1], fields=["nom_menage", "champ_retire"])
    audit.record(session, clock, SYSTEM, "directory.updated", territory_id=world.territory.id,
                 fields=["places_available", "phone"])
    session.commit()
    audit.search(session, admin, audit.AuditFilters())  # the compiled circuit, cached
    seen: list[str] = []
    bind = session.get_bind()

    def _seen(conn: object, cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)
    event.listen(bind, "before_cursor_execute", _seen)
    try:
        rows, _ = audit.search(session, admin, audit.AuditFilters(action="case.start"))
    finally:
        event.remove(bind, "before_cursor_execute", _seen)
    assert [r.summary for r in rows] == ["champs : Nom du ménage, Nombre d'enfants à charge"] * 3
    assert len(seen) <= 3  # the count, the page, the versions of the page's cases: not per row
    summaries = {r.summary for r in audit.search(session, admin, audit.AuditFilters())[0]}
    assert "Analyser la demande — champs : Mesure proposée" in summaries
    assert "champs : champ_retire, Nom du ménage" in summaries  # a key no form declares
    assert "champs : Places disponibles, Téléphone" in summaries  # a directory entry's form
    assert not any(key in s for s in summaries
                   for key in ("nom_menage", "nb_enfants", "places_available", "mesure"))
    lines = list(audit.export_rows(session, admin, audit.AuditFilters(action="case.start")))
    assert {line[5] for line in lines[1:]} == {"champs : Nom du ménage, Nombre d'enfants à charge"}
