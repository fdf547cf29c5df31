"""The visibility matrix (issue #12 item 5), on SQLite and PostgreSQL: person × part × consent
state × data category × page, list or export, each answer checked against the rule as
written below, independently of ``engine/services/access.py``:

- coordination and administration read a case whole;
- a person of an organisation that is a current party reads the data categories the
  household's consent, in force now, grants that part (none: the minimal view);
- someone who must act on one of its open steps, and is no party, reads the minimal view;
- anyone else: 404. The minimal view is the reference, the status and the steps to act on.

Each case holds a name (identity), a health answer and a debt (procedure); a page shows each
of them exactly when its category is read, lists and exports never show the health answer or
the debt. ``test_every_case_page_is_in_the_matrix`` fails when the app gains a route about a
case or a step, or a page, that this matrix does not check.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.persistence.db import Base
from engine.persistence.models import Case as CaseRow
from engine.persistence.models import Circuit, CommissionSession, HumanTask, SessionCase
from engine.services import api_keys, cases, circuits, tasks
from engine.services.access import SYSTEM
from tests.integration.factories import (
    MINI,
    PASSWORD,
    give_consent,
    make_org,
    make_party,
    make_user,
)

ALL = frozenset({"identity", "household", "health", "procedure", "assessment"})
STATES = ("none", "given", "withdrawn", "expired")
# waiting on the coordination; on the operators' role (a lane bound to no part: offered to
# every operator of the territory); on the operator of the case (a lane bound to the part)
STAGES = ("analyse", "decision", "bound")
PEOPLE = ("coordinator", "admin", "op_a", "op_b", "landlord", "referrer")
ROLE = {"coordinator": "coordination", "admin": "admin", "op_a": "operateur",
        "op_b": "operateur", "landlord": "bailleur", "referrer": "orienteur"}
# the part each person's organisation plays in every case (op_b's organisation: none)
PART = {"op_a": "operator", "landlord": "landlord", "referrer": "referrer"}
# what the household grants when it consents (the referrer is granted nothing)
GRANTED = {"operator": ALL, "landlord": frozenset({"identity", "procedure"})}
# who must act on the open step at each stage
ACTS = {"analyse": frozenset({"coordinator"}), "decision": frozenset({"op_a", "op_b"}),
        "bound": frozenset({"op_a"})}
TOKENS = ("name", "health", "debt")
CATEGORY = {"name": "identity", "health": "health", "debt": "procedure"}
VOLATILE = {"audit_event", "audit_event_territory", "web_session", "sign_in_throttle"}
DECISION_TEXT = ("Acceptez ou refusez l'orientation ({{ nom_menage }} ; {{ sante }} ; "
                 "{{ dette }}).")


def expected_view(person: str, state: str, stage: str) -> frozenset[str] | None:
    """The categories ``person`` reads of a case (empty: the minimal view; None: 404)."""
    if person in ("coordinator", "admin"):
        return ALL
    part = PART.get(person)
    if part is not None:
        return GRANTED.get(part, frozenset()) if state == "given" else frozenset()
    if person in ACTS[stage]:
        return frozenset()
    return None


def in_list(person: str) -> bool:
    """Does the cases list hold the person's cases (coordination: all; others: their
    organisation's, as a party)?"""
    return person in ("coordinator", "admin") or person in PART


def acts(person: str, stage: str) -> bool:
    """Is the open step the person's to act on (or to assign, for coordination)?"""
    return person in ACTS[stage] or person in ("coordinator", "admin")


# --------------------------------------------------------------------------- the world


@dataclass
class Case:
    """One case of the matrix and the values it must show or hide."""

    id: int
    reference: str
    state: str
    stage: str
    task_id: int
    tokens: dict[str, str]


