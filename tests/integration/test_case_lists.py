"""The cases list as a partner reads it: the same cases whichever shape of the rule the list
takes (``IN`` for an organisation party to few cases, ``EXISTS`` for one party to many), a
count that stops at the cap, and a name search that finds only names the reader may know."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.persistence.models import User
from engine.services import access, cases, demo
from engine.services.access import Actor, load_actor

ROOT = Path(__file__).resolve().parents[2]


def _actor(session: Session, email: str) -> Actor:
    user_id = session.scalar(select(User.id).where(User.email == email))
    assert user_id is not None
    return load_actor(session, user_id)


@pytest.fixture
def territory_id(session: Session, clock: FixedClock) -> int:
    territory_id = demo.load(session, clock, ROOT, "mot-de-passe-demo", cases_per_circuit=2)
    demo.generate(session, clock, territory_id, 60)
    return territory_id


def _listed(session: Session, clock: FixedClock, actor: Actor, territory_id: int,
            **filters: object) -> tuple[int, list[str]]:
    found = cases.search(session, clock, actor, territory_id, per_page=100, **filters)  # type: ignore[arg-type]
    return found.total, [c.reference for c in found.items]


@pytest.mark.parametrize("email", ["operateur-a@demo.test", "bailleur@demo.test"])
def test_both_shapes_of_the_rule_list_the_same_cases(
        session: Session, clock: FixedClock, territory_id: int, email: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    actor = _actor(session, email)
    sparse = _listed(session, clock, actor, territory_id)
    monkeypatch.setattr(access, "SPARSE_PARTIES", 0)  # every organisation now counts as dense
    dense = _listed(session, clock, actor, territory_id)
    assert sparse == dense and sparse[0] > 0
    assert sparse[0] == len(sparse[1])  # the count (on the parties alone) is the list's
    everything = _listed(session, clock, _actor(session, "coord@demo.test"), territory_id)
    assert set(dense[1]) < set(everything[1])


def test_the_count_stops_at_the_cap(session: Session, clock: FixedClock, territory_id: int,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cases, "COUNT_CAP", 10)
    found = cases.search(session, clock, _actor(session, "coord@demo.test"), territory_id)
    assert found.total == 11  # "more than 10": the list counts no further


def test_a_name_the_reader_may_not_know_finds_nothing(
        session: Session, clock: FixedClock, territory_id: int) -> None:
    a = _actor(session, "operateur-a@demo.test")
    mine = cases.search(session, clock, a, territory_id, per_page=100).items
    hidden = [c for c in mine if c.household_name is None]
    shown = [c for c in mine if c.household_name]
    assert shown, "the demo gives operator A households whose name it may read"
    assert cases.search(session, clock, a, territory_id,
                        text=shown[0].household_name or "").total >= 1
    coordinator = _actor(session, "coord@demo.test")
    for case in hidden[:3]:
        full = cases.search(session, clock, coordinator, territory_id, text=case.reference)
        name = full.items[0].household_name or ""
        assert all(c.reference != case.reference for c in cases.search(
            session, clock, a, territory_id, text=name).items)
