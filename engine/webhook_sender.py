"""Sending webhooks: signed HTTP POSTs (the Standard Webhooks scheme), never following a
redirect, refusing targets that resolve to private addresses unless a setting allows them.

``AIGUILLAGE_WEBHOOKS_ALLOW_PRIVATE=1`` lets deliveries reach loopback and private networks
(tests, an intranet receiver); ``AIGUILLAGE_WEBHOOKS_ALLOW_HTTP=1`` lets subscriptions use
plain ``http`` to other hosts than the loopback. See docs/webhooks.md."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 5.0
SECRET_PREFIX = "whsec_"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


@dataclass(frozen=True)
class Delivery:
    """One POST: its target, its id (``Webhook-Id``), its JSON body and the secret."""

    url: str
    delivery_id: str
    body: bytes
    secret: str


@dataclass(frozen=True)
class Answer:
    """What came back: a status code, or the error that stopped the request."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        """A 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender(Protocol):
    """Something that POSTs a delivery (never raises: failures are in the answer)."""

    def post(self, delivery: Delivery, timestamp: int) -> Answer:
        """Send ``delivery`` signed at ``timestamp`` (unix seconds)."""
        ...


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``."""
    content = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(delivery: Delivery, timestamp: int) -> dict[str, str]:
    """The headers of a delivery, its signature included."""
    return {"Content-Type": "application/json", "User-Agent": "Aiguillage-Webhooks/1",
            "Webhook-Id": delivery.delivery_id, "Webhook-Timestamp": str(timestamp),
            "Webhook-Signature": sign(delivery.secret, delivery.delivery_id, timestamp,
                                      delivery.body)}


def private_allowed() -> bool:
    """Whether deliveries may reach loopback and private addresses (a setting)."""
    return os.environ.get("AIGUILLAGE_WEBHOOKS_ALLOW_PRIVATE", "0") == "1"


def http_allowed() -> bool:
    """Whether subscriptions may use plain http to hosts other than the loopback."""
    return os.environ.get("AIGUILLAGE_WEBHOOKS_ALLOW_HTTP", "0") == "1"


def url_problem(url: str) -> str | None:
    """Why a subscription's URL is refused (a message code), or None: https only; http
    only to the loopback or when allowed; a host; no credentials; at most 500 characters."""
    if len(url) > 500 or any(ord(c) < 33 for c in url):
        return "svc.webhook_url_invalid"
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError:
        return "svc.webhook_url_invalid"
    if not host or parts.username or parts.password:
        return "svc.webhook_url_invalid"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and (host in LOOPBACK_NAMES or http_allowed()):
        return None
    return "svc.webhook_url_https"


def forbidden_address(host: str, port: int) -> str | None:
    """Why ``host`` may not be reached (it resolves to a private, loopback, link-local or
    reserved address and the setting does not allow them), or None."""
    if private_allowed():
        return None
    try:
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        return f"adresse introuvable ({exc})"
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        if not ip.is_global:
            return f"adresse privée refusée ({ip})"
    return None


@dataclass
class HttpSender:
    """POSTs with ``requests``: a short timeout, no redirect followed."""

    timeout: float = TIMEOUT_SECONDS

    def post(self, delivery: Delivery, timestamp: int) -> Answer:
        """Send one delivery; a refused address, a timeout or a connection error is an
        answer without status code."""
        import requests  # loaded only where webhooks are sent

        started = time.monotonic()

        def took() -> int:
            return round((time.monotonic() - started) * 1000)

        parts = urlsplit(delivery.url)
        refused = forbidden_address(parts.hostname or "",
                                    parts.port or (443 if parts.scheme == "https" else 80))
        if refused:
            return Answer(None, refused, took())
        try:
            answer = requests.post(delivery.url, data=delivery.body,
                                   headers=headers(delivery, timestamp),
                                   timeout=self.timeout, allow_redirects=False)
        except requests.Timeout:
            return Answer(None, "délai dépassé", took())
        except requests.RequestException as exc:
            return Answer(None, f"connexion impossible ({type(exc).__name__})", took())
        answer.close()
        return Answer(answer.status_code, None, took())


@dataclass
class RecordingSender:
    """Keeps each delivery and answers with the next status of ``statuses`` (200 once
    they run out): tests."""

    statuses: list[int | None] = field(default_factory=list)
    sent: list[tuple[Delivery, int]] = field(default_factory=list)

    def post(self, delivery: Delivery, timestamp: int) -> Answer:
        """Record and answer."""
        self.sent.append((delivery, timestamp))
        status = self.statuses.pop(0) if self.statuses else 200
        return Answer(status, None if status is not None else "délai dépassé", 1)
