"""Supervision's webhooks page (issue #18, item 3): administrators only, a subscription
created with its secret shown once (never cached), bad input refused with its words and
nothing stored, deactivation, the log of attempts in words and « Renvoyer maintenant »."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.clock import FixedClock
from engine.persistence.db import transaction
from engine.persistence.models import WebhookSubscription
from engine.services import cases, users, webhooks
from engine.services.access import SYSTEM
from engine.webhook_sender import RecordingSender
from tests.integration.factories import PASSWORD, World, make_org

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{44}")
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
PAGE = "/supervision/webhooks/"


@pytest.fixture
def org(app: Flask, clock: FixedClock, world: World) -> int:
    with app.extensions["aiguillage"].sessions() as session:
        return make_org(session, clock, world.territory.id, "SIAO de Test", "siao")


@pytest.fixture
def admin_client(app: Flask, client: FlaskClient, clock: FixedClock, world: World,
                 org: int) -> FlaskClient:
    with app.extensions["aiguillage"].sessions() as session:
        user = users.create_user(session, clock, SYSTEM, "admin@demo.test", "Alix Admin",
                                 PASSWORD)
        users.add_membership(session, clock, SYSTEM, user.id, world.territory.id, "admin")
    client.post("/connexion", data={"email": "admin@demo.test", "password": PASSWORD})
    return client


def _count(app: Flask) -> int:
    with app.extensions["aiguillage"].sessions() as session:
        return session.scalar(select(func.count()).select_from(WebhookSubscription)) or 0


def _create(client: FlaskClient, org: int, **extra: object) -> tuple[str, str]:
    answer = client.post(PAGE, data={"organisation": org, "url": "https://siao.example/hook",
                                     "events": ["step.offered", "case.closed"], **extra})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    text = unescape(answer.text)
    assert "Copiez ce secret maintenant : il ne sera plus affiché." in text
    found = SECRET.search(text)
    assert found
    return found.group(0), text


def test_an_administrator_subscribes_an_organisation_and_sees_the_secret_once(
        app: Flask, admin_client: FlaskClient, org: int) -> None:
    text = unescape(admin_client.get(PAGE).text)
    assert "Aucun abonnement pour le moment." in text
    for label in ("Étape proposée à l'organisation", "Orientation répondue", "Dossier clos",
                  "Étape en retard"):
        assert label in text
    secret, created = _create(admin_client, org)
    assert "Étape proposée à l'organisation, Dossier clos" in created
    assert "step.offered" not in created.split("<form")[0]  # no raw code on screen
    assert not ISO.search(created)
    again = unescape(admin_client.get(PAGE).text)
    assert secret not in again and "SIAO de Test" in again and "Actif" in again
    assert 'value="https://siao.example/hook"' not in created  # the form is empty again
    double = admin_client.post(PAGE, data={"organisation": org, "events": ["case.closed"],
                                           "url": "https://siao.example/hook"})
    assert double.status_code == 422 and _count(app) == 1
    assert "cette organisation est déjà abonnée à cette adresse" in unescape(double.text)


@pytest.mark.parametrize(("data", "words"), [
    ({"url": "http://siao.example/hook"}, "l'adresse doit commencer par https://"),
    ({"url": "https://siao example/hook"}, "adresse invalide"),
    ({"url": ""}, "Indiquez l'adresse"),
    ({"events": []}, "Cochez au moins un événement."),
    ({"events": ["case.deleted"]}, "Événements envoyés"),
    ({"organisation": "99999999999999999999999999999"}, "Organisation"),
])
def test_bad_input_is_refused_with_its_words_and_nothing_is_stored(
        app: Flask, admin_client: FlaskClient, org: int, data: dict[str, object],
        words: str) -> None:
    sent = {"organisation": org, "url": "https://siao.example/hook",
            "events": ["case.closed"], **data}
    answer = admin_client.post(PAGE, data=sent)
    assert answer.status_code == 422
    assert words in unescape(answer.text)
    assert _count(app) == 0


def test_a_nul_byte_is_refused_by_the_guard_and_nothing_is_stored(
        app: Flask, admin_client: FlaskClient, org: int) -> None:
    answer = admin_client.post(PAGE, data={"organisation": org, "events": ["case.closed"],
                                           "url": "https://siao.example/\x00"})
    assert answer.status_code == 400 and _count(app) == 0


def test_others_are_refused(app: Flask, client: FlaskClient, world: World, org: int) -> None:
    client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD})
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data={"organisation": org, "url": "https://x.example/",
                                   "events": ["case.closed"]}).status_code == 403
    assert _count(app) == 0


def test_the_log_says_each_attempt_in_words_and_a_failed_one_is_sent_again(
        app: Flask, admin_client: FlaskClient, world: World, org: int,
        clock: FixedClock) -> None:
    _create(admin_client, org)
    with app.extensions["aiguillage"].sessions() as session:
        [subscription] = webhooks.listed(session, SYSTEM, world.territory.id)
        with transaction(session):
            for n in range(2):
                webhooks.emit(session, clock.now(), "case.closed", f"case.closed:{n}",
                              world.territory.id, [org], {"case": f"REF-{n}"})
        opened = cases.start(session, clock, world.coordinator, world.circuit.id,
                             {"nom_menage": "Ménage Journal"})
        with transaction(session):
            webhooks.emit(session, clock.now(), "case.closed", "case.closed:real",
                          world.territory.id, [org], {"case": opened.reference},
                          case_id=opened.id)
        webhooks.deliver(session, clock, RecordingSender([200, None, 200]),
                         jitter=lambda: 0.0)
        failed = session.scalar(select(func.max(WebhookSubscription.id)))
        assert failed == subscription.id
    page = admin_client.get(f"{PAGE}?abonnement={subscription.id}")
    text = unescape(page.text)
    assert "Livré (200)" in text
    assert f"<td>{opened.reference}</td>" in text  # the case each line is about
    assert "Ménage Journal" not in text
    assert "Échec : délai dépassé, nouvel essai à 15\xa0h\xa000" in text  # 14:00:30 UTC, Paris
    assert "9\xa0janv.\xa02026\xa0à\xa015\xa0h\xa000" in text and not ISO.search(text.split("<code")[0])
    assert "Renvoyer maintenant" not in text  # still being tried
    with app.extensions["aiguillage"].sessions() as session:
        for _ in range(12):
            clock.advance(timedelta(hours=3))
            webhooks.deliver(session, clock, RecordingSender([None] * 5))
    admin_client.post("/connexion", data={"email": "admin@demo.test", "password": PASSWORD})
    text = unescape(admin_client.get(f"{PAGE}?abonnement={subscription.id}").text)
    assert "Échec : délai dépassé, abandonné" in text and "Renvoyer maintenant" in text
    outbox_id = int(re.search(r'name="envoi" value="(\d+)"', text).group(1))  # type: ignore[union-attr]
    answer = admin_client.post(f"/supervision/webhooks/renvoyer?territoire={world.territory.id}",
                               data={"envoi": outbox_id})
    assert answer.status_code == 302
    again = admin_client.post(f"/supervision/webhooks/renvoyer?territoire={world.territory.id}",
                              data={"envoi": outbox_id}, follow_redirects=True)
    assert "cet envoi n'est pas en échec" in unescape(again.text).lower()
    assert admin_client.post("/supervision/webhooks/renvoyer",
                             data={"envoi": "99999999999999999999"}).status_code in (400, 404)
    answer = admin_client.post("/supervision/webhooks/desactiver",
                               data={"abonnement": subscription.id}, follow_redirects=True)
    assert "Abonnement désactivé" in unescape(answer.text) and "Désactivé" in answer.text


def test_no_organisation_is_picked_for_the_administrator(
        app: Flask, admin_client: FlaskClient, org: int) -> None:
    form = unescape(admin_client.get(PAGE).text)
    first = re.search(r'<select[^>]*name="organisation"[^>]*>\s*<option[^>]*>([^<]*)<', form)
    assert first and first.group(1) == "— Choisissez l'organisation —"
    answer = admin_client.post(PAGE, data={"organisation": "", "events": ["case.closed"],
                                           "url": "https://siao.example/hook"})
    assert answer.status_code == 422 and "Choisissez l'organisation." in unescape(answer.text)
    assert _count(app) == 0
