"""transaction(): use cases called inside another join its unit of work (decision 0005)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import FixedClock
from engine.persistence.db import in_unit_of_work, transaction
from engine.persistence.models import User
from engine.services import users
from engine.services.access import SYSTEM
from tests.integration.factories import PASSWORD


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as other:
        return other.scalar(select(func.count()).select_from(User)) or 0


def test_an_inner_use_case_does_not_commit_its_caller(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock) -> None:
    with transaction(session):
        users.create_user(session, clock, SYSTEM, "un@demo.test", "Un", PASSWORD)
        assert in_unit_of_work(session)
        assert _count(sessions) == 0  # not committed by the inner transaction()
    assert not in_unit_of_work(session)
    assert _count(sessions) == 1


def test_an_error_after_an_inner_use_case_rolls_everything_back(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock) -> None:
    with pytest.raises(RuntimeError), transaction(session):
        users.create_user(session, clock, SYSTEM, "un@demo.test", "Un", PASSWORD)
        users.create_user(session, clock, SYSTEM, "deux@demo.test", "Deux", PASSWORD)
        raise RuntimeError("refused after both")
    assert _count(sessions) == 0
    assert not in_unit_of_work(session)


def test_an_inner_refusal_rolls_back_the_outer_writes(
        session: Session, sessions: sessionmaker[Session], clock: FixedClock) -> None:
    from engine.errors import Conflict
    with pytest.raises(Conflict), transaction(session):
        users.create_user(session, clock, SYSTEM, "un@demo.test", "Un", PASSWORD)
        users.create_user(session, clock, SYSTEM, "un@demo.test", "Encore", PASSWORD)
    assert _count(sessions) == 0
