"""Mon compte: « Me prévenir des nouvelles étapes : à chaque étape / dans le récapitulatif
quotidien », saved, audited, shown as set; a forged choice is refused and changes nothing."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.persistence.models import AuditEvent, User
from tests.integration.factories import World
from tests.web.conftest import AuthActions


def _mode(app: Flask, email: str) -> str:
    with app.extensions["aiguillage"].sessions() as session:
        mode = session.scalar(select(User.notice_mode).where(User.email == email))
        assert mode is not None
        return mode


def _checked(page: str) -> str:
    return next(key for key in ("immediate", "digest") if f'value="{key}" checked' in page)


def test_the_choice_is_saved_audited_and_shown(app: Flask, client: FlaskClient,
                                               auth: AuthActions, world: World) -> None:
    auth.login("op@demo.test")
    page = client.get("/compte/").text
    assert "Me prévenir des nouvelles étapes" in page
    assert "à chaque étape" in page and "dans le récapitulatif quotidien" in page
    assert _checked(page) == "digest"  # the default
    answer = client.post("/compte/prevenir", data={"prevenir": "immediate"})
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).text
    assert "Votre choix est enregistré" in page and _checked(page) == "immediate"
    assert _mode(app, "op@demo.test") == "immediate"
    with app.extensions["aiguillage"].sessions() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "user.notice_mode"))
        assert event is not None and event.detail["after"] == "immediate"


def test_a_forged_choice_is_refused(app: Flask, client: FlaskClient, auth: AuthActions,
                                    world: World) -> None:
    auth.login("op@demo.test")
    nul = client.post("/compte/prevenir", data={"prevenir": "immediate\x00"})
    assert nul.status_code == 400  # every control character, before any view
    for forged in ("weekly", "9" * 30, "", "IMMEDIATE"):
        answer = client.post("/compte/prevenir", data={"prevenir": forged})
        assert answer.status_code == 422
        assert "Choisissez « à chaque étape » ou « dans le récapitulatif quotidien »" in (
            answer.text)
        assert 'aria-describedby="prevenir-erreur"' in answer.text
    assert _mode(app, "op@demo.test") == "digest"


def test_signed_out_people_cannot_choose(app: Flask, client: FlaskClient,
                                         world: World) -> None:
    answer = client.post("/compte/prevenir", data={"prevenir": "immediate"})
    assert answer.status_code == 302 and "/connexion" in answer.headers["Location"]
    assert _mode(app, "op@demo.test") == "digest"
