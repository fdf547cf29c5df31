"""Two territories with the same small circuit and a person in each role, for permission tests.

Territory A (the small circuit's own, ``mini``) and territory B (``autre``, same roles) each
hold real objects: a case without the household's consent, one with it, one waiting on the
operator's decision with its timers (one in incident), a draft, a membership and a user. The
step instructions of the circuit show case data (``{{ nb_enfants }}``), as an author may write.

The worker belongs to the operator organisation and the partner to the referrer
organisation; both organisations are parties to every case, and the household's consent
covers them (every data category) on the consent case and the decision case only.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.bundles import Territory as TerritoryFile
from engine.core.consent import CATEGORIES
from engine.persistence.models import (
    Case,
    Circuit,
    HouseholdMatch,
    HumanTask,
    Membership,
    Timer,
)
from engine.persistence.models.timer import TimerStatus
from engine.services import cases, circuits, directory, drafts, tasks
from engine.services.access import SYSTEM, Actor
from engine.services.directory import Entry
from tests.integration.factories import (
    MINI,
    declare_parts,
    give_consent,
    make_org,
    make_party,
    make_user,
)

ANALYSE_TEXT = "Analysez la demande de {{ nom_menage }}."
CHILDREN_TEXT = "Analysez la demande ({{ nb_enfants }} enfants à charge)."
DECISION_TEXT = "Acceptez ou refusez l'orientation."
DECISION_CHILDREN = "Acceptez ou refusez l'orientation ({{ nb_enfants }} enfants à charge)."
ROLES = ("worker", "partner", "coordinator", "admin")


def children_circuit(root: Path) -> Path:
    """A copy of the small circuit whose first step's instructions show ``nb_enfants``."""
    folder = root / "mini"
    shutil.copytree(MINI, folder)
    bpmn = folder / "mini.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace(ANALYSE_TEXT, CHILDREN_TEXT)
                    .replace(DECISION_TEXT, DECISION_CHILDREN), encoding="utf-8")
    return folder


@dataclass
class Place:
    """One territory, its people by role and its objects."""

    code: str
    territory_id: int
    circuit_id: int
    version_id: int
    people: dict[str, Actor] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    case_id: int = 0  # no consent; waits on ``analyse`` (coordination)
    consent_case_id: int = 0  # the household agreed to share
    task_id: int = 0  # the open ``analyse`` step of ``case_id``
    consent_task_id: int = 0
    decision_case_id: int = 0  # waits on ``decision`` (operator) with its timers
    decision_task_id: int = 0
    timer_id: int = 0  # in incident (failed)
    draft_id: int = 0
    membership_id: int = 0  # the worker's role
    user_id: int = 0  # the worker
    operator_org: int = 0  # the worker's organisation
    referrer_org: int = 0  # the partner's organisation
    service_id: int = 0  # a directory entry run by the worker's organisation
    household_id: int = 0  # the household of ``case_id``
    match_id: int = 0  # an open likely duplicate: ``case_id``'s household and another


def _open_step(session: Session, case_id: int, bpmn_id: str) -> int:
    task_id = session.scalar(select(HumanTask.id).where(
        HumanTask.case_id == case_id, HumanTask.bpmn_id == bpmn_id, HumanTask.status == "open"))
    assert task_id is not None
    return task_id


def make_place(session: Session, clock: Clock, folder: Path, code: str, label: str) -> Place:
    """Deploy the circuit of ``folder`` into territory ``code`` and fill it."""
    [version] = circuits.deploy_folder(session, clock, SYSTEM, folder, folder / "forms",
                                       into=TerritoryFile(code, f"Territoire {label}", ()),
                                       prefix=code[:3])
    circuit = session.get(Circuit, version.circuit_id)
    assert circuit is not None
    place = Place(code, circuit.territory_id, circuit.id, version.id)
    declare_parts(session, place.territory_id)
    place.operator_org = make_org(session, clock, place.territory_id, f"Opérateur {label}")
    place.referrer_org = make_org(session, clock, place.territory_id, f"CCAS {label}", "ccas")
    place.service_id = directory.create(session, clock, SYSTEM, place.territory_id, Entry(
        organisation_id=place.operator_org, measure="avdl", name=f"AVDL {label}",
        capacity=10, places_available=3))
    organisations = {"worker": place.operator_org, "partner": place.referrer_org}
    for role, held in zip(ROLES, ("operateur", "orienteur", "coordination", "admin"),
                          strict=True):
        email = f"{role}@{code}.test"
        place.people[role] = make_user(session, clock, email, place.territory_id, held,
                                       organisation=organisations.get(role))
        place.emails[role] = email
    coordinator = place.people["coordinator"]
    household = f"Ménage {label}"
    place.case_id = cases.start(session, clock, coordinator, circuit.id,
                                {"nom_menage": household, "nb_enfants": 7}).id
    place.consent_case_id = cases.start(session, clock, coordinator, circuit.id, {
        "nom_menage": f"{household} d'accord", "nb_enfants": 5, "accord_partage": True}).id
    place.task_id = _open_step(session, place.case_id, "analyse")
    place.consent_task_id = _open_step(session, place.consent_case_id, "analyse")
    place.decision_case_id = cases.start(session, clock, coordinator, circuit.id,
                                         {"nom_menage": f"{household} en décision"}).id
    for case_id in (place.case_id, place.consent_case_id, place.decision_case_id):
        make_party(session, clock, case_id, "operator", place.operator_org)
        make_party(session, clock, case_id, "referrer", place.referrer_org)
    for case_id in (place.consent_case_id, place.decision_case_id):
        for part in ("operator", "referrer"):
            give_consent(session, clock, case_id, part, CATEGORIES)
    tasks.complete(session, clock, coordinator,
                   _open_step(session, place.decision_case_id, "analyse"), {"mesure": "avdl"})
    place.decision_task_id = _open_step(session, place.decision_case_id, "decision")
    timer = session.scalars(select(Timer).where(Timer.case_id == place.decision_case_id)
                            .order_by(Timer.due_at.desc())).first()
    assert timer is not None
    timer.status, timer.attempts, timer.last_error = TimerStatus.FAILED, 5, "panne simulée"
    session.commit()
    place.timer_id = timer.id
    place.draft_id = drafts.open_for_circuit(session, clock, coordinator, circuit.id).id
    worker = place.people["worker"]
    assert worker.user_id is not None
    place.user_id = worker.user_id
    membership = session.scalar(select(Membership.id).where(Membership.user_id == worker.user_id))
    assert membership is not None
    place.membership_id = membership
    place.household_id, place.match_id = _likely_duplicate(session, clock, place)
    return place


def _likely_duplicate(session: Session, clock: Clock, place: Place) -> tuple[int, int]:
    """The household of ``case_id`` and a likely duplicate pairing it with the consent
    case's (written as is: the names differ too much to be flagged when opened)."""
    newer, older = (session.get(Case, c) for c in (place.consent_case_id, place.case_id))
    assert newer is not None and older is not None
    assert newer.household_id is not None and older.household_id is not None
    match = HouseholdMatch(territory_id=place.territory_id, household_id=newer.household_id,
                           other_id=older.household_id, score=90, status="open",
                           found_at=clock.now())
    session.add(match)
    session.commit()
    return older.household_id, match.id


def make_two(session: Session, clock: Clock, root: Path) -> tuple[Place, Place]:
    """Territories A (``alpha``) and B (``beta``) with the instructions-showing circuit."""
    folder = children_circuit(root)
    return (make_place(session, clock, folder, "alpha", "Alpha"),
            make_place(session, clock, folder, "beta", "Bêta"))
