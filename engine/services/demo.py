"""Synthetic demo data: a territory, its people, and cases at various steps.

Cases are opened by replaying the starts of the scripted scenarios (tests/scenarios/)
through the real services, with a clock set in the past, so some steps are overdue.
``generate`` then multiplies them by copying rows (for volume tests at 100k cases), with
their parties, their consent and their steps' routing, spread over the two operators.
Every name is invented; nothing here is real personal data.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from engine.clock import Clock, FixedClock
from engine.core.bundles import Territory as TerritoryFile
from engine.errors import EngineError
from engine.persistence.db import transaction
from engine.persistence.models import (
    Case,
    CaseConsent,
    CaseParty,
    CaseState,
    Circuit,
    DirectoryService,
    HouseholdMatch,
    HumanTask,
    Membership,
    Organisation,
    ReferenceCounter,
    Territory,
    Timer,
)
from engine.persistence.models.case import CaseStatus
from engine.persistence.models.human_task import TaskStatus
from engine.persistence.models.timer import TimerStatus
from engine.services import (
    cases,
    circuits,
    commission_sessions,
    directory_seed,
    households,
    parties,
    tasks,
    team,
    territories,
    users,
)
from engine.services.access import SYSTEM

DEMO = TerritoryFile(code="demo", name="Territoire de démonstration", roles=())
FIELD_ROLES = ("orienteur", "operateur", "referent", "evaluation", "accueil", "aller_vers",
               "travailleur_social", "presentateur", "partenaire", "bailleur", "siao")
COORD_ROLES = ("coordination", "secretariat", "financeurs", "equipe")
SURNAMES = ("Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois",
            "Moreau", "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David",
            "Bertrand", "Morel", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine")


@dataclass(frozen=True)
class DemoAccounts:
    """The demo sign-ins (same password for all)."""

    coordinator: str = "coord@demo.test"
    social_worker: str = "ts@demo.test"
    administrator: str = "admin@demo.test"
    referrer: str = "orienteur@demo.test"
    operator_a: str = "operateur-a@demo.test"
    operator_b: str = "operateur-b@demo.test"
    landlord: str = "bailleur@demo.test"
    member: str = "membre@demo.test"

    def listing(self) -> list[tuple[str, str]]:
        """(e-mail, what the account does) for every demo account, as the CLI prints them."""
        return [(self.coordinator, "coordination"), (self.social_worker, "travail social"),
                (self.administrator, "administration"),
                (self.referrer, "partenaire orienteur, CCAS"),
                (self.operator_a, "opérateur A : Association Relais"),
                (self.operator_b, "opérateur B : Association Horizon"),
                (self.landlord, "bailleur social : Démo Habitat"),
                (self.member, "membre de la commission des situations complexes")]


def load(session: Session, clock: Clock, root: Path, password: str,
         cases_per_circuit: int = 6, seed: int = 2026) -> int:
    """Create the demo territory, accounts and synthetic cases; idempotent on the territory.

    Returns the demo territory id.
    """
    existing = demo_territory(session)
    if existing is not None:
        return existing
    versions = circuits.deploy_folder(session, clock, SYSTEM, root / "processes" / "reference",
                                      root / "forms", "Circuits de référence", into=DEMO,
                                      prefix="TLS")
    territory_id = session.get(Circuit, versions[0].circuit_id).territory_id  # type: ignore[union-attr]
    orgs = {part: territories.create_organisation(session, clock, SYSTEM, territory_id, name,
                                                  kind).id
            for part, name, kind in ORGANISATIONS}
    directory_seed.seed_demo(session, clock, territory_id, orgs)
    accounts = DemoAccounts()
    people = ((accounts.coordinator, "Camille Coordination", COORD_ROLES, None),
              (accounts.social_worker, "Sacha Travail-Social", FIELD_ROLES, orgs["referrer"]),
              (accounts.administrator, "Alex Administration", ("admin",), None),
              (accounts.referrer, "Noa Orientation", ("orienteur",), orgs["referrer"]),
              (accounts.operator_a, "Lou Relais", ("operateur", "referent"), orgs["operator"]),
              (accounts.operator_b, "Sam Horizon", ("operateur", "referent"),
               orgs["operator_b"]),
              (accounts.landlord, "Dominique Habitat", ("bailleur",), orgs["landlord"]),
              (accounts.member, "Claude Commission", ("membre_commission",), None))
    for email, name, roles, organisation in people:
        user = users.create_user(session, clock, SYSTEM, email, name, password)
        for role in roles:
            users.add_membership(session, clock, SYSTEM, user.id, territory_id, role,
                                 organisation)
    if cases_per_circuit:
        _replay_cases(session, clock, root, territory_id, cases_per_circuit, random.Random(seed))
        _commission_session(session, clock, root, territory_id)
        _set_parties(session, territory_id, orgs)
        _link_households(session, clock, territory_id)
    return territory_id


def _commission_session(session: Session, clock: Clock, root: Path, territory_id: int) -> None:
    """The monthly sessions the reference commission plans (those due within 45 days), and a
    session planned in three weeks with three situations on its agenda."""
    commission_sessions.plan_from_circuits(session, clock)
    circuit_id = session.scalar(select(Circuit.id).where(Circuit.territory_id == territory_id,
                                                         Circuit.key == "commission"))
    if circuit_id is None:
        return
    planned = commission_sessions.plan(session, clock, SYSTEM, territory_id,
                                       clock.now().replace(hour=13, minute=0, second=0,
                                                           microsecond=0)
                                       + timedelta(days=21), "Salle de la commission")
    story = json.loads((root / "tests" / "scenarios" / "reference" / "commission"
                        / "e1-orientee-vers-dispositif.json").read_text())
    earlier = FixedClock(clock.now() - timedelta(days=3))  # consent given before « now »
    for name in ("Ménage Garnier (fictif)", "Ménage Caron (fictif)", "Ménage Perrin (fictif)"):
        summary = cases.start(session, earlier, SYSTEM, circuit_id,
                              {**story["data"], "nom_menage": name})
        for step in story["steps"]:
            match = session.scalar(select(HumanTask.id).where(
                HumanTask.case_id == summary.id, HumanTask.bpmn_id == step["task"],
                HumanTask.status == TaskStatus.OPEN))
            if match is None:
                break
            data = step.get("data", {})
            if step["task"] == "C3_T03":
                data = {"seance": planned.id}
            tasks.complete(session, earlier, SYSTEM, match, data)
            if step["task"] == "C3_T03":
                break


def _link_households(session: Session, clock: Clock, territory_id: int) -> None:
    """The replayed cases draw their names from a short list, so opening them flagged
    likely duplicates: as a coordinator would, merge them all but the newest, left for the
    demo's « Doublons » page; the households then hold cases in several circuits."""
    while True:
        found = list(session.scalars(select(HouseholdMatch.id).where(
            HouseholdMatch.territory_id == territory_id, HouseholdMatch.status == "open")
            .order_by(HouseholdMatch.found_at, HouseholdMatch.id).limit(2)))
        if len(found) < 2:
            return
        households.merge(session, clock, SYSTEM, found[0])


