"""The pages of a signed answer link, and the coordination's routes that send and revoke one
(issue #13 item 5), through the Flask client, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.clock import FixedClock
from engine.core.orientation import ACCEPTED
from engine.persistence.models import AnswerLink, Orientation
from engine.services import answer_links
from tests.integration.factories import PASSWORD, make_user
from tests.integration.test_answer_links import Linked, linked_world, orient
from tests.web.conftest import _config
from webapp import create_app

CASE_DATA = ("Ménage Lien", "Nombre d'enfants", "Suivi psychiatrique")


@dataclass
class Place:
    app: Flask
    linked: Linked
    case_id: int
    orientation_id: int
    token: str

    def client(self, email: str | None = None) -> FlaskClient:
        client = self.app.test_client()
        if email is not None:
            answer = client.post("/connexion", data={"email": email, "password": PASSWORD})
            assert answer.status_code == 302
        return client

    def link(self) -> AnswerLink:
        with self.app.extensions["aiguillage"].sessions() as session:
            row = session.scalar(select(AnswerLink).order_by(AnswerLink.id.desc()))
            assert row is not None
            return row


def _place(app: Flask, clock: FixedClock, root: Path) -> Place:
    with app.extensions["aiguillage"].sessions() as session:
        linked = linked_world(session, clock, root)
        make_user(session, clock, "alpha@demo.test", linked.world.territory.id, "operateur",
                  organisation=linked.org)
        case_id, orientation_id = orient(session, clock, linked)
        sent = answer_links.send(session, clock, linked.world.coordinator, orientation_id,
                                 None)
    return Place(app, linked, case_id, orientation_id, sent.token)


@pytest.fixture
def place(any_app: Flask, clock: FixedClock, tmp_path: Path) -> Place:
    return _place(any_app, clock, tmp_path)


def test_a_live_link_shows_the_orientation_and_the_form_privately(place: Place) -> None:
    answer = place.client().get(f"/reponse/{place.token}")
    page = unescape(answer.text)
    assert answer.status_code == 200
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in answer.headers["X-Robots-Tag"]
    assert answer.headers["Cache-Control"] == "no-store"
    assert 'name="robots" content="noindex' in page
    assert "AVDL Alpha" in page and "Territoire d'essai" in page and "besoin d'AVDL" in page
    assert 'name="decision"' in page and "Envoyer la réponse" in page
    # no consent for the operator's part: the reference only
    assert not any(word in page for word in CASE_DATA)
    assert "seule la référence du dossier est montrée" in page


def test_a_signed_in_person_sees_no_navigation_on_a_link_page(place: Place) -> None:
    page = place.client("coord@demo.test").get(f"/reponse/{place.token}").text
    assert "Mes tâches" not in page and "Se déconnecter" not in page


@pytest.mark.parametrize("token", ["inconnu-" + "x" * 40, "abc", "x" * 150])
def test_an_unknown_or_malformed_link_is_not_valid(place: Place, token: str) -> None:
    answer = place.client().get(f"/reponse/{token}")
    assert answer.status_code == 404 and "Ce lien n'est pas valide." in unescape(answer.text)
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    posted = place.client().post(f"/reponse/{token}", data={"decision": "acceptee"})
    assert posted.status_code == 404


def test_nul_bytes_in_a_token_are_refused(place: Place) -> None:
    for path in ("/reponse/abc%00def", f"/reponse/{place.token}%00"):
        answer = place.client().get(path)
        assert answer.status_code == 400, path
        assert "caractère invalide" in unescape(answer.text)


def test_an_expired_link_says_whom_to_ask(place: Place, clock: FixedClock) -> None:
    clock.advance(answer_links.LIFETIME + timedelta(seconds=1))
    answer = place.client().get(f"/reponse/{place.token}")
    page = unescape(answer.text)
    assert answer.status_code == 410
    assert "Ce lien a expiré : demandez-en un nouveau à la plateforme." in page
    assert "Territoire d'essai" in page and "coord@demo.test" in page


def test_an_answer_is_given_once(place: Place) -> None:
    client = place.client()
    answer = client.post(f"/reponse/{place.token}", data={
        "decision": "acceptee", "message_orienteur": "Rendez-vous le 12."})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/reponse/merci")
    thanks = client.get("/reponse/merci")
    assert "Merci, votre réponse a été transmise à la plateforme." in unescape(thanks.text)
    again = client.post(f"/reponse/{place.token}", data={"decision": "refusee"})
    assert again.status_code == 410
    assert "Une réponse a déjà été donnée avec ce lien." in unescape(again.text)
    assert client.get(f"/reponse/{place.token}").status_code == 410
    with place.app.extensions["aiguillage"].sessions() as session:
        orientation = session.get(Orientation, place.orientation_id)
        assert orientation is not None and orientation.state == ACCEPTED
        assert orientation.answered_via == "lien"


def test_a_wrong_answer_comes_back_with_its_errors_and_the_link_still_works(
        place: Place) -> None:
    client = place.client()
    answer = client.post(f"/reponse/{place.token}", data={"decision": "refusee",
                                                          "message_personne": "Désolé"})
    assert answer.status_code == 422
    assert "Désolé" in unescape(answer.text)  # what was typed is kept
    assert place.link().used_at is None
    assert client.get(f"/reponse/{place.token}").status_code == 200


def test_a_closed_orientation_awaits_no_answer(place: Place) -> None:
    with place.app.extensions["aiguillage"].sessions() as session:
        row = session.get(Orientation, place.orientation_id)
        assert row is not None
        row.state = "annulee"
        session.commit()
    answer = place.client().get(f"/reponse/{place.token}")
    assert answer.status_code == 410
    assert "Cette orientation n'attend plus de réponse." in unescape(answer.text)


def test_too_many_attempts_are_refused_for_a_while(place: Place, clock: FixedClock) -> None:
    client = place.client()
    statuses = [client.get(f"/reponse/{place.token}").status_code
                for _ in range(answer_links.LinkLimits().per_link + 1)]
    assert statuses[:-1] == [200] * answer_links.LinkLimits().per_link
    refused = client.get(f"/reponse/{place.token}")
    assert statuses[-1] == refused.status_code == 429
    assert "Trop de tentatives avec ce lien" in unescape(refused.text)
    assert client.post(f"/reponse/{place.token}", data={"decision": "acceptee"}
                       ).status_code == 429
    assert place.link().used_at is None
    clock.advance(answer_links.LinkLimits().lockout + timedelta(seconds=1))
    assert client.get(f"/reponse/{place.token}").status_code == 200


# --------------------------------------------------------------------------- coordination


def test_the_coordination_sends_a_link_and_sees_it_once(place: Place) -> None:
    client = place.client("coord@demo.test")
    url = f"/orientations/{place.orientation_id}/lien"
    answer = client.post(url, data={"email": ""})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(url)
    page = unescape(client.get(url).text)
    [token] = re.findall(r"/reponse/([A-Za-z0-9_-]{40,})", page)
    assert "Lien envoyé à accueil@alpha.test" in page and "il ne sera plus affiché" in page
    assert token not in unescape(client.get(url).text)  # shown once
    assert "révoqué" in page and "en cours" in page  # the earlier link, and the new one
    assert place.client().get(f"/reponse/{place.token}").status_code == 404
    assert place.client().get(f"/reponse/{token}").status_code == 200
    revoked = client.post(f"{url}/revoquer")
    assert revoked.status_code == 302
    assert "Le lien de réponse est révoqué" in unescape(client.get(url).text)
    assert place.client().get(f"/reponse/{token}").status_code == 404
    client.post(f"{url}/revoquer")
    assert "Aucun lien en cours" in unescape(client.get(url).text)


def test_a_wrong_address_is_refused_with_a_message(place: Place) -> None:
    client = place.client("coord@demo.test")
    url = f"/orientations/{place.orientation_id}/lien"
    client.post(url, data={"email": "pas-une-adresse"})
    assert "Adresse e-mail invalide" in unescape(client.get(url).text)
    assert place.link().revoked_at is None  # nothing changed


def test_a_partner_may_not_use_the_coordination_s_routes(place: Place) -> None:
    url = f"/orientations/{place.orientation_id}/lien"
    for email in ("alpha@demo.test", "op@demo.test"):
        client = place.client(email)
        assert client.get(url).status_code == 403
        assert client.post(url, data={"email": "moi@alpha.test"}).status_code == 403
        assert client.post(f"{url}/revoquer").status_code == 403
    other = place.client("autre@demo.test")  # another territory's coordination
    assert other.get(url).status_code == 404
    assert other.post(url).status_code == 404
    assert place.client().post(url).status_code == 302  # anonymous: to the sign-in page
    assert place.link().revoked_at is None
    with place.app.extensions["aiguillage"].sessions() as session:
        assert len(session.scalars(select(AnswerLink)).all()) == 1


@pytest.mark.parametrize("url", ["/orientations/999999/lien", "/orientations/" + "9" * 30 + "/lien",
                                 f"/orientations/{2**40}/lien", "/orientations/0/lien/revoquer"])
def test_unknown_and_huge_orientation_ids_are_not_found(place: Place, url: str) -> None:
    client = place.client("coord@demo.test")
    assert client.get(url).status_code in (404, 405)
    assert client.post(url).status_code == 404


def test_the_link_page_refuses_a_forged_post(app: Flask, clock: FixedClock,
                                             tmp_path: Path) -> None:
    """With CSRF on, as in production: a POST without the page's token is refused (400),
    nothing is used; the page's own form goes through without an account."""
    secured = create_app({**_config(app.config["DATABASE_URL"], clock),
                          "WTF_CSRF_ENABLED": True})
    place = _place(secured, clock, tmp_path)
    client = place.client()
    forged = client.post(f"/reponse/{place.token}", data={"decision": "acceptee"})
    assert forged.status_code == 400 and place.link().used_at is None
    page = client.get(f"/reponse/{place.token}").text
    [csrf] = re.findall(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    done = client.post(f"/reponse/{place.token}", data={"csrf_token": csrf,
                                                        "decision": "acceptee"})
    assert done.status_code == 302 and place.link().used_at is not None
    secured.extensions["aiguillage"].database.dispose()


def test_the_case_timeline_names_the_link_s_events_in_words(place: Place) -> None:
    page = unescape(place.client("coord@demo.test").get(f"/dossiers/{place.case_id}").text)
    assert "Lien de réponse envoyé" in page and "answer_link" not in page
