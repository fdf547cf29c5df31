"""A full connection pool answers 503 and never hangs (issue #17, « Bad input »).

Every pooled connection lent out (too many requests at once, or one held too long): a request
waits at most the pool's timeout, then gets the French 503 page with Retry-After, keeps what
was typed and saves nothing; /readyz and /healthz answer 503 too; once a connection is given
back, the next request succeeds. On SQLite and on PostgreSQL (``any_app``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from engine.clock import FixedClock
from engine.persistence.db import BoundedQueuePool, make_engine
from engine.persistence.models import AuditEvent, HumanTask
from tests.integration.factories import PASSWORD, make_world
from tests.web.helpers import open_case, with_form_labels

TYPED = {"mesure": "asll", "referent.nom": "Camille Pool-Plein"}


@dataclass
class Tight:
    """The app bound to a pool of one connection, no overflow, a 1 s wait."""

    app: Flask
    client: FlaskClient
    database: Engine
    task_id: int


@pytest.fixture
def tight(any_app: Flask, clock: FixedClock) -> Iterator[Tight]:
    built = any_app.extensions["aiguillage"]
    with built.sessions() as session:
        world = make_world(session, clock)
    _case_id, task_id = open_case(any_app, clock, world)
    client = any_app.test_client()
    signed = client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD})
    assert signed.status_code == 302
    database = make_engine(built.url, pool_size=1, max_overflow=0, pool_timeout=1)
    built.sessions.configure(bind=database)
    try:
        yield Tight(any_app, client, database, task_id)
    finally:
        built.sessions.configure(bind=built.database)
        database.dispose()


def _state(app: Flask, task_id: int) -> tuple[str, int]:
    """The step's status and how many audit events exist (read on the app's own pool)."""
    with app.extensions["aiguillage"].database.connect() as conn:
        status = conn.scalar(select(HumanTask.status).where(HumanTask.id == task_id))
        events = conn.scalar(select(func.count()).select_from(AuditEvent))
    return str(status), int(events or 0)


def test_a_full_pool_is_a_french_503_that_keeps_what_was_typed(
        tight: Tight, caplog: pytest.LogCaptureFixture) -> None:
    assert isinstance(tight.database.pool, BoundedQueuePool)
    typed: dict[str, str | list[str]] = {
        **with_form_labels(tight.client, f"/taches/{tight.task_id}", TYPED),
        "date_rdv": "2026-12-14", "domaines": ["ADDICT", "FINANCE"]}
    before = _state(tight.app, tight.task_id)
    held = tight.database.connect()  # the pool's only connection, lent out
    try:
        response = tight.client.post(f"/taches/{tight.task_id}", data=typed)
        probe = tight.app.test_client()  # a load balancer: no cookie
        ready, healthz = probe.get("/readyz"), probe.get("/healthz")
    finally:
        held.close()
    page = unescape(response.text)
    assert response.status_code == 503, page[:500]
    assert response.headers["Retry-After"] == "5"
    assert "Service momentanément indisponible" in page
    assert "Trop de demandes en même temps : rien n'a été enregistré" in page
    assert 'name="referent.nom" value="Camille Pool-Plein"' in page and "Renvoyer" in page
    # under the form's labels, in its order (not the order sent), a choice by its label,
    # boxes ticked together on one line, a date as typed; no raw key on screen
    assert ("<dt>Mesure proposée</dt><dd>ASLL</dd></div>"
            "<div><dt>Besoins identifiés</dt><dd>ADDICT, FINANCE</dd></div>"
            "<div><dt>Date du rendez-vous</dt><dd>14/12/2026</dd></div>"
            "<div><dt>Référent·e — Nom</dt><dd>Camille Pool-Plein</dd>") in page
    assert "<dt>referent.nom" not in page and "<dt>mesure" not in page
    assert 'name="mesure" value="asll"' in page and 'name="_libelles"' in page  # resent as is
    assert ready.status_code == 503 and ready.get_json()["database"] == "busy"
    assert healthz.status_code == 503
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
              and "database connections all busy" in r.getMessage()]
    assert warned and "Camille" not in " ".join(warned)
    assert _state(tight.app, tight.task_id) == before  # nothing written, not even an audit

    again = tight.client.post(f"/taches/{tight.task_id}", data=TYPED)
    assert again.status_code == 302
    assert _state(tight.app, tight.task_id)[0] != "open"
    assert tight.app.test_client().get("/readyz").get_json()["database"] == "ok"


@pytest.mark.parametrize("labels", ["pas du JSON", '["mesure"]', '{"mesure": 3}',
                                    '{"mesure": ["Mesure", {}]' + " " * 70_000 + "}"])
def test_forged_labels_fall_back_to_the_field_keys(tight: Tight, labels: str) -> None:
    """The labels come with the POST: malformed, of another shape or too long, they are
    ignored (the fields are named by their keys), never a 500, nothing stored."""
    before = _state(tight.app, tight.task_id)
    held = tight.database.connect()
    try:
        response = tight.client.post(f"/taches/{tight.task_id}",
                                     data={**TYPED, "_libelles": labels})
    finally:
        held.close()
    page = unescape(response.text)
    assert response.status_code == 503, page[:500]
    assert "<dt>mesure</dt><dd>asll</dd>" in page
    assert "<dt>referent.nom</dt><dd>Camille Pool-Plein</dd>" in page
    assert _state(tight.app, tight.task_id) == before


def test_readyz_says_busy_at_once_without_waiting_the_pool_timeout(
        any_app: Flask, clock: FixedClock) -> None:
    """A load balancer's probe must hear « busy » before its own timeout: /readyz does not
    wait the pool's timeout (here 30 s) for a connection; a page still waits for one."""
    built = any_app.extensions["aiguillage"]
    database = make_engine(built.url, pool_size=1, max_overflow=0, pool_timeout=30)
    built.sessions.configure(bind=database)
    held = database.connect()
    try:
        begin = time.monotonic()
        ready = any_app.test_client().get("/readyz")
        waited = time.monotonic() - begin
        assert ready.status_code == 503 and ready.get_json()["database"] == "busy"
        assert waited < 10, f"/readyz waited {waited:.1f} s for a connection"
        assert not impatient_now()  # the next checkout of this thread waits as before
    finally:
        held.close()
        built.sessions.configure(bind=built.database)
        database.dispose()


def impatient_now() -> bool:
    from engine.persistence import db
    return db._IMPATIENT.get()
