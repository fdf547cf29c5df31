"""A tiny OpenID Connect provider for the tests, run in a thread on 127.0.0.1.

It publishes a discovery document and its RSA key (JWKS), answers ``/authorize`` at once
with a code for ``user`` (no login screen), checks the code, client and PKCE verifier at
``/token``, signs an ID token, serves ``/userinfo`` (JSON, or a signed JWT like ProConnect's)
and ``/logout``. ``misbehave`` makes it wrong on purpose: ``aud``, ``iss``, ``nonce``,
``expired``, ``signature`` (signed with another key under the same key id), ``unverified``
(``email_verified`` false), ``error`` (``/authorize`` answers ``access_denied``),
``email_in_userinfo`` (the e-mail only in the user info, as a signed JWT).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, abort, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

CLIENT_ID = "aiguillage-test"
CLIENT_SECRET = "secret-de-test"
KID = "cle-de-test"


def _key() -> RSAKey:
    """An RSA key made by joserfc (Authlib's JOSE library, which ``authlib.jose`` became)."""
    return RSAKey.generate_key(2048, {"kid": KID, "use": "sig", "alg": "RS256"}, private=True)


@dataclass
class Provider:
    """The provider's state: who signs in, what goes wrong, what it saw."""

    url: str = ""
    user: dict[str, Any] = field(default_factory=lambda: {
        "sub": "agent-123", "email": "Travailleur@Alpha.test", "email_verified": True,
        "given_name": "Camille", "usual_name": "Martin"})
    misbehave: set[str] = field(default_factory=set)
    key: Any = field(default_factory=_key)
    other_key: Any = field(default_factory=_key)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    logouts: list[dict[str, str]] = field(default_factory=list)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)

    def claims(self) -> dict[str, Any]:
        """The user's claims as the provider says them (``unverified`` applied)."""
        claims = dict(self.user)
        if "unverified" in self.misbehave:
            claims["email_verified"] = False
        return claims

    def sign(self, payload: dict[str, Any]) -> str:
        key = self.other_key if "signature" in self.misbehave else self.key
        return jwt.encode({"alg": "RS256", "kid": KID}, payload, key)


def make_app(provider: Provider) -> Flask:
    """The provider's endpoints."""
    app = Flask("oidc_provider")

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Response:
        base = provider.url
        return jsonify({
            "issuer": base, "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token", "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks", "end_session_endpoint": f"{base}/logout",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "email", "profile", "given_name", "usual_name"]})

    @app.get("/jwks")
    def jwks() -> Response:
        return jsonify({"keys": [provider.key.as_dict(private=False)]})

    @app.get("/authorize")
    def authorize() -> Response:
        args = request.args.to_dict()
        provider.authorize_requests.append(args)
        if args.get("client_id") != CLIENT_ID or args.get("response_type") != "code":
            abort(400)
        back = args["redirect_uri"]
        if "error" in provider.misbehave:
            return redirect(back + "?" + urlencode({"error": "access_denied",
                                                    "state": args.get("state", "")}))
        code = secrets.token_urlsafe(16)
        provider.codes[code] = args
        return redirect(back + "?" + urlencode({"code": code, "state": args.get("state", "")}))

    @app.post("/token")
    def token() -> tuple[Response, int] | Response:
        asked = provider.codes.pop(request.form.get("code", ""), None)
        if asked is None or not _client_ok():
            return jsonify({"error": "invalid_grant"}), 400
        verifier = request.form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if challenge.rstrip(b"=").decode() != asked.get("code_challenge") \
                or request.form.get("redirect_uri") != asked.get("redirect_uri"):
            return jsonify({"error": "invalid_grant"}), 400
        access = secrets.token_urlsafe(16)
        provider.tokens[access] = provider.claims()
        return jsonify({"access_token": access, "token_type": "Bearer", "expires_in": 60,
                        "id_token": provider.sign(_id_token(provider, asked))})

    @app.get("/userinfo")
    def userinfo() -> Response:
        claims = provider.tokens.get(request.headers.get("Authorization", "")[7:])
        if claims is None:
            abort(401)
        if "email_in_userinfo" in provider.misbehave:
            signed = provider.sign({**claims, "iss": provider.url, "aud": CLIENT_ID})
            return Response(signed, content_type="application/jwt")
        return jsonify(claims)

    @app.get("/logout")
    def logout() -> Response:
        provider.logouts.append(request.args.to_dict())
        after = request.args.get("post_logout_redirect_uri", "")
        return redirect(after + "?" + urlencode({"state": request.args.get("state", "")}))

    return app


def _client_ok() -> bool:
    auth = request.authorization
    if auth is not None:
        return auth.username == CLIENT_ID and auth.password == CLIENT_SECRET
    return (request.form.get("client_id") == CLIENT_ID
            and request.form.get("client_secret") == CLIENT_SECRET)


def _id_token(provider: Provider, asked: dict[str, Any]) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": provider.url, "sub": provider.user["sub"], "aud": CLIENT_ID,
              "iat": now, "exp": now + 300, "nonce": asked.get("nonce", ""),
              "auth_time": now}
    if "email_in_userinfo" not in provider.misbehave:
        claims.update({k: v for k, v in provider.claims().items() if k != "sub"})
    if "aud" in provider.misbehave:
        claims["aud"] = "une-autre-application"
    if "iss" in provider.misbehave:
        claims["iss"] = "https://faux-fournisseur.example"
    if "nonce" in provider.misbehave:
        claims["nonce"] = "pas-le-bon-nonce"
    if "expired" in provider.misbehave:
        claims["iat"], claims["exp"] = now - 3600, now - 1800
    return claims


@contextmanager
def running() -> Iterator[Provider]:
    """A provider listening on a random port of 127.0.0.1 for the ``with`` block."""
    provider = Provider()
    server = make_server("127.0.0.1", 0, make_app(provider), threaded=True)
    provider.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()


def app_settings(provider: Provider, **more: Any) -> dict[str, Any]:
    """The settings that point Aiguillage at this provider."""
    return {"OIDC_ISSUER": provider.url, "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET, "OIDC_NAME": "ProConnect", **more}
