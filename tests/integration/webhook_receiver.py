"""A webhook receiver for the tests (not a test module): the verifier of docs/webhooks.md,
copied as a receiver would, and a local HTTP server in a thread that records deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 5 * 60
HANG = 4.0


# ---- the verifier of docs/webhooks.md (kept identical) ----
def verify(secret: str, headers: Mapping[str, str], body: bytes,
           now: float | None = None) -> bool:
    """True when the delivery was signed with ``secret`` less than 5 minutes ago."""
    msg_id = headers.get("Webhook-Id", "")
    timestamp = headers.get("Webhook-Timestamp", "")
    signatures = headers.get("Webhook-Signature", "")
    if not msg_id or not timestamp.isdigit():
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > TOLERANCE_SECONDS:
        return False  # too old (a replay) or from the future
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, s.removeprefix("v1,"))
               for s in signatures.split() if s.startswith("v1,"))
# ---- end of the verifier ----


@dataclass
class Received:
    """What the receiver got: every request, in order (id, body, valid signature)."""

    secret: str
    delay: float = 0.0
    hang_on: int = 0  # the n-th request (from 1) waits ``HANG`` seconds before its answer
    requests: list[tuple[str, bytes, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self) -> set[str]:
        with self.lock:
            return {i for i, _, _ in self.requests}


@contextmanager
def receiver(secret: str, delay: float = 0.0,
             hang_on: int = 0) -> Iterator[tuple[str, Received]]:
    """A server on 127.0.0.1 answering 200 to every POST (after ``delay``; the
    ``hang_on``-th after ``HANG`` seconds); yields its URL and what it received."""
    got = Received(secret, delay, hang_on)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k: v for k, v in self.headers.items()}
            ok = verify(got.secret, headers, body)
            with got.lock:
                got.requests.append((headers.get("Webhook-Id", ""), body, ok))
                hang = len(got.requests) == got.hang_on
            time.sleep(HANG if hang else got.delay)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/aiguillage", got
    finally:
        server.shutdown()
        server.server_close()
