"""Settings: defaults, then ``instance/config.py``, then ``AIGUILLAGE_*`` environment
variables, then the test mapping. Every setting is listed in docs/configuration.md."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from engine.bootstrap import default_url

DEFAULTS: dict[str, Any] = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": True,
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
    "IDLE_TIMEOUT": timedelta(minutes=30),
    "WTF_CSRF_TIME_LIMIT": None,
    "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,
    "BABEL_DEFAULT_LOCALE": "fr",
    "BABEL_DEFAULT_TIMEZONE": "Europe/Paris",
    "BABEL_TRANSLATION_DIRECTORIES": "translations",  # relative to webapp/ (the app's root_path)
    "LANGUAGES": ("fr", "en"),
    "SIGN_IN_MAX_FAILURES": 5,  # per account (e-mail) within SIGN_IN_WINDOW, then locked
    "SIGN_IN_ADDRESS_MAX_FAILURES": 50,  # per client address within SIGN_IN_WINDOW
    "SIGN_IN_WINDOW": timedelta(minutes=15),
    "SIGN_IN_LOCKOUT": timedelta(minutes=15),
    "TRUSTED_PROXIES": 0,  # reverse proxies in front (their X-Forwarded-* headers are read)
    "EMBEDDED_SCHEDULER": False,
    "PER_PAGE": 25,
    "ACCESSIBILITY_CONTACT": "",  # where to report an accessibility problem (e-mail or address)
    "STATEMENT_COUNT_HEADER": False,  # X-Aiguillage-Statements on responses (the CI load run)
    "LOG_FORMAT": "text",  # or "json": one JSON object per line (production)
    "METRICS_TOKEN": "",  # /metrics for "Authorization: Bearer <token>"; unset: loopback only
    "READY_SCHEDULER_MAX_AGE": 20,  # seconds (10 ticks) since a scheduler's last sweep; 0: off
    # sign-in through an OpenID Connect provider (docs/security.md « ProConnect »)
    "OIDC_ISSUER": "",  # unset: no provider, the sign-in page as before
    "OIDC_CLIENT_ID": "",
    "OIDC_CLIENT_SECRET": "",
    "OIDC_NAME": "ProConnect",  # the provider as people know it (« via ProConnect »)
    "OIDC_LABEL": "",  # the button; unset: « Se connecter avec <OIDC_NAME> »
    "OIDC_SCOPES": "openid email given_name usual_name",  # others: "openid email profile"
    "OIDC_TRUST_EMAIL": False,  # on: the provider verifies every e-mail (ProConnect does)
    "OIDC_TIMEOUT": 10,  # seconds for each call to the provider
    "PASSWORD_SIGNIN": True,  # off: the password form is gone and its POST refused
}
ENV = {"DATABASE_URL": str, "SECRET_KEY": str, "EMBEDDED_SCHEDULER": bool,
       "SESSION_COOKIE_SECURE": bool, "TRUSTED_PROXIES": int, "SIGN_IN_MAX_FAILURES": int,
       "SIGN_IN_ADDRESS_MAX_FAILURES": int, "ACCESSIBILITY_CONTACT": str,
       "STATEMENT_COUNT_HEADER": bool, "LOG_FORMAT": str, "METRICS_TOKEN": str,
       "READY_SCHEDULER_MAX_AGE": int, "OIDC_ISSUER": str, "OIDC_CLIENT_ID": str,
       "OIDC_CLIENT_SECRET": str, "OIDC_NAME": str, "OIDC_LABEL": str, "OIDC_SCOPES": str,
       "OIDC_TRUST_EMAIL": bool, "OIDC_TIMEOUT": int, "PASSWORD_SIGNIN": bool}


def load(app: Flask, test_config: Mapping[str, Any] | None) -> None:
    """Fill ``app.config`` in order: defaults, instance file, environment, test mapping."""
    app.config.update(DEFAULTS)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_pyfile("config.py", silent=True)
    for name, kind in ENV.items():
        raw = os.environ.get(f"AIGUILLAGE_{name}")
        if raw is not None:
            app.config[name] = _parse(name, raw, kind)
    if test_config:
        app.config.update(test_config)
    app.config.setdefault("DATABASE_URL", default_url(Path(app.instance_path)))
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path))
    if app.config["LOG_FORMAT"] not in ("text", "json"):
        raise ValueError("AIGUILLAGE_LOG_FORMAT : text ou json est attendu")
    if app.config["READY_SCHEDULER_MAX_AGE"] < 0:
        raise ValueError("AIGUILLAGE_READY_SCHEDULER_MAX_AGE : un nombre de secondes positif "
                         "ou 0 est attendu")
    _check_sign_in(app.config)
    if app.config["SESSION_COOKIE_SECURE"]:
        app.config["SESSION_COOKIE_NAME"] = "__Host-aiguillage"
    else:
        app.config["SESSION_COOKIE_NAME"] = "aiguillage"


def _check_sign_in(config: Any) -> None:
    """A provider needs its client id and the ``openid`` scope; without a provider, the
    password must stay (nobody could sign in otherwise)."""
    if config["OIDC_ISSUER"]:
        if not config["OIDC_CLIENT_ID"]:
            raise ValueError("AIGUILLAGE_OIDC_CLIENT_ID : l'identifiant donné par le "
                             "fournisseur d'identité est attendu")
        if "openid" not in str(config["OIDC_SCOPES"]).split():
            raise ValueError("AIGUILLAGE_OIDC_SCOPES : la portée openid est attendue")
    elif not config["PASSWORD_SIGNIN"]:
        raise ValueError("AIGUILLAGE_PASSWORD_SIGNIN=off demande un fournisseur d'identité "
                         "(AIGUILLAGE_OIDC_ISSUER) : personne ne pourrait se connecter")


def _parse(name: str, raw: str, kind: type) -> Any:
    if kind is bool:
        return raw.lower() in ("1", "true", "yes", "on")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"AIGUILLAGE_{name} : un nombre entier est attendu") from None
    return raw


def _instance_secret(instance: Path) -> str:
    """A random key kept in ``instance/secret_key`` (created once, readable by us only).

    The file is created with mode 0600 in one call: never, even for an instant, readable by
    others (a chmod after writing leaves a window), and never overwritten (two processes
    starting at once keep the first key).
    """
    path = instance / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_hex(32))
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    for _ in range(50):  # another process may have created the file and not yet written it
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.1)
    raise RuntimeError(f"{path} est vide : supprimez-le pour qu'une clé soit créée")
