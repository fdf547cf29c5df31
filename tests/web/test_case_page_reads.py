"""The case page decides who the reader is to the case (``access.case_view``) once per
request (``case_page.page``), and stays within a statement budget: each part of the page (the
file, the team, the consents, the orientations, the household) deciding it again cost two
reads each for a partner (5 decisions, 41 statements for the page; 33 for a coordinator),
and reading the case row again one more each."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from engine.clock import FixedClock
from engine.services import access, cases
from tests.integration.factories import (
    PASSWORD,
    World,
    declare_parts,
    give_consent,
    make_org,
    make_party,
    make_user,
)

# what the page needs today (signed-in session included), for a partner reading with consent
# and for the coordination
PARTNER_BUDGET, COORDINATOR_BUDGET = 29, 29


@contextmanager
def _statements(app: Flask) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK",
                                                      "SAVEPOINT", "RELEASE")):
            seen.append(" ".join(statement.split())[:100])

    database = app.extensions["aiguillage"].database
    event.listen(database, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(database, "before_cursor_execute", note)


def _case(app: Flask, clock: FixedClock, world: World) -> int:
    with app.extensions["aiguillage"].sessions() as session:
        declare_parts(session, world.territory.id)
        landlord = make_org(session, clock, world.territory.id, "Bailleur Test", "bailleur")
        make_user(session, clock, "bailleur@demo.test", world.territory.id, "orienteur",
                  organisation=landlord)
        case = cases.start(session, clock, world.coordinator, world.circuit.id,
                           {"nom_menage": "Ménage Lu Une Fois", "nb_enfants": 3})
        make_party(session, clock, case.id, "landlord", landlord)
        give_consent(session, clock, case.id, "landlord", ["identity", "assessment"])
        return case.id


@pytest.mark.parametrize(("email", "budget"), [("bailleur@demo.test", PARTNER_BUDGET),
                                               ("coord@demo.test", COORDINATOR_BUDGET)])
def test_the_case_page_decides_the_reader_view_once(
        app: Flask, client: FlaskClient, clock: FixedClock, world: World,
        monkeypatch: pytest.MonkeyPatch, email: str, budget: int) -> None:
    case_id = _case(app, clock, world)
    client.post("/connexion", data={"email": email, "password": PASSWORD})
    decided: list[int] = []
    real = access.case_view

    def counted(*args: Any, **kwargs: Any) -> access.View:
        decided.append(1)
        return real(*args, **kwargs)

    for module in _users_of_case_view():
        monkeypatch.setattr(module, "case_view", counted)
    with _statements(app) as seen:
        page = client.get(f"/dossiers/{case_id}")
    assert page.status_code == 200 and "Ménage Lu Une Fois" in unescape(page.text)
    assert len(decided) == 1
    assert len(seen) <= budget, "\n".join(seen)


def _users_of_case_view() -> list[Any]:
    """The modules holding ``case_view`` (imported by name): each gets the counting one."""
    return [m for name, m in list(sys.modules.items())
            if name.startswith(("engine.services.", "webapp.")) and m is not None
            and getattr(m, "case_view", None) is access.case_view]


def test_only_the_coordination_is_offered_to_close_the_case(app: Flask, client: FlaskClient,
                                                 clock: FixedClock, world: World) -> None:
    case_id = _case(app, clock, world)
    for email, may in (("bailleur@demo.test", False), ("coord@demo.test", True)):
        client.post("/connexion", data={"email": email, "password": PASSWORD})
        page = unescape(client.get(f"/dossiers/{case_id}").text)
        assert (f'action="/dossiers/{case_id}/cloturer"' in page) is may, email
        client.post("/deconnexion")
