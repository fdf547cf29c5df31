"""A webhook POST connects to the address its check resolved (docs/security.md, DNS
rebinding): a receiver's name that answers a public address to the check and a private one
just after never gets a connection to the private one; the ``Host`` header, the TLS server
name and the certificate check stay on the name; a redirect is not followed."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3.util.connection
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from engine.webhook_sender import Delivery, HttpSender
from tests.integration.webhook_receiver import verify

PUBLIC = "93.184.215.14"  # a global address: the stub's first answer
NAME = "partenaire.example"
SECRET = "whsec_" + "a" * 44


class Rebinding:
    """A resolver stub: the public address first, then the loopback (a rebinding name)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return [PUBLIC] if len(self.calls) == 1 else ["127.0.0.1"]


@contextmanager
def server(status: int = 200, context: ssl.SSLContext | None = None, host: str = "127.0.0.1"
           ) -> Iterator[tuple[int, list[dict[str, str]]]]:
    """A local server answering ``status`` to every POST; yields its port and the headers
    of each request it got."""
    got: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = dict(self.headers.items())
            headers["valid"] = str(verify(SECRET, headers, body))
            got.append(headers)
            self.send_response(status)
            self.send_header("Location", "http://127.0.0.1:1/ailleurs")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    httpd = Server((host, 0), Handler)
    if context is not None:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], got
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every address urllib3 connects to; one to ``PUBLIC`` lands on the local server
    (the network's stand-in for the public receiver)."""
    seen: list[tuple[str, int]] = []
    real = urllib3.util.connection.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        seen.append(address)
        host, port = address
        return real(("127.0.0.1" if host == PUBLIC else host, port), *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    monkeypatch.delenv("AIGUILLAGE_WEBHOOKS_ALLOW_PRIVATE", raising=False)
    return seen


def _delivery(url: str) -> Delivery:
    return Delivery(url, "webhook:1:case.closed:7", b'{"a":1}', SECRET)


def test_the_post_goes_to_the_checked_address_never_to_the_rebound_one(
        connections: list[tuple[str, int]]) -> None:
    resolver = Rebinding()
    with server() as (port, got):
        sender = HttpSender(resolver=resolver)
        answer = sender.post(_delivery(f"http://{NAME}:{port}/aiguillage?x=1"), int(time.time()))
        assert answer.delivered, answer
        assert resolver.calls == [(NAME, port)]  # resolved once, by the check
        assert connections == [(PUBLIC, port)]  # connected to what was checked
        assert got[0]["Host"] == f"{NAME}:{port}" and got[0]["valid"] == "True"
        # the next POST resolves again: the name now answers the loopback, refused
        answer = sender.post(_delivery(f"http://{NAME}:{port}/aiguillage"), int(time.time()))
        assert answer.status_code is None and "privée" in (answer.error or "")
        assert connections == [(PUBLIC, port)] and len(got) == 1


def test_a_name_with_one_private_address_among_public_ones_is_refused(
        connections: list[tuple[str, int]]) -> None:
    sender = HttpSender(resolver=lambda host, port: [PUBLIC, "169.254.169.254"])
    answer = sender.post(_delivery(f"https://{NAME}/x"), int(time.time()))
    assert answer.error == "adresse privée refusée (169.254.169.254)"
    assert connections == []


def test_a_redirect_is_an_answer_not_followed(connections: list[tuple[str, int]]) -> None:
    with server(status=302) as (port, got):
        answer = HttpSender(resolver=lambda host, port: [PUBLIC]).post(
            _delivery(f"http://{NAME}:{port}/x"), int(time.time()))
    assert answer.status_code == 302 and not answer.delivered
    assert connections == [(PUBLIC, port)] and len(got) == 1


def _certificate(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, str]:
    """A CA (its PEM file's path) and a server context whose certificate it signed for
    ``name``."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CA des essais")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context, str(tmp_path / "ca.pem")


def test_tls_names_and_checks_the_host_while_connecting_to_the_checked_address(
        connections: list[tuple[str, int]], tmp_path: Path) -> None:
    context, ca = _certificate(tmp_path, NAME)
    names: list[str | None] = []

    def sni(_sock: Any, name: str | None, _ctx: Any) -> None:
        names.append(name)

    context.sni_callback = sni
    with server(context=context) as (port, got):
        sender = HttpSender(resolver=lambda host, port: [PUBLIC], ca_certs=ca)
        answer = sender.post(_delivery(f"https://{NAME}:{port}/x"), int(time.time()))
        assert answer.delivered, answer
        assert names == [NAME] and connections == [(PUBLIC, port)]
        assert got[0]["Host"] == f"{NAME}:{port}"
        # a certificate for another name is refused, though the address is the same
        other = HttpSender(resolver=lambda host, port: [PUBLIC], ca_certs=ca)
        answer = other.post(_delivery(f"https://autre.example:{port}/x"), int(time.time()))
        assert answer.status_code is None and "SSLError" in (answer.error or "")
        assert len(got) == 1


def test_an_ipv6_address_is_pinned_too(connections: list[tuple[str, int]],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIGUILLAGE_WEBHOOKS_ALLOW_PRIVATE", "1")  # the loopback: a test
    with server(host="::1") as (port, got):
        answer = HttpSender(resolver=lambda host, port: ["::1"]).post(
            _delivery(f"http://{NAME}:{port}/x"), int(time.time()))
        assert answer.delivered, answer
    assert connections == [("::1", port)] and got[0]["Host"] == f"{NAME}:{port}"
