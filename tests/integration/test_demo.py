"""The demo territory (issue #12 item 7): a referrer, two operators, a landlord, a specialised
partner; cases with their parties and the household's consent; a household oriented to
operator A is read by A's worker and not by B's; the landlord reads the procedure, not the
health answers; ``demo generate`` copies all of it and spreads the copies over A and B."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.errors import NotFound
from engine.mail import LogSender
from engine.persistence.models import (
    Case,
    CaseConsent,
    CaseParty,
    Circuit,
    HumanTask,
    Organisation,
    User,
)
from engine.persistence.models.human_task import TaskStatus
from engine.services import demo, notices
from engine.services.access import Actor, case_scope, case_view, load_actor

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "mot-de-passe-demo"


def _actor(session: Session, email: str) -> Actor:
    user_id = session.scalar(select(User.id).where(User.email == email))
    assert user_id is not None
    return load_actor(session, user_id)


def _org(session: Session, territory_id: int, part: str) -> int:
    name = next(n for p, n, _ in demo.ORGANISATIONS if p == part)
    found = session.scalar(select(Organisation.id).where(
        Organisation.territory_id == territory_id, Organisation.name == name))
    assert found is not None
    return found


def _held_by(session: Session, part: str, organisation: int) -> list[int]:
    return list(session.scalars(select(CaseParty.case_id).where(
        CaseParty.part == part, CaseParty.organisation_id == organisation,
        CaseParty.until.is_(None)).order_by(CaseParty.case_id)))


@pytest.fixture
def territory_id(session: Session, clock: FixedClock) -> int:
    return demo.load(session, clock, ROOT, PASSWORD, cases_per_circuit=3)


def test_the_demo_has_its_partners_and_their_consent(session: Session, clock: FixedClock,
                                                     territory_id: int) -> None:
    specialised = _org(session, territory_id, "specialised")
    kind = session.scalar(select(Organisation.kind).where(Organisation.id == specialised))
    assert kind == "sante"
    case_ids = list(session.scalars(select(Case.id).where(Case.territory_id == territory_id)))
    consented = set(session.scalars(select(CaseConsent.case_id).distinct().where(
        CaseConsent.withdrawn_at.is_(None))))
    assert len(consented) >= len(case_ids) * 2 // 3  # most cases
    assert set(case_ids) - consented  # a few without consent in force
    health = set(session.scalars(select(CaseConsent.case_id).where(
        CaseConsent.category == "health", CaseConsent.part == "operator",
        CaseConsent.withdrawn_at.is_(None))))
    assert health and health < consented  # health only for some
    landlord = set(session.scalars(select(CaseConsent.category).where(
        CaseConsent.part == "landlord")))
    assert landlord == {"identity", "procedure"}
    assert _held_by(session, "specialised", specialised)
    # a consent is withdrawn after it was given, never before
    assert session.scalar(select(CaseConsent.id).where(
        CaseConsent.withdrawn_at < CaseConsent.given_at)) is None


def test_operator_a_reads_its_household_and_b_does_not(session: Session, clock: FixedClock,
                                                        territory_id: int) -> None:
    now = clock.now()
    a, b = _actor(session, "operateur-a@demo.test"), _actor(session, "operateur-b@demo.test")
    operator_a = _org(session, territory_id, "operator")
    consented = set(session.scalars(select(CaseConsent.case_id).where(
        CaseConsent.part == "operator", CaseConsent.category == "identity")))
    mine = [c for c in _held_by(session, "operator", operator_a) if c in consented]
    assert mine
    for case_id in mine:
        assert case_view(session, a, case_id, territory_id, now).shows_name
        try:
            seen = case_view(session, b, case_id, territory_id, now)
        except NotFound:
            continue
        assert seen.minimal  # at most a step B's people act on: never the household
    listed = set(session.scalars(select(Case.id).where(
        Case.territory_id == territory_id, case_scope(b, territory_id, Case.id))))
    assert not listed & set(mine)


def test_the_landlord_reads_the_procedure_not_the_health(session: Session, clock: FixedClock,
                                                         territory_id: int) -> None:
    landlord = _actor(session, "bailleur@demo.test")
    org = _org(session, territory_id, "landlord")
    consented = set(session.scalars(select(CaseConsent.case_id).where(
        CaseConsent.part == "landlord")))
    cases_ = [c for c in _held_by(session, "landlord", org) if c in consented]
    assert cases_
    health_given = set(session.scalars(select(CaseConsent.case_id).where(
        CaseConsent.category == "health")))
    assert set(cases_) & health_given  # the others of these cases read the health answers
    for case_id in cases_:
        view = case_view(session, landlord, case_id, territory_id, clock.now())
        assert view.sees("procedure") and view.sees("identity")
        assert not view.sees("health") and not view.sees("assessment")


def test_generate_copies_parties_consent_and_routing_over_both_operators(
        session: Session, clock: FixedClock, territory_id: int) -> None:
    before = session.scalar(select(func.max(Case.id)))
    assert demo.generate(session, clock, territory_id, 400) == 400
    new = select(Case.id).where(Case.id > before)
    a_org, b_org = _org(session, territory_id, "operator"), _org(session, territory_id,
                                                                  "operator_b")
    operators = dict(session.execute(
        select(CaseParty.organisation_id, func.count()).where(
            CaseParty.case_id.in_(new), CaseParty.part == "operator")
        .group_by(CaseParty.organisation_id)).all())
    assert operators == {a_org: 200, b_org: 200}
    assert session.scalar(select(func.count(func.distinct(CaseConsent.case_id))).where(
        CaseConsent.case_id.in_(new))) > 200
    # steps bound to the operator follow the copy's operator
    for case_id, org in session.execute(
            select(HumanTask.case_id, HumanTask.organisation_id).where(
                HumanTask.case_id.in_(new), HumanTask.part == "operator",
                HumanTask.status == TaskStatus.OPEN)):
        held = session.scalar(select(CaseParty.organisation_id).where(
            CaseParty.case_id == case_id, CaseParty.part == "operator"))
        assert org == held
    a = _actor(session, "operateur-a@demo.test")
    coordinator = _actor(session, "coord@demo.test")
    seen = {who: session.scalar(select(func.count()).select_from(Case).where(
        Case.id.in_(new), case_scope(actor, territory_id, Case.id)))
        for who, actor in (("a", a), ("coord", coordinator))}
    assert seen["coord"] == 400 and seen["a"] == 200
    assert session.scalar(select(func.count()).select_from(Circuit)) >= 4


@pytest.fixture
def terminal(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """What ``aiguillage run`` sets up for its terminal (here captured), undone after."""
    from webapp.cli import show_notices_in_terminal
    log = logging.getLogger("aiguillage")
    handlers, level = list(log.handlers), log.level
    show_notices_in_terminal()
    yield capsys
    log.handlers[:], log.level = handlers, level


def test_make_run_prints_the_demo_overdue_notices(session: Session, clock: FixedClock,
                                                   territory_id: int,
                                                   terminal: pytest.CaptureFixture[str]) -> None:
    """The README: notices go to the log in the demo. The demo has overdue steps nobody was
    told about yet; the embedded scheduler's first pass writes and sends their notices, and
    the terminal of ``make run`` shows them (before, only warnings reached it)."""
    overdue = session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.status == TaskStatus.OPEN, HumanTask.due_at < clock.now(),
        HumanTask.overdue_noticed_at.is_(None)))
    assert overdue
    report = notices.tick(session, clock, LogSender())
    assert report.overdue == overdue and report.failed == 0
    lines = [line for line in terminal.readouterr().err.splitlines()
             if "étape en retard" in line]
    assert len(lines) >= overdue  # the holder's and the coordination's