@dataclass
class World:
    app: Flask
    territory_id: int
    circuit_id: int
    version_id: int
    cases: list[Case] = field(default_factory=list)
    orgs: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    clients: dict[str, FlaskClient] = field(default_factory=dict)

    def get(self, person: str, url: str) -> tuple[int, str]:
        answer = self.clients[person].get(url)
        page = answer.get_data().decode("utf-8", "replace")
        answer.close()
        return answer.status_code, page

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        with self.app.extensions["aiguillage"].sessions() as session:
            for table in Base.metadata.sorted_tables:
                if table.name not in VOLATILE:
                    rows = session.execute(select(table).order_by(*table.primary_key.columns))
                    digest.update(table.name.encode() + repr(rows.all()).encode())
        return digest.hexdigest()


BOUND = ('<bpmn:lane id="lane_op" name="operateur"><bpmn:extensionElements>'
         '<spiffworkflow:properties><spiffworkflow:property name="part" value="operator" />'
         '</spiffworkflow:properties></bpmn:extensionElements>')


def _folder(root: Path, bound: bool) -> Path:
    """The small circuit, with categories on its start form and a decision step whose
    instructions show a name, a health answer and a debt (its lane bound to the operator
    part if ``bound``: circuit ``lie``, else ``mini``)."""
    folder = root / ("visi-lie" if bound else "visi")
    shutil.copytree(MINI, folder)
    (folder / "territory.json").write_text(json.dumps({
        "code": "visi", "name": "Territoire Visibilité",
        "roles": [{"key": "coordination", "label": "Coordination de la plateforme"},
                  {"key": "operateur", "label": "Opérateur d'accompagnement"},
                  {"key": "orienteur", "label": "Partenaire orienteur"},
                  {"key": "bailleur", "label": "Bailleur social"}],
        "parts": [{"key": "referrer", "label": "Structure qui oriente"},
                  {"key": "platform", "label": "Coordination de la plateforme"},
                  {"key": "operator", "label": "Opérateur d'accompagnement"},
                  {"key": "landlord", "label": "Bailleur"}],
        "circuits": [{"key": "lie" if bound else "mini",
                      "title": "Circuit lié" if bound else "Circuit d'essai",
                      "file": "mini.bpmn", "process": "mini"}]}), encoding="utf-8")
    bpmn = folder / "mini.bpmn"
    text = bpmn.read_text(encoding="utf-8").replace(
        "Acceptez ou refusez l'orientation.", DECISION_TEXT)
    if bound:
        text = text.replace('<bpmn:lane id="lane_op" name="operateur">', BOUND)
    bpmn.write_text(text, encoding="utf-8")
    saisine = folder / "forms" / "mini-saisine.json"
    form = json.loads(saisine.read_text(encoding="utf-8"))
    props = form["properties"]
    props["nom_menage"]["x-aiguillage-category"] = "identity"
    props["nb_enfants"]["x-aiguillage-category"] = "household"
    props["sante"] = {"type": "string", "title": "Situation de santé", "maxLength": 200,
                      "x-aiguillage-category": "health"}
    props["dette"] = {"type": "string", "title": "Dette locative", "maxLength": 200,
                      "x-aiguillage-category": "procedure"}
    saisine.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    return folder


def _open_step(session: Session, case_id: int) -> int:
    task_id = session.scalar(select(HumanTask.id).where(HumanTask.case_id == case_id,
                                                        HumanTask.status == "open"))
    assert task_id is not None
    return task_id


