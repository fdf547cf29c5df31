"""Sign-in through an OpenID Connect provider (issue #18, item 5), against the local provider
of ``tests/oidc_provider.py``: the happy path, each refusal (a French page, audited, no
session), password sign-in turned off, and signing out at the provider too."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from engine.clock import FixedClock
from engine.persistence.models import (
    AuditEvent,
    FederatedIdentity,
    Membership,
    User,
    WebSession,
)
from engine.services.audit import _Words  # the journal's words for one event
from tests.integration.factories import PASSWORD, make_user, make_world
from tests.oidc_provider import Provider, app_settings, running
from webapp import create_app, oidc


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running() as started:
        yield started


def _configure(app: Flask, **settings: Any) -> Flask:
    """Point an app of the web fixtures at a provider (what the environment does)."""
    app.config.update(settings)
    oidc.init_app(app)
    return app


@pytest.fixture
def oidc_app(any_app: Flask, clock: FixedClock, provider: Provider) -> Flask:
    with any_app.extensions["aiguillage"].sessions() as session:
        make_world(session, clock)
    return _configure(any_app, **app_settings(provider))


@pytest.fixture
def sqlite_oidc_app(app: Flask, clock: FixedClock, provider: Provider) -> Flask:
    with app.extensions["aiguillage"].sessions() as session:
        make_world(session, clock)
    return _configure(app, **app_settings(provider))


def _through_provider(client: FlaskClient, start: str = "/connexion/oidc") -> Any:
    """Click the button, let the provider answer, follow it back: the callback's answer."""
    answer = client.get(start)
    assert answer.status_code == 302, answer.text
    at_provider = requests.get(answer.location, allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302
    back = urlsplit(at_provider.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


def _events(app: Flask, action: str) -> list[dict[str, Any]]:
    with app.extensions["aiguillage"].sessions() as session:
        return [dict(d) for d in session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == action)
            .order_by(AuditEvent.id))]


def _signed_in_sessions(app: Flask) -> int:
    with app.extensions["aiguillage"].sessions() as session:
        return session.scalar(select(func.count()).select_from(WebSession).where(
            WebSession.user_id.is_not(None), WebSession.revoked_at.is_(None))) or 0


def test_signs_in_with_a_verified_e_mail_whatever_its_case(oidc_app: Flask,
                                                           provider: Provider) -> None:
    provider.user["email"] = "OP@Demo.TEST"
    client = oidc_app.test_client()
    answer = _through_provider(client, "/connexion/oidc?next=/compte/")
    assert answer.status_code == 302 and answer.location == "/compte/"
    assert client.get("/taches/").status_code == 200
    [asked] = provider.authorize_requests
    assert asked["code_challenge_method"] == "S256" and asked["code_challenge"]
    assert asked["nonce"] and asked["state"]
    assert asked["scope"] == "openid email given_name usual_name"
    [event] = _events(oidc_app, "user.sign_in_federated")
    assert event["provider"] == "ProConnect" and isinstance(event["target_user_id"], int)
    assert _signed_in_sessions(oidc_app) == 1
    # the back button to the provider's answer, once signed in: back to work, nothing redone
    again = client.get(f"/connexion/oidc/retour?code=deja-servi&state={asked['state']}")
    assert again.status_code == 302 and again.location == "/taches/"
    assert len(_events(oidc_app, "user.sign_in_federated")) == 1
    assert not _events(oidc_app, "user.sign_in_federated_refused")


def test_the_sign_in_page_shows_the_button_above_the_password_form(
        sqlite_oidc_app: Flask) -> None:
    page = sqlite_oidc_app.test_client().get("/connexion").text
    assert "Se connecter avec ProConnect" in page and 'name="password"' in page
    assert page.index("Se connecter avec ProConnect") < page.index('name="password"')