# the demo's organisations, all invented: (part they play, name, kind)
ORGANISATIONS = (
    ("platform", "Plateforme Logement d'abord de Démoville", "plateforme"),
    ("referrer", "CCAS de Démoville", "ccas"),
    ("operator", "Association Relais (opérateur A)", "association"),
    ("operator_b", "Association Horizon (opérateur B)", "association"),
    ("landlord", "Démo Habitat (bailleur social)", "bailleur"),
    ("specialised", "Équipe mobile santé précarité (partenaire spécialisé)", "sante"),
)
OPERATORS = ("operator", "operator_b")  # the two operator organisations cases are oriented to
# what the household agreed to share, per part (purpose, categories); health is added for
# some cases only, and the landlord reads the identity and the procedure, nothing else
SHARED = ("identity", "household", "assessment", "procedure")
CONSENT = {"referrer": ("support", SHARED), "platform": ("support", SHARED),
           "operator": ("support", SHARED),
           "landlord": ("eviction_prevention", ("identity", "procedure")),
           "specialised": ("support", ("identity", "health"))}


def _set_parties(session: Session, territory_id: int, orgs: dict[str, int]) -> None:
    """Give the demo cases their organisations: the referrer, the platform, operator A or B,
    the landlord of the eviction-prevention cases, the specialised partner on some; the
    household's consent on most (health on a third of them, none yet on one case in six); a
    référent·e on every other oriented case."""
    referent = session.scalar(select(Membership.user_id).where(
        Membership.territory_id == territory_id, Membership.role == team.REFERENT_ROLE)
        .order_by(Membership.id).limit(1))
    rows = session.execute(select(Case, Circuit.key).join(Circuit, Circuit.id == Case.circuit_id)
                           .where(Case.territory_id == territory_id).order_by(Case.id)).all()
    for number, (case, key) in enumerate(rows):
        at = FixedClock(case.created_at + timedelta(hours=1))
        held = ["referrer", "platform", "operator"]
        with transaction(session):
            parties.record(session, at, SYSTEM, case, "referrer", orgs["referrer"],
                           "Structure qui a saisi la plateforme")
            parties.record(session, at, SYSTEM, case, "platform", orgs["platform"],
                           "Plateforme du territoire")
            # alternate, so that each operator has cases of every circuit; a case oriented
            # through the directory already has its operator (the service's organisation)
            if not _has_operator(session, case.id):
                operator = orgs[OPERATORS[number % 2]]
                parties.record(session, at, SYSTEM, case, "operator", operator,
                               "Orientation décidée par la plateforme")
            if key == "expulsions":
                parties.record(session, at, SYSTEM, case, "landlord", orgs["landlord"],
                               "Bailleur du logement")
                held.append("landlord")
            if number % 5 == 2:
                parties.record(session, at, SYSTEM, case, "specialised", orgs["specialised"],
                               "Suivi santé à mobiliser")
                held.append("specialised")
            if number % 6 != 5:
                _consent(session, case, held, number % 3 == 0, case.created_at)
            else:  # one case in six: no consent in force (what a form collected, withdrawn)
                _withdrawn(session, case, at.now())
        if referent is not None and number % 2 == 0 and case.status == CaseStatus.OPEN:
            team.name_referent(session, at, SYSTEM, case.id, referent, "Premier accueil")