def build(app: Flask, clock: FixedClock, root: Path) -> World:
    with app.extensions["aiguillage"].sessions() as session:
        folder = _folder(root, bound=False)
        [version] = circuits.deploy_folder(session, clock, SYSTEM, folder, folder / "forms")
        circuit = session.get(Circuit, version.circuit_id)
        assert circuit is not None
        territory = circuit.territory_id
        folder = _folder(root, bound=True)
        [bound] = circuits.deploy_folder(session, clock, SYSTEM, folder, folder / "forms")
        assert session.get(Circuit, bound.circuit_id).territory_id == territory  # type: ignore[union-attr]
        world = World(app, territory, circuit.id, version.id)
        for key, name, kind in (("platform", "Plateforme Visi", "plateforme"),
                                ("ccas", "CCAS Visi", "ccas"),
                                ("op_a", "Association A", "association"),
                                ("op_b", "Association B", "association"),
                                ("landlord", "Bailleur Visi", "bailleur")):
            world.orgs[key] = make_org(session, clock, territory, name, kind)
        org_of = {"coordinator": "platform", "op_a": "op_a", "op_b": "op_b",
                  "landlord": "landlord", "referrer": "ccas"}
        for person in PEOPLE:
            org = world.orgs[org_of[person]] if person in org_of else None
            who = make_user(session, clock, f"{person}@visi.test", territory, ROLE[person],
                            organisation=org)
            assert who.user_id is not None
            world.users[person] = who.user_id
        coordinator = make_user(session, clock, "ouvre@visi.test", territory, "coordination")
        now = clock.now()
        for n, (state, stage) in enumerate((s, t) for s in STATES for t in STAGES):
            tokens = {"name": f"Foyer Zorglub{n}q", "health": f"Asthme{n}q sévère",
                      "debt": f"Arriéré{n}q de loyer"}
            summary = cases.start(session, clock, coordinator,
                                  bound.circuit_id if stage == "bound" else circuit.id, {
                "nom_menage": tokens["name"], "sante": tokens["health"],
                "dette": tokens["debt"], "nb_enfants": 3})
            for part, org in (("referrer", "ccas"), ("platform", "platform"),
                              ("operator", "op_a"), ("landlord", "landlord")):
                make_party(session, clock, summary.id, part, world.orgs[org])
            for part, categories in GRANTED.items():
                if state == "given":
                    give_consent(session, clock, summary.id, part, categories)
                elif state == "withdrawn":
                    give_consent(session, clock, summary.id, part, categories,
                                 given_at=now - timedelta(days=10), withdrawn_at=now)
                elif state == "expired":
                    give_consent(session, clock, summary.id, part, categories,
                                 given_at=now - timedelta(days=60),
                                 valid_until=now - timedelta(days=1))
            if stage != "analyse":
                tasks.complete(session, clock, coordinator, _open_step(session, summary.id),
                               {"mesure": "avdl"})
            world.cases.append(Case(summary.id, summary.reference, state, stage,
                                    _open_step(session, summary.id), tokens))
    for person in PEOPLE:
        client = app.test_client()
        answer = client.post("/connexion", data={"email": f"{person}@visi.test",
                                                 "password": PASSWORD})
        assert answer.status_code == 302, person
        world.clients[person] = client
    return world


@pytest.fixture
def world(any_app: Flask, clock: FixedClock, tmp_path: Path) -> Iterator[World]:
    yield build(any_app, clock, tmp_path)


# --------------------------------------------------------------------------- the checks


def _shown(page: str, case: Case, view: frozenset[str], where: str,
           wrong: list[str], exact: bool = True) -> None:
    """Each value appears iff its category is read (``exact``), or at least never when not."""
    for token in TOKENS:
        present = case.tokens[token] in page
        allowed = CATEGORY[token] in view
        if present and not allowed:
            wrong.append(f"{where}: shows the {token} ({case.state}/{case.stage})")
        elif exact and allowed and not present:
            wrong.append(f"{where}: misses the {token} ({case.state}/{case.stage})")


def test_case_pages_follow_the_rule(world: World) -> None:
    wrong: list[str] = []
    for person in PEOPLE:
        for case in world.cases:
            view = expected_view(person, case.state, case.stage)
            where = f"{person} case {case.state}/{case.stage}"
            status, page = world.get(person, f"/dossiers/{case.id}")
            if view is None:
                if status != 404:
                    wrong.append(f"{where}: page {status}, expected 404")
                continue
            if status != 200:
                wrong.append(f"{where}: page {status}, expected 200")
                continue
            _shown(page, case, view, f"{where} page", wrong)
            if case.reference not in page:
                wrong.append(f"{where}: no reference")
            if not view and ("Historique" in page or "Vue restreinte" not in page):
                wrong.append(f"{where}: not the minimal view")
            # the steps to act on (a minimal reader sees no other)
            link = f'/taches/{case.task_id}"'
            if (link in page) != acts(person, case.stage):
                wrong.append(f"{where}: link to the step {link in page}")
            status, _ = world.get(person, f"/dossiers/{case.id}/diagramme")
            if status != (200 if view else 404):
                wrong.append(f"{where}: diagram {status}")
    assert not wrong, "\n".join(wrong)