REFUSALS = [
    ("aud", "le jeton d'identité n'est pas destiné à Aiguillage", "svc.oidc_audience"),
    ("iss", "le jeton d'identité ne vient pas du fournisseur attendu", "svc.oidc_issuer"),
    ("nonce", "ne correspond pas à cette demande de connexion", "svc.oidc_nonce"),
    ("expired", "le jeton d'identité a expiré", "svc.oidc_expired"),
    ("signature", "la signature du jeton d'identité n'est pas valide", "svc.oidc_signature"),
    ("error", "le fournisseur d'identité a refusé ou interrompu", "svc.oidc_provider_error"),
    ("unverified", "ne garantit pas l'adresse e-mail", "svc.oidc_email_unverified"),
]


@pytest.mark.parametrize(("misbehave", "words", "code"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_a_wrong_answer_is_refused_on_a_french_page_audited_without_session(
        sqlite_oidc_app: Flask, provider: Provider, misbehave: str, words: str,
        code: str) -> None:
    provider.user["email"] = "op@demo.test"
    provider.misbehave.add(misbehave)
    client = sqlite_oidc_app.test_client()
    answer = _through_provider(client)
    assert answer.status_code == 403
    assert "Connexion impossible" in answer.text and words in unescape(answer.text)
    assert "Traceback" not in answer.text
    assert client.get("/taches/").status_code == 302  # not signed in
    assert _signed_in_sessions(sqlite_oidc_app) == 0
    [event] = _events(sqlite_oidc_app, "user.sign_in_federated_refused")
    assert event["reason_code"] == code and event["provider"] == "ProConnect"
    assert not _events(sqlite_oidc_app, "user.sign_in_federated")


def test_a_callback_with_another_state_is_refused(sqlite_oidc_app: Flask) -> None:
    client = sqlite_oidc_app.test_client()
    answer = client.get("/connexion/oidc")
    location = requests.get(answer.location, allow_redirects=False, timeout=10)
    back = parse_qs(urlsplit(location.headers["Location"]).query)
    forged = client.get(f"/connexion/oidc/retour?code={back['code'][0]}&state=forge")
    assert forged.status_code == 400
    assert "recommencez depuis la page de connexion" in unescape(forged.text)
    assert _signed_in_sessions(sqlite_oidc_app) == 0
    # and a callback nobody asked for, from another browser
    stray = sqlite_oidc_app.test_client().get(
        f"/connexion/oidc/retour?code={back['code'][0]}&state={back['state'][0]}")
    assert stray.status_code == 400
    codes = [e["reason_code"] for e in _events(sqlite_oidc_app,
                                                "user.sign_in_federated_refused")]
    assert codes == ["svc.oidc_state", "svc.oidc_state"]


def test_an_unknown_account_is_not_created(oidc_app: Flask, provider: Provider) -> None:
    provider.user["email"] = "inconnue@ailleurs.test"
    with oidc_app.extensions["aiguillage"].sessions() as session:
        before = session.scalar(select(func.count()).select_from(User))
    answer = _through_provider(oidc_app.test_client())
    assert answer.status_code == 403
    assert ("Aucun compte Aiguillage n'est ouvert pour inconnue@ailleurs.test : demandez à "
            "l'administrateur de votre plateforme") in unescape(answer.text)
    with oidc_app.extensions["aiguillage"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == before
    [event] = _events(oidc_app, "user.sign_in_federated_refused")
    assert event["reason_code"] == "svc.oidc_unknown_account"
    assert _signed_in_sessions(oidc_app) == 0


def test_a_deactivated_account_does_not_sign_in(sqlite_oidc_app: Flask,
                                                provider: Provider) -> None:
    provider.user["email"] = "op@demo.test"
    with sqlite_oidc_app.extensions["aiguillage"].sessions() as session:
        session.execute(update(User).where(User.email == "op@demo.test").values(active=False))
        session.commit()
    answer = _through_provider(sqlite_oidc_app.test_client())
    assert answer.status_code == 403 and "est désactivé" in unescape(answer.text)
    [event] = _events(sqlite_oidc_app, "user.sign_in_federated_refused")
    assert event["reason_code"] == "svc.oidc_inactive_account"
    assert _signed_in_sessions(sqlite_oidc_app) == 0


def test_an_api_keys_technical_account_never_signs_in(sqlite_oidc_app: Flask,
                                                     provider: Provider) -> None:
    provider.user["email"] = "op@demo.test"
    with sqlite_oidc_app.extensions["aiguillage"].sessions() as session:
        session.execute(update(User).where(User.email == "op@demo.test").values(kind="api"))
        session.commit()
    answer = _through_provider(sqlite_oidc_app.test_client())
    assert answer.status_code == 403 and "compte technique" in unescape(answer.text)
    [event] = _events(sqlite_oidc_app, "user.sign_in_federated_refused")
    assert event["reason_code"] == "svc.oidc_api_account"
    assert _signed_in_sessions(sqlite_oidc_app) == 0


def test_the_e_mail_from_a_signed_user_info_trusted_like_proconnect(
        sqlite_oidc_app: Flask, provider: Provider) -> None:
    """ProConnect: the e-mail only in the user info (a signed JWT), no ``email_verified``;
    the deployment says the provider verifies every e-mail."""
    provider.user = {"sub": "agent-9", "email": "coord@demo.test", "given_name": "Claude",
                     "usual_name": "Durand"}
    provider.misbehave.add("email_in_userinfo")
    sqlite_oidc_app.config["OIDC_TRUST_EMAIL"] = True
    client = sqlite_oidc_app.test_client()
    assert _through_provider(client).status_code == 302
    assert client.get("/taches/").status_code == 200


def test_a_signed_user_info_is_not_trusted_unless_configured(
        sqlite_oidc_app: Flask, provider: Provider) -> None:
    provider.user = {"sub": "agent-9", "email": "coord@demo.test"}
    provider.misbehave.add("email_in_userinfo")
    answer = _through_provider(sqlite_oidc_app.test_client())
    assert answer.status_code == 403
    [event] = _events(sqlite_oidc_app, "user.sign_in_federated_refused")
    assert event["reason_code"] == "svc.oidc_email_unverified"


def test_a_provider_down_gives_a_page_not_a_500(app: Flask) -> None:
    with running() as gone:
        settings = app_settings(gone)
    _configure(app, **settings)  # its port is closed now
    answer = app.test_client().get("/connexion/oidc")
    assert answer.status_code == 503
    assert "ne répond pas pour le moment" in unescape(answer.text)
    [event] = _events(app, "user.sign_in_federated_refused")
    assert event["reason_code"] == "svc.oidc_unavailable"


def test_password_sign_in_turned_off(sqlite_oidc_app: Flask) -> None:
    sqlite_oidc_app.config["PASSWORD_SIGNIN"] = False
    client = sqlite_oidc_app.test_client()
    page = client.get("/connexion").text
    assert "Se connecter avec ProConnect" in page and 'name="password"' not in page
    refused = client.post("/connexion", data={"email": "op@demo.test", "password": PASSWORD})
    assert refused.status_code == 403
    assert "La connexion par mot de passe est désactivée" in unescape(refused.text)
    assert client.get("/taches/").status_code == 302
    assert _signed_in_sessions(sqlite_oidc_app) == 0


def test_nothing_configured_nothing_changes(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/connexion").text
    assert "ProConnect" not in page and 'name="password"' in page
    assert client.get("/connexion/oidc").status_code == 404
    assert client.get("/connexion/oidc/retour?code=x&state=y").status_code == 404


def test_signing_out_ends_the_provider_session_too(sqlite_oidc_app: Flask,
                                                   provider: Provider) -> None:
    provider.user["email"] = "op@demo.test"
    client = sqlite_oidc_app.test_client()
    _through_provider(client)
    answer = client.post("/deconnexion")
    assert answer.status_code == 302
    there = urlsplit(answer.location)
    assert f"{there.scheme}://{there.netloc}{there.path}" == f"{provider.url}/logout"
    query = parse_qs(there.query)
    assert query["id_token_hint"][0].count(".") == 2
    assert query["post_logout_redirect_uri"] == ["http://localhost/connexion"]
    assert query["state"][0]
    assert client.get("/taches/").status_code == 302
    assert _signed_in_sessions(sqlite_oidc_app) == 0


def test_a_password_session_signs_out_here_only(sqlite_oidc_app: Flask) -> None:
    client = sqlite_oidc_app.test_client()
    client.post("/connexion", data={"email": "op@demo.test", "password": PASSWORD})
    assert client.post("/deconnexion").location == "/connexion"


@pytest.mark.parametrize(("settings", "words"), [
    ({"PASSWORD_SIGNIN": False}, "AIGUILLAGE_PASSWORD_SIGNIN"),
    ({"OIDC_ISSUER": "https://idp.example"}, "AIGUILLAGE_OIDC_CLIENT_ID"),
    ({"OIDC_ISSUER": "https://idp.example", "OIDC_CLIENT_ID": "x", "OIDC_SCOPES": "email"},
     "AIGUILLAGE_OIDC_SCOPES"),
])
def test_settings_that_would_lock_everyone_out_stop_the_start(
        settings: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": "sqlite://",
                    **settings})


def test_the_audit_log_says_through_which_provider_and_why_refused(
        sqlite_oidc_app: Flask, provider: Provider) -> None:
    provider.user["email"] = "op@demo.test"
    _through_provider(sqlite_oidc_app.test_client())
    provider.misbehave.add("expired")
    _through_provider(sqlite_oidc_app.test_client())
    with sqlite_oidc_app.extensions["aiguillage"].sessions() as session:
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.action.like("user.sign_in_federated%")).order_by(AuditEvent.id)).all()
        words = _Words(session, "fr")
        assert [words.summary(e) for e in events] == [
            "Op — via ProConnect", "via ProConnect — motif : le jeton d'identité a expiré"]


def test_the_content_security_policy_lets_signing_out_reach_the_provider(
        provider: Provider, template_db: Any, tmp_path: Any, clock: FixedClock) -> None:
    shutil.copy(template_db, tmp_path / "csp.sqlite")
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SESSION_COOKIE_SECURE": False,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'csp.sqlite'}", "CLOCK": clock,
                      **app_settings(provider)})
    csp = app.test_client().get("/connexion").headers["Content-Security-Policy"]
    assert f"form-action 'self' {provider.url};" in csp
    app.extensions["aiguillage"].database.dispose()