def _withdrawn(session: Session, case: Case, at: datetime) -> None:
    """The household withdrew the consent a step of its scenario collected (an hour after it
    was given, never before)."""
    given = session.scalar(select(func.max(CaseConsent.given_at)).where(
        CaseConsent.case_id == case.id, CaseConsent.withdrawn_at.is_(None)))
    if given is not None:
        at = max(at, given + timedelta(hours=1))
    session.execute(update(CaseConsent).where(
        CaseConsent.case_id == case.id, CaseConsent.withdrawn_at.is_(None)).values(
        withdrawn_at=at, withdraw_reason="La personne retire son accord (démonstration)"))


def _has_operator(session: Session, case_id: int) -> bool:
    return session.scalar(select(CaseParty.id).where(
        CaseParty.case_id == case_id, CaseParty.part == "operator",
        CaseParty.until.is_(None)).limit(1)) is not None


def _consent(session: Session, case: Case, parts: list[str], health: bool,
             at: datetime) -> None:
    """The household's signed consent for ``parts`` (and health for the support parts)."""
    for part in parts:
        purpose, categories = CONSENT[part]
        extra = ("health",) if health and purpose == "support" and part != "specialised" else ()
        for category in categories + extra:
            session.add(CaseConsent(
                case_id=case.id, part=part, purpose=purpose, category=category,
                basis="signed", source="Formulaire signé (démonstration)",
                given_at=at + timedelta(hours=1)))


def _replay_cases(session: Session, clock: Clock, root: Path, territory_id: int,
                  per_circuit: int, rng: random.Random) -> None:
    now = clock.now()
    for circuit in session.scalars(select(Circuit).where(Circuit.territory_id == territory_id)):
        folder = root / "tests" / "scenarios" / "reference" / circuit.key
        scenarios = sorted(folder.glob("*.json"))
        for number in range(per_circuit):
            if not scenarios:
                break
            scenario = json.loads(scenarios[number % len(scenarios)].read_text())
            # some steps overdue, but none old enough for a 30-day expiry to withdraw an
            # operator's step as soon as the scheduler starts
            start = now - timedelta(days=rng.choice((1, 3, 8, 15, 25)), hours=rng.randint(0, 8))
            _replay(session, FixedClock(start), circuit.id, scenario, rng, now)


def _replay(session: Session, clock: FixedClock, circuit_id: int, scenario: dict,  # type: ignore[type-arg]
            rng: random.Random, now: datetime) -> None:
    # the scenario's dates (a hearing, a commandement) moved with it to the demo's days, so
    # that its dated steps fall due around now rather than in the scenario's year
    scenario = _shifted(scenario, clock.now())
    data = dict(scenario.get("data", {}))
    data["nom_menage"] = f"Ménage {rng.choice(SURNAMES)} (fictif)"
    try:
        summary = cases.start(session, clock, SYSTEM, circuit_id, data)
    except EngineError:
        return
    steps = [s for s in scenario.get("steps", []) if "task" in s]
    territory_id = session.scalar(select(Circuit.territory_id).where(Circuit.id == circuit_id))
    assert territory_id is not None
    for step in steps[: rng.randint(0, max(0, len(steps) - 1))]:
        later = clock.now() + timedelta(hours=rng.randint(2, 30))
        if later >= now:
            break
        clock.set(later)
        match = session.scalar(select(HumanTask.id).where(
            HumanTask.case_id == summary.id, HumanTask.bpmn_id == step["task"],
            HumanTask.status == TaskStatus.OPEN))
        if match is None:
            break
        try:
            tasks.complete(session, clock, SYSTEM, match,
                           with_demo_services(session, territory_id, step.get("data", {})))
        except EngineError:
            break


DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _shifted(scenario: dict[str, Any], start: datetime) -> dict[str, Any]:
    """``scenario`` with every day it answers (``YYYY-MM-DD``) moved by the days between its
    own start and ``start``."""
    try:
        begin = datetime.fromisoformat(str(scenario.get("start", ""))).date()
    except ValueError:
        return scenario
    offset = start.date() - begin

    def move(value: Any) -> Any:
        if isinstance(value, str) and DAY.fullmatch(value):
            try:
                return (date.fromisoformat(value) + offset).isoformat()
            except ValueError:
                return value
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, list):
            return [move(v) for v in value]
        return value

    moved: dict[str, Any] = move(scenario)
    return moved


# The scenarios (tests/scenarios/) orient households to directory services by placeholder
# numbers; in the demo territory they are these services of its directory (by name).
SCENARIO_SERVICES = {101: "AVDL Relais — secteur nord", 102: "AVDL Horizon — secteur sud",
                     103: "CHRS hors les murs Relais"}
ORIENTATION_FIELD = "service_oriente"  # the reference circuits' orientation field


def with_demo_services(session: Session, territory_id: int,
                       data: Mapping[str, Any]) -> dict[str, Any]:
    """A scenario step's answers with its placeholder service number replaced by the id of
    the territory's service of that name (unchanged when there is none)."""
    out = dict(data)
    name = SCENARIO_SERVICES.get(out.get(ORIENTATION_FIELD))  # type: ignore[arg-type]
    if name is not None:
        found = session.scalar(select(DirectoryService.id).where(
            DirectoryService.territory_id == territory_id, DirectoryService.name == name))
        if found is not None:
            out[ORIENTATION_FIELD] = found
    return out


@dataclass
class _Templates:
    """The open cases ``generate`` copies, with their rows (read once)."""

    cases: list[Case]
    tasks: dict[int, list[HumanTask]]
    timers: dict[int, list[Timer]]
    parties: dict[int, list[CaseParty]]
    consent: dict[int, list[CaseConsent]]
    states: dict[int, str]
    operators: tuple[int, ...]  # the organisations copies are oriented to, in turn


def generate(session: Session, clock: Clock, territory_id: int, count: int,
             seed: int = 7) -> int:
    """Add ``count`` cases to a territory by copying its existing open cases (rows only),
    with new references, household names and shifted dates, their parties, consent and
    steps' routing. In the demo territory the copies are oriented to operator A and B in
    turn (their operator party and the steps bound to it), so that each operator's people
    see about half of them. Returns the number added."""
    rng = random.Random(seed)
    with transaction(session):
        cases_ = list(session.scalars(select(Case).where(Case.territory_id == territory_id,
                                                         Case.status == CaseStatus.OPEN)))
        if not cases_:
            raise EngineError("aucun dossier modèle : chargez d'abord la démonstration")
        ids = [c.id for c in cases_]
        templates = _Templates(
            cases_, _by_case(session.scalars(select(HumanTask).where(
                HumanTask.case_id.in_(ids), HumanTask.status == TaskStatus.OPEN))),
            _by_case(session.scalars(select(Timer).where(
                Timer.case_id.in_(ids), Timer.status == TimerStatus.WAITING))),
            _by_case(session.scalars(select(CaseParty).where(
                CaseParty.case_id.in_(ids), CaseParty.until.is_(None)))),
            _by_case(session.scalars(select(CaseConsent).where(
                CaseConsent.case_id.in_(ids), CaseConsent.withdrawn_at.is_(None)))),
            dict(session.execute(select(CaseState.case_id, CaseState.state).where(
                CaseState.case_id.in_(ids))).all()),
            _operators(session, territory_id))
        territory = session.get(Territory, territory_id)
        assert territory is not None
        year = clock.now().year
        counter = session.scalar(select(ReferenceCounter).where(
            ReferenceCounter.territory_id == territory_id, ReferenceCounter.year == year))
        if counter is None:
            counter = ReferenceCounter(territory_id=territory_id, year=year, last=0)
            session.add(counter)
        first_id = (session.scalar(select(func.max(Case.id))) or 0) + 1
        for chunk_start in range(0, count, 2000):
            size = min(2000, count - chunk_start)
            _copy_chunk(session, rng, templates, territory, counter, year,
                        first_id + chunk_start, size)
        if session.get_bind().dialect.name == "postgresql":
            # the copies carry their ids: move the sequence past them, or the next case
            # opened in the territory would take one of theirs
            session.execute(text("SELECT setval(pg_get_serial_sequence('\"case\"', 'id'), "
                                 "(SELECT max(id) FROM \"case\"))"))
        return count