def test_task_pages_follow_the_rule(world: World) -> None:
    wrong: list[str] = []
    for person in PEOPLE:
        for case in world.cases:
            view = expected_view(person, case.state, case.stage)
            where = f"{person} step {case.state}/{case.stage}"
            status, page = world.get(person, f"/taches/{case.task_id}")
            if not acts(person, case.stage):
                if status != 404:
                    wrong.append(f"{where}: {status}, expected 404")
                continue
            assert view is not None  # acting on a step opens at least the minimal view
            if status != 200:
                wrong.append(f"{where}: {status}, expected 200")
                continue
            # the decision's instructions show the three values; the analysis's, the name
            _shown(page, case, view, where, wrong, exact=case.stage != "analyse")
            if case.stage == "analyse" and case.tokens["name"] not in page:
                wrong.append(f"{where}: misses the name")
    assert not wrong, "\n".join(wrong)


def test_lists_follow_the_rule(world: World) -> None:
    wrong: list[str] = []
    query = f"territoire={world.territory_id}"
    for person in PEOPLE:
        _, listed = world.get(person, f"/dossiers/?{query}")
        _, mine = world.get(person, "/taches/")
        for case in world.cases:
            view = expected_view(person, case.state, case.stage)
            named = view is not None and "identity" in view
            where = f"{person} {case.state}/{case.stage}"
            scoped = in_list(person)
            cell = f">{case.reference}<"  # a row's link (the search box repeats the query)
            if (cell in listed) != scoped:
                wrong.append(f"{where}: cases list shows the case: {not scoped}")
            _shown(listed, case, frozenset({"identity"}) if named and scoped else frozenset(),
                   f"{where} cases list", wrong)
            # search: by reference within the scope; by name only where the name is read
            _, found = world.get(person, f"/dossiers/?{query}&q={case.reference}")
            if (cell in found) != scoped:
                wrong.append(f"{where}: search by reference finds it: {not scoped}")
            _, found = world.get(person, f"/dossiers/?{query}&q={case.tokens['name']}")
            if (cell in found) != (scoped and named):
                wrong.append(f"{where}: search by name finds it: {not (scoped and named)}")
            # my tasks: the steps offered to the person (coordination: its own role's)
            offered = person in ACTS[case.stage]
            if (f'/taches/{case.task_id}"' in mine) != offered:
                wrong.append(f"{where}: my tasks shows the step: {not offered}")
            _shown(mine, case, frozenset({"identity"}) if named and offered else frozenset(),
                   f"{where} my tasks", wrong)
    assert not wrong, "\n".join(wrong)


# supervision pages and exports: administrators (and the « sans référent » list: coordination)
OVERSIGHT = {"admin.dashboard": "/supervision/?vue=sans-echeance&jours=0",
             "admin.export": "/supervision/export.csv?vue=sans-echeance",
             "admin.incidents": "/supervision/incidents",
             "admin.journal": "/supervision/journal",
             "admin.journal_export": "/supervision/journal.csv",
             "team.without_referent": "/dossiers/sans-referent?jours=0",
             "statistics.index": "/statistiques/?debut=01/01/2020",
             "statistics.export": "/statistiques/export.csv?debut=01/01/2020"}
# the coordination reads these too; statistics are aggregates: no case's data, ever
COORDINATION_TOO = {"team.without_referent", "statistics.index", "statistics.export"}