@pytest.mark.parametrize("query", [
    "code=%00&state=%00", "code=x&state=" + "9" * 30, "state=" + "s" * 5000,
    "code=x", "", "error=access_denied&error_description=%00"])
def test_a_forged_or_malformed_answer_gets_a_clear_page(sqlite_oidc_app: Flask,
                                                         query: str) -> None:
    answer = sqlite_oidc_app.test_client().get(f"/connexion/oidc/retour?{query}")
    assert answer.status_code in (400, 403) and "Traceback" not in answer.text
    if "%00" not in query:  # a NUL byte is refused before any view (webapp/inputs.py)
        assert "Connexion impossible" in answer.text
    assert _signed_in_sessions(sqlite_oidc_app) == 0


def test_a_hostile_next_is_dropped(sqlite_oidc_app: Flask, provider: Provider) -> None:
    provider.user["email"] = "op@demo.test"
    client = sqlite_oidc_app.test_client()
    answer = _through_provider(client, "/connexion/oidc?next=//evil.example/")
    assert answer.status_code == 302 and answer.location == "/taches/"


# the identity an account is bound to (issue #18, item 5) -----------------------------------

def _bindings(app: Flask) -> list[tuple[str, str]]:
    with app.extensions["aiguillage"].sessions() as session:
        return [(u, s) for u, s in session.execute(
            select(User.email, FederatedIdentity.subject).join(
                User, User.id == FederatedIdentity.user_id).order_by(FederatedIdentity.id))]


