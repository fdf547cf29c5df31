"""Sending webhooks: signed HTTP POSTs (the Standard Webhooks scheme), never following a
redirect, refusing targets that resolve to private addresses unless a setting allows them.

The receiver's name is resolved once per POST: the addresses are checked, and the connection
goes to the checked address (the ``Host`` header, the TLS server name and the certificate
check stay on the name), so a name that answers a public address to the check and a private
one just after (DNS rebinding) never gets a connection to the private one.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
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


Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` (TCP), in the order the system gives them."""
    found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(address[0]) for *_, address in found))


def pinned_address(host: str, port: int, resolver: Resolver = resolve) -> tuple[str, str | None]:
    """Resolve ``host`` once: ``(address, None)``, the address to connect to, or
    ``("", why)`` when one of its addresses is private, loopback, link-local or reserved
    (unless the setting allows them) or it has none."""
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError) as exc:
        return "", f"adresse introuvable ({exc})"
    if not addresses:
        return "", "adresse introuvable"
    if not private_allowed():
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global:
                return "", f"adresse privée refusée ({ip})"
    return addresses[0], None


def forbidden_address(host: str, port: int, resolver: Resolver = resolve) -> str | None:
    """Why ``host`` may not be reached (``pinned_address``), or None."""
    return pinned_address(host, port, resolver)[1]


@dataclass
class HttpSender:
    """POSTs with urllib3 to the address checked by ``pinned_address``: a short timeout,
    no redirect followed, TLS verified on the URL's host name (``ca_certs``: a CA bundle
    instead of certifi's, tests)."""

    timeout: float = TIMEOUT_SECONDS
    resolver: Resolver = resolve
    ca_certs: str | None = None

    def post(self, delivery: Delivery, timestamp: int) -> Answer:
        """Send one delivery; a refused address, a timeout or a connection error is an
        answer without status code."""
        import urllib3  # loaded only where webhooks are sent

        started = time.monotonic()

        def took() -> int:
            return round((time.monotonic() - started) * 1000)

        try:
            parts = urlsplit(delivery.url)
            host, port = parts.hostname or "", parts.port
        except ValueError:
            return Answer(None, "adresse invalide", took())
        secure = parts.scheme == "https"
        address, refused = pinned_address(host, port or (443 if secure else 80), self.resolver)
        if refused:
            return Answer(None, refused, took())
        pool = self._pool(urllib3, secure, host, address, port or (443 if secure else 80))
        named = f"[{host}]" if ":" in host else host
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            answer = pool.urlopen(
                "POST", target, body=delivery.body,
                headers={**headers(delivery, timestamp),
                         "Host": f"{named}:{port}" if parts.port else named},
                redirect=False, retries=False, assert_same_host=False,
                preload_content=False)  # the status is enough: the body is never read
        except urllib3.exceptions.NewConnectionError as exc:
            return Answer(None, f"connexion impossible ({type(exc).__name__})", took())
        except urllib3.exceptions.TimeoutError:
            return Answer(None, "délai dépassé", took())
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return Answer(None, f"connexion impossible ({type(exc).__name__})", took())
        else:
            answer.close()
        finally:
            pool.close()
        return Answer(answer.status, None, took())

    def _pool(self, urllib3: Any, secure: bool, host: str, address: str, port: int) -> Any:
        """A one-connection pool to ``address``; over TLS, the server name sent and the
        certificate checked are ``host``'s."""
        timeout = urllib3.Timeout(connect=self.timeout, read=self.timeout)
        if not secure:
            return urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False,
                                              maxsize=1)
        import certifi  # loaded only where webhooks are sent over TLS

        return urllib3.HTTPSConnectionPool(
            address, port, timeout=timeout, retries=False, maxsize=1,
            cert_reqs="CERT_REQUIRED", ca_certs=self.ca_certs or certifi.where(),
            server_hostname=host, assert_hostname=host)


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