def test_oversight_and_exports_follow_the_rule(world: World) -> None:
    wrong: list[str] = []
    moves = f"/supervision/circuits/{world.circuit_id}/versions/{world.version_id}/deplacer"
    for person in PEOPLE:
        for endpoint, url in [*OVERSIGHT.items(), ("admin.move_cases", moves)]:
            allowed = person == "admin" or (person == "coordinator"
                                            and endpoint in COORDINATION_TOO)
            status, page = world.get(person, url)
            if status != (200 if allowed else 403):
                wrong.append(f"{person} {endpoint}: {status}")
            aggregates = endpoint.startswith("statistics.")
            for case in world.cases:
                _shown(page, case, ALL if allowed and not aggregates else frozenset(),
                       f"{person} {endpoint}", wrong, exact=False)
                if case.tokens["health"] in page or case.tokens["debt"] in page:
                    wrong.append(f"{person} {endpoint}: case data in a list")
        for case in world.cases:
            status, page = world.get(person, f"/supervision/dossiers/{case.id}/reparer")
            view = expected_view(person, case.state, case.stage)
            expected = 200 if person == "admin" else 404 if view is None else 403
            if status != expected:
                wrong.append(f"{person} repair {case.state}/{case.stage}: {status}")
    assert not wrong, "\n".join(wrong)


FORGED_URLS = {"cases.close": "/dossiers/{case}/cloturer",
               "team.set_party": "/dossiers/{case}/parties",
               "team.end_party": "/dossiers/{case}/parties/fin",
               "team.set_referent": "/dossiers/{case}/referent",
               "team.end_referent": "/dossiers/{case}/referent/fin",
               "consent.record": "/dossiers/{case}/consentement",
               "consent.withdraw": "/dossiers/{case}/consentement/retrait",
               "admin.repair": "/supervision/dossiers/{case}/reparer",
               "tasks.show": "/taches/{task}",
               "tasks.claim": "/taches/{task}/prendre",
               "tasks.unclaim": "/taches/{task}/rendre",
               "tasks.assign": "/taches/{task}/confier",
               "subject_access.identity": "/dossiers/{case}/identite",
               # an outside answer entered by hand (issue #18 item 4)
               "cases.message": "/dossiers/{case}/reponses/reponse_siao"}


def _body(world: World, endpoint: str) -> dict[str, Any]:
    """A well-formed body for each POST about a case or a step."""
    someone = world.users["coordinator"]
    return {"cases.close": {"reason": "Doublon"},
            "team.set_party": {"part": "operator", "organisation": world.orgs["op_b"],
                               "reason": "Forcé"},
            "team.end_party": {"part": "operator", "reason": "Forcé"},
            "team.set_referent": {"user_id": someone, "reason": "Forcé"},
            "team.end_referent": {"reason": "Forcé"},
            "consent.record": {"parts": "operator", "purpose": "support",
                               "categories": "health", "basis": "signed"},
            "consent.withdraw": {"part": "operator", "reason": "Forcé"},
            "admin.repair": {"etape": "analyse"},
            "tasks.show": {"mesure": "asll", "decision": "acceptee"},
            "tasks.assign": {"user_id": someone},
            "subject_access.identity": {"nom_menage": "Forcé",
                                        "motif_correction": "Forcé"}}.get(endpoint, {})


def test_a_forged_post_about_a_case_out_of_reach_is_not_found(world: World) -> None:
    """Operator B's worker is no party to any case and has nothing to do on a case waiting
    on the coordination or on the case's own operator: every action on it (or on its step)
    answers 404, nothing changes
    (the administration's actions refuse a non-administrator with 403 before reading the
    case: they tell nothing of it either)."""
    wrong: list[str] = []
    before = world.fingerprint()
    for case in world.cases:
        if expected_view("op_b", case.state, case.stage) is not None:
            continue
        for endpoint, url in FORGED_URLS.items():
            answer = world.clients["op_b"].post(
                url.format(case=case.id, task=case.task_id), data=_body(world, endpoint))
            answer.close()
            if answer.status_code != (403 if endpoint.startswith("admin.") else 404):
                wrong.append(f"{endpoint} {case.state}/{case.stage}: {answer.status_code}")
    assert world.fingerprint() == before, "a refused action changed data"
    assert not wrong, "\n".join(wrong)