def test_the_bound_identity_signs_in_even_after_the_e_mail_changed(
        oidc_app: Flask, provider: Provider) -> None:
    provider.user.update(sub="agent-op", email="op@demo.test")
    client = oidc_app.test_client()
    assert _through_provider(client).status_code == 302
    assert _bindings(oidc_app) == [("op@demo.test", "agent-op")]
    client.post("/deconnexion")
    with oidc_app.extensions["aiguillage"].sessions() as session:
        session.execute(update(User).where(User.email == "op@demo.test")
                        .values(email="op.nouvelle@demo.test"))
        session.commit()
    again = oidc_app.test_client()
    assert _through_provider(again).status_code == 302  # still op@demo.test at the provider
    assert again.get("/taches/").status_code == 200
    assert len(_events(oidc_app, "user.sign_in_federated")) == 2


def test_the_accounts_e_mail_for_someone_else_is_refused_then_unlinked(
        oidc_app: Flask, provider: Provider, clock: FixedClock) -> None:
    provider.user.update(sub="agent-op", email="op@demo.test")
    assert _through_provider(oidc_app.test_client()).status_code == 302
    provider.user["sub"] = "nouvelle-titulaire"  # the address given to someone else
    client = oidc_app.test_client()
    answer = _through_provider(client)
    assert answer.status_code == 403
    text = unescape(answer.text)
    assert "Le compte Aiguillage de op@demo.test est lié à une autre personne chez " \
        "ProConnect" in text and "délier l'identité ProConnect" in text.replace("’", "'")
    assert client.get("/taches/").status_code == 302
    assert _bindings(oidc_app) == [("op@demo.test", "agent-op")]
    [event] = _events(oidc_app, "user.sign_in_federated_refused")
    assert event["reason_code"] == "svc.oidc_subject_changed"
    # the administrator unlinks it from the account's roles page
    with oidc_app.extensions["aiguillage"].sessions() as session:
        op_id = session.scalar(select(User.id).where(User.email == "op@demo.test"))
        territory_id = session.scalar(select(Membership.territory_id).where(
            Membership.user_id == op_id))
        make_user(session, clock, "admin@demo.test", territory_id, "admin")
    admin = oidc_app.test_client()
    admin.post("/connexion", data={"email": "admin@demo.test", "password": PASSWORD})
    page = admin.get(f"/supervision/utilisateurs/{op_id}/roles")
    assert page.status_code == 200, page.text
    assert "Délier l’identité ProConnect" in page.text
    assert "Compte lié le " in page.text and "T" not in page.text.split(
        "Compte lié le ")[1][:20]  # a date in words, no ISO timestamp
    done = admin.post(f"/supervision/utilisateurs/{op_id}/delier-identite",
                      follow_redirects=True)
    assert done.status_code == 200 and "Identité ProConnect déliée" in done.text
    assert "Délier l’identité ProConnect" not in done.text
    assert _bindings(oidc_app) == []
    [unlinked] = _events(oidc_app, "user.identity_unlink")
    assert unlinked == {"target_user_id": op_id, "provider": "ProConnect"}
    assert _through_provider(oidc_app.test_client()).status_code == 302
    assert _bindings(oidc_app) == [("op@demo.test", "nouvelle-titulaire")]


def test_only_an_administrator_of_the_account_unlinks_it(
        sqlite_oidc_app: Flask, provider: Provider) -> None:
    provider.user.update(sub="agent-op", email="op@demo.test")
    _through_provider(sqlite_oidc_app.test_client())
    client = sqlite_oidc_app.test_client()
    client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD})
    with sqlite_oidc_app.extensions["aiguillage"].sessions() as session:
        op_id = session.scalar(select(User.id).where(User.email == "op@demo.test"))
    assert client.post(f"/supervision/utilisateurs/{op_id}/delier-identite").status_code \
        in (403, 404)
    assert _bindings(sqlite_oidc_app) == [("op@demo.test", "agent-op")]


@pytest.mark.parametrize("subject", ["s" * 256, "a\x00b", ""])
def test_a_subject_that_cannot_be_bound_is_refused(sqlite_oidc_app: Flask,
                                                   provider: Provider, subject: str) -> None:
    provider.user.update(sub=subject, email="op@demo.test")
    answer = _through_provider(sqlite_oidc_app.test_client())
    assert answer.status_code == 403 and "Traceback" not in answer.text
    assert _bindings(sqlite_oidc_app) == [] and _signed_in_sessions(sqlite_oidc_app) == 0
