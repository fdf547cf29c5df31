"""Sign-in through an OpenID Connect provider (ProConnect or any standard one), with Authlib.

Configured by ``OIDC_*`` (docs/configuration.md); nothing configured, nothing changes. The
flow is the authorization code with PKCE (S256), ``state`` and ``nonce`` kept in the
server-side session. On the way back Authlib checks the ID token: its signature against the
provider's published keys (JWKS), its issuer (the discovery document's), its audience (our
client id), its expiry and its nonce. When the e-mail is not in the ID token (ProConnect puts
it in the user info only), the user info is read, as JSON or as a JWT signed with the same
keys (ProConnect's), and its subject must be the ID token's. Every failure becomes a
``Refused`` with one of ``federated_signin.REASONS``.
"""

from __future__ import annotations

from typing import Any

import requests
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app, url_for
from joserfc import jwt
from joserfc.errors import BadSignatureError, ClaimError, ExpiredTokenError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from werkzeug.wrappers import Response

from engine.services.federated_signin import Identity

NAME = "oidc"  # the Authlib client's name


class Refused(Exception):
    """The provider's answer is not accepted; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def init_app(app: Flask) -> None:
    """Register the provider with Authlib when ``OIDC_ISSUER`` is set (its discovery
    document is read at the first sign-in, not at start: a provider down stops nothing)."""
    issuer = app.config["OIDC_ISSUER"]
    if not issuer:
        return
    oauth = OAuth(app)
    oauth.register(
        NAME, client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config["OIDC_CLIENT_SECRET"] or None,
        server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": app.config["OIDC_SCOPES"], "code_challenge_method": "S256",
                       "timeout": app.config["OIDC_TIMEOUT"]})
    app.extensions["aiguillage.oidc"] = oauth


def enabled() -> bool:
    """True when a provider is configured."""
    return "aiguillage.oidc" in current_app.extensions


def provider_name() -> str:
    """The provider as people know it (« ProConnect »)."""
    return str(current_app.config["OIDC_NAME"])


def _client() -> Any:
    return current_app.extensions["aiguillage.oidc"].create_client(NAME)


def start() -> Response:
    """Send the browser to the provider (new state, nonce and PKCE verifier in the session).

    :raises Refused: the provider's discovery document cannot be read.
    """
    try:
        _metadata()
        answer: Response = _client().authorize_redirect(
            url_for("auth.oidc_callback", _external=True))
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise Refused("unavailable", str(exc)) from exc
    return answer


def finish() -> tuple[Identity, str]:
    """The identity the provider vouches for on its way back, and the raw ID token (kept for
    signing out at the provider).

    :raises Refused: anything wrong with the answer, the token or the provider.
    """
    try:
        token = _client().authorize_access_token(claims_options=_claims_options())
        if "userinfo" not in token:
            raise Refused("token_invalid", "no ID token")
        claims = dict(token["userinfo"])
        issuer, subject = claims.get("iss"), claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 255 \
                or "\x00" in subject or not isinstance(issuer, str) or len(issuer) > 300:
            raise Refused("token_invalid", "subject")
        if "email" not in claims:
            claims.update(_userinfo(token, claims))
    except Refused:
        raise
    except MismatchingStateError as exc:
        raise Refused("state") from exc
    except OAuthError as exc:
        raise Refused("provider_error", str(exc.error)) from exc
    except (requests.RequestException, ValueError) as exc:
        raise Refused("unavailable", str(exc)) from exc
    except JoseError as exc:
        raise Refused(_jose_reason(exc), str(exc)) from exc
    verified = claims.get("email_verified") is True or bool(
        current_app.config["OIDC_TRUST_EMAIL"])
    email = claims.get("email")
    identity = Identity(provider_name(), email if isinstance(email, str) else "", verified,
                        issuer, subject)
    return identity, str(token.get("id_token", ""))


def logout_url(id_token: str, after: str) -> str | None:
    """Where to end the provider's session too (RP-initiated logout with ``id_token_hint``),
    or None when the provider has no ``end_session_endpoint`` or cannot be reached."""
    try:
        if not _metadata().get("end_session_endpoint"):
            return None
        result = _client().create_logout_url(post_logout_redirect_uri=after,
                                             id_token_hint=id_token)
    except (requests.RequestException, ValueError, KeyError, RuntimeError, Refused):
        return None
    return str(result["url"])


def _claims_options() -> dict[str, Any]:
    """What the ID token must say: our provider as issuer, our client id as audience
    (Authlib checks the issuer by default; the audience only through ``azp``)."""
    return {"iss": {"essential": True, "values": [_metadata()["issuer"]]},
            "aud": {"essential": True, "values": [current_app.config["OIDC_CLIENT_ID"]]}}


def _metadata() -> dict[str, Any]:
    """The discovery document; its issuer must be the one configured (OpenID Connect
    Discovery 1.0, section 4.3), or every token it vouches for would be trusted."""
    metadata: dict[str, Any] = _client().load_server_metadata()
    if str(metadata.get("issuer", "")).rstrip("/") != \
            str(current_app.config["OIDC_ISSUER"]).rstrip("/"):
        raise Refused("issuer", "the discovery document names another issuer")
    return metadata


def _userinfo(token: dict[str, Any], claims: dict[str, Any]) -> dict[str, Any]:
    """The user info: plain JSON, or a JWT signed with the provider's keys (ProConnect)."""
    client = _client()
    metadata = _metadata()
    # plain requests: Authlib's session would refuse an access token that lives less than
    # its 60 s leeway (ProConnect's live 60 s), though it was issued a moment ago
    answer = requests.get(metadata["userinfo_endpoint"], timeout=current_app.config[
        "OIDC_TIMEOUT"], headers={"Authorization": f"Bearer {token['access_token']}"})
    answer.raise_for_status()
    if answer.headers.get("Content-Type", "").split(";")[0].strip() == "application/jwt":
        keys = KeySet.import_key_set(client.fetch_jwk_set())
        decoded = jwt.decode(answer.text.strip(), keys, registry=JWSRegistry(
            algorithms=metadata.get("id_token_signing_alg_values_supported")))
        info = dict(decoded.claims)
        if "iss" in info and info["iss"] != metadata["issuer"]:
            raise Refused("issuer", "user info")
        if "aud" in info and client.client_id not in _listed(info["aud"]):
            raise Refused("audience", "user info")
    else:
        info = answer.json()
    if not isinstance(info, dict) or info.get("sub") != claims.get("sub"):
        raise Refused("token_invalid", "user info of another subject")
    return info


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _jose_reason(exc: JoseError) -> str:
    """The reason code of a token the library refused."""
    if isinstance(exc, BadSignatureError):
        return "signature"
    if isinstance(exc, ExpiredTokenError):
        return "expired"
    if isinstance(exc, ClaimError):
        return {"iss": "issuer", "aud": "audience", "nonce": "nonce",
                "exp": "expired"}.get(exc.claim, "token_invalid")
    return "token_invalid"