def test_household_pages_follow_the_rule(world: World) -> None:
    """A household's page lists its cases as the cases list does (404 when the reader finds
    none of them), its name only where the name of one of them is read, never a health
    answer or a debt; the likely duplicates (names side by side) are the coordination's."""
    with world.app.extensions["aiguillage"].sessions() as session:
        household = dict(session.execute(select(CaseRow.id, CaseRow.household_id)).all())
    wrong: list[str] = []
    for person in PEOPLE:
        coordinates = person in ("coordinator", "admin")
        status, page = world.get(person, f"/menages/doublons?territoire={world.territory_id}")
        if status != (200 if coordinates else 403):
            wrong.append(f"{person} duplicates: {status}")
        for case in world.cases:
            _shown(page, case, frozenset({"identity"}) if coordinates else frozenset(),
                   f"{person} duplicates", wrong, exact=False)
            view = expected_view(person, case.state, case.stage)
            where = f"{person} household {case.state}/{case.stage}"
            status, page = world.get(person, f"/menages/{household[case.id]}")
            if status != (200 if in_list(person) else 404):
                wrong.append(f"{where}: {status}")
                continue
            named = view is not None and "identity" in view and in_list(person)
            _shown(page, case, frozenset({"identity"}) if named else frozenset(), where, wrong)
    assert not wrong, "\n".join(wrong)


def test_the_rights_pages_are_the_coordinations(world: World) -> None:
    """What is held about a household and the correction of its identity (#16 item 3): the
    coordination's; a reader of the case is refused (403), anyone else finds nothing (404)."""
    with world.app.extensions["aiguillage"].sessions() as session:
        household = dict(session.execute(select(CaseRow.id, CaseRow.household_id)).all())
    wrong: list[str] = []
    for person in PEOPLE:
        coordinates = person in ("coordinator", "admin")
        for case in world.cases:
            reads = expected_view(person, case.state, case.stage) is not None
            where = f"{person} {case.state}/{case.stage}"
            expected = 200 if coordinates else 403 if reads else 404
            status, _ = world.get(person, f"/dossiers/{case.id}/identite")
            if status != expected:
                wrong.append(f"{where} identity: {status}, expected {expected}")
            expected = 200 if coordinates else 403 if in_list(person) else 404
            for url in (f"/menages/{household[case.id]}/donnees",
                        f"/menages/{household[case.id]}/donnees.json"):
                status, page = world.get(person, url)
                if status != expected:
                    wrong.append(f"{where} {url}: {status}, expected {expected}")
    assert not wrong, "\n".join(wrong)


def test_commission_session_pages_follow_the_rule(world: World) -> None:
    """A session's agenda and the files of its cases (#15 item 3): the coordination reads them
    (the agenda: the reference and the name; a file: whole); nobody else of this world sits
    on the commission: the list is refused (403), the session, its files and its decisions
    are not found (404), and a refused POST changes nothing."""
    with world.app.extensions["aiguillage"].sessions() as session:
        now = datetime.now(UTC)
        row = CommissionSession(territory_id=world.territory_id, place="Salle Visi",
                                starts_at=now + timedelta(days=5),
                                agenda_closes_at=now - timedelta(days=2),
                                files_sent_at=now - timedelta(minutes=1), state="files_sent",
                                created_at=now)
        session.add(row)
        session.flush()
        for case in world.cases:
            session.add(SessionCase(session_id=row.id, case_id=case.id, joined_at=now))
        session.commit()
        sid = row.id
    wrong: list[str] = []
    base = f"/commission/seances/{sid}"
    for person in PEOPLE:
        runs = person in ("coordinator", "admin")
        status, _ = world.get(person, "/commission/seances/")
        if status != (200 if runs else 403):
            wrong.append(f"{person} sessions list: {status}")
        status, agenda = world.get(person, base)
        if status != (200 if runs else 404):
            wrong.append(f"{person} session: {status}")
        for case in world.cases:
            where = f"{person} {case.state}/{case.stage}"
            _shown(agenda, case, frozenset({"identity"}) if runs else frozenset(),
                   f"{where} agenda", wrong)
            status, page = world.get(person, f"{base}/dossiers/{case.id}")
            if status != (200 if runs else 404):
                wrong.append(f"{where} file: {status}")
            _shown(page, case, ALL if runs else frozenset(), f"{where} file", wrong)
            status, page = world.get(person, f"{base}/decision/{case.id}")
            if status != (200 if runs else 404):
                wrong.append(f"{where} decision page: {status}")
            _shown(page, case, frozenset() if not runs else ALL, f"{where} decision", wrong,
                   exact=False)
    before = world.fingerprint()
    for url in (f"{base}/decision/{world.cases[0].id}", f"{base}/diffuser", f"{base}/clore"):
        answer = world.clients["op_b"].post(url, data={"decision_commission": "ajournement"})
        answer.close()
        if answer.status_code != 404:
            wrong.append(f"op_b POST {url}: {answer.status_code}")
    assert world.fingerprint() == before, "a refused action changed data"
    assert not wrong, "\n".join(wrong)