_Row = TypeVar("_Row", HumanTask, Timer, CaseParty, CaseConsent)


def _by_case(rows: Iterable[_Row]) -> dict[int, list[_Row]]:
    out: dict[int, list[_Row]] = {}
    for row in rows:
        out.setdefault(row.case_id, []).append(row)
    return out


def _operators(session: Session, territory_id: int) -> tuple[int, ...]:
    """Operator A's and B's organisations (none outside the demo territory: copies then
    keep their template's operator)."""
    names = [name for part, name, _ in ORGANISATIONS if part in OPERATORS]
    found = dict(session.execute(select(Organisation.name, Organisation.id).where(
        Organisation.territory_id == territory_id, Organisation.name.in_(names))).all())
    return tuple(found[n] for n in names if n in found)


def _copy_chunk(session: Session, rng: random.Random, templates: _Templates,  # noqa: PLR0913
                territory: Territory, counter: ReferenceCounter, year: int, first_id: int,
                size: int) -> None:
    case_rows, task_rows, timer_rows, party_rows, consent_rows = [], [], [], [], []
    origins: list[int] = []
    for offset in range(size):
        template = rng.choice(templates.cases)
        origins.append(template.id)
        shift = timedelta(days=rng.randint(-30, 20), minutes=rng.randint(0, 600))
        counter.last += 1
        case_id = first_id + offset
        ops = templates.operators
        operator = ops[case_id % len(ops)] if ops else None
        case_rows.append({
            "id": case_id, "reference": f"{territory.prefix}-{year}-{counter.last:05d}",
            "territory_id": territory.id, "circuit_id": template.circuit_id,
            "circuit_version_id": template.circuit_version_id,
            "household_name": f"Ménage {rng.choice(SURNAMES)} {case_id} (fictif)",
            "status": CaseStatus.OPEN, "version": 1,
            "next_due_at": template.next_due_at + shift if template.next_due_at else None,
            "created_at": template.created_at + shift, "created_by_id": None})
        for t in templates.tasks.get(template.id, []):
            organisation = t.organisation_id
            if t.part == "operator" and operator is not None:
                organisation = operator
            task_rows.append({
                "case_id": case_id, "territory_id": t.territory_id, "circuit_id": t.circuit_id,
                "spiff_task_id": t.spiff_task_id, "bpmn_id": t.bpmn_id, "name": t.name,
                "lane": t.lane, "role": t.role, "part": t.part, "organisation_id": organisation,
                "form": t.form, "status": TaskStatus.OPEN,
                "ready_at": t.ready_at + shift, "due_at": t.due_at + shift if t.due_at else None,
                "due_sort": t.due_sort + shift if t.due_at else t.due_sort})
        for tm in templates.timers.get(template.id, []):
            timer_rows.append({
                "case_id": case_id, "spiff_task_id": tm.spiff_task_id, "bpmn_id": tm.bpmn_id,
                "name": tm.name, "kind": tm.kind, "due_at": tm.due_at + shift,
                "status": TimerStatus.WAITING, "attempts": 0, "created_at": tm.created_at + shift})
        for p in templates.parties.get(template.id, []):
            party_rows.append({
                "case_id": case_id, "part": p.part,
                "organisation_id": operator if p.part == "operator" and operator else
                p.organisation_id, "since": p.since + shift, "until": None, "set_by_id": None,
                "reason": p.reason})
        for c in templates.consent.get(template.id, []):
            consent_rows.append({
                "case_id": case_id, "part": c.part, "purpose": c.purpose,
                "category": c.category, "basis": c.basis, "witness": c.witness,
                "source": c.source, "given_at": c.given_at + shift,
                "valid_until": c.valid_until + shift if c.valid_until else None,
                "recorded_by_id": None})
    session.execute(insert(Case), case_rows)
    session.execute(insert(CaseState), [{"case_id": row["id"], "state": templates.states[tid]}
                                        for row, tid in zip(case_rows, origins, strict=True)])
    for model, rows in ((HumanTask, task_rows), (Timer, timer_rows), (CaseParty, party_rows),
                        (CaseConsent, consent_rows)):
        if rows:
            session.execute(insert(model), rows)
    session.flush()


def demo_territory(session: Session) -> int | None:
    """The demo territory, if loaded."""
    return session.scalar(select(Territory.id).where(Territory.code == DEMO.code))