# --------------------------------------------------------------------------- coverage

CASE_PAGES = {("cases.show", "GET"), ("cases.diagram", "GET"), ("tasks.show", "GET"),
              ("admin.repair", "GET"),
              # test_the_rights_pages_are_the_coordinations
              ("subject_access.identity", "GET"), ("subject_access.document", "GET"),
              ("subject_access.as_json", "GET"),
              # test_commission_session_pages_follow_the_rule
              ("commission.show", "GET"), ("commission.case_file", "GET"),
              ("commission.decide", "GET"), ("commission.decide", "POST"),
              ("commission.index", "GET"),
              # an outside answer's hand entry: tests/web/test_case_messages.py
              ("cases.message", "GET")}
FORGED = {(endpoint, "POST") for endpoint in FORGED_URLS}
LISTS = {("cases.index", "GET"), ("tasks.index", "GET"), ("admin.move_cases", "GET"),
         ("households.show", "GET"), ("households.duplicates", "GET"),
         *((endpoint, "GET") for endpoint in OVERSIGHT)}
# pages that show no case: the start form (before a case exists), circuits, accounts...
NO_CASE = {"account.index", "auth.login", "main.index", "main.accessibility", "main.healthz",
           "main.favicon", "main.readyz", "main.metrics_page",
           "static", "cases.new", "admin.people", "circuits.index", "circuits.diff",
           "circuits.export", "circuits.modeler", "circuits.draft_data", "circuits.forms",
           "circuits.form_new", "circuits.form_edit", "circuits.import_files",
           "circuits.dry_run",
           # the directory of services holds organisations' services, never a household
           "directory.index", "directory.show", "directory.new", "directory.edit",
           "directory.export", "directory.import_file",
           # a signed answer link's pages: no account reads them, the link shows what the
           # consent grants the orientation's part (tests/web/test_answer_links.py); its
           # coordination page lists links, never a household's data
           "answer.show", "answer.thanks", "answer.links",
           # the territory's refusal reasons: a list of codes, never a household
           "orientations.reasons",
           # an account's roles (#14 item 8)
           "admin.roles",
           # the organisations' webhooks (#18 item 3): subscriptions and delivery ids, never
           # a household (the bodies sent carry none either: tests/integration/test_webhooks)
           "webhooks.index",
           # the organisations' API keys (#18 item 2): software names, roles and circuits
           "api_keys.index", "api_keys.new", "api_keys.rotate", "api_keys.revoke",
           # signing in through an OpenID provider (#18 item 5): redirects and refusals
           "auth.oidc_start", "auth.oidc_callback"}


def test_every_case_page_is_in_the_matrix(app: Flask) -> None:
    """A route about a case or a step, or a page that is not known to show no case, must be
    checked above."""
    checked = CASE_PAGES | FORGED | LISTS | API_ROUTES
    missing = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            key = (rule.endpoint, method)
            about_a_case = bool({"case_id", "task_id"} & set(rule.arguments))
            if key in checked:
                continue
            if about_a_case or (method == "GET" and rule.endpoint not in NO_CASE):
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert not missing, "not in the visibility matrix: " + ", ".join(sorted(missing))


# --------------------------------------------------------------------------- the REST API

# the API's routes, checked by the test below (those about no case: circuits, their start
# forms, the directory, the document)
API_ROUTES = {("api.case", "GET"), ("api.task", "GET"), ("api.task_list", "GET"),
              ("api.complete", "POST"), ("api.message", "POST"), ("api.open_case", "POST"),
              ("api.circuit_list", "GET"), ("api.start_form", "GET"),
              ("api.directory_list", "GET"), ("api.directory_entry", "GET"),
              ("api.openapi", "GET")}
ORG_OF = {"op_a": "op_a", "op_b": "op_b", "landlord": "landlord", "referrer": "ccas"}


def _api_keys(world: World, clock: FixedClock) -> dict[str, str]:
    """A key per organisation of a person who is no coordination (a key never holds the
    coordination's role), playing that person's role: its token."""
    tokens = {}
    with world.app.extensions["aiguillage"].sessions() as session:
        for person, org in ORG_OF.items():
            tokens[person] = api_keys.create(
                session, clock, SYSTEM, world.territory_id, world.orgs[org],
                f"Logiciel {person}", [ROLE[person]], ["read", "write"], None).token
    return tokens


def _api_get(world: World, token: str, url: str) -> tuple[int, str]:
    answer = world.app.test_client().get(url, headers={"Authorization": f"Bearer {token}"})
    text = json.dumps(answer.json, ensure_ascii=False)  # the values as written
    return answer.status_code, text


def test_api_reads_follow_the_rule(world: World, clock: FixedClock) -> None:
    """A key reads what a person of its organisation in its role reads: the case (as much
    of it as consent grants, the minimal view, or 404), the step it acts on, its steps list;
    a forged POST on a case out of its reach is 404 and changes nothing."""
    tokens = _api_keys(world, clock)
    wrong: list[str] = []
    for person, token in tokens.items():
        _, mine = _api_get(world, token, "/api/v1/tasks?limit=100")
        for case in world.cases:
            view = expected_view(person, case.state, case.stage)
            where = f"{person} API {case.state}/{case.stage}"
            status, read = _api_get(world, token, f"/api/v1/cases/{case.reference}")
            if status != (404 if view is None else 200):
                wrong.append(f"{where}: case {status}")
            elif view is not None:
                _shown(read, case, view, f"{where} case", wrong)
            status, step = _api_get(world, token, f"/api/v1/tasks/{case.task_id}")
            offered = person in ACTS[case.stage]
            if status != (200 if offered else 404):
                wrong.append(f"{where}: step {status}")
            elif offered and view is not None:
                _shown(step, case, view, f"{where} step", wrong)
            named = view is not None and "identity" in view
            if (f'"id": {case.task_id},' in mine) != offered:
                wrong.append(f"{where}: my steps shows the step: {not offered}")
            _shown(mine, case, frozenset({"identity"}) if named and offered else frozenset(),
                   f"{where} my steps", wrong)
    before = world.fingerprint()
    client = world.app.test_client()
    for case in world.cases:
        if expected_view("op_b", case.state, case.stage) is not None:
            continue
        for url in (f"/api/v1/tasks/{case.task_id}/complete",
                    f"/api/v1/cases/{case.reference}/messages/reponse"):
            answer = client.post(url, json={"data": {"decision": "acceptee"}},
                                 headers={"Authorization": f"Bearer {tokens['op_b']}"})
            if answer.status_code != 404:
                wrong.append(f"forged {url} {case.state}/{case.stage}: {answer.status_code}")
    assert world.fingerprint() == before, "a refused API call changed data"
    assert not wrong, "\n".join(wrong)
