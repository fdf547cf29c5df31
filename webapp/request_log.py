"""One log line and one latency observation per request, under a request id.

The id comes from an incoming ``X-Request-Id`` when it is a short safe token (a proxy or a
load balancer that set one), else a new one; it goes back in the response's
``X-Request-Id`` and on every log line written while the request runs. The request's line
names its route by URL rule (``/dossiers/<int:case_id>``), never the path as typed nor its
query string, and carries no personal data.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, request
from werkzeug.wrappers import Response

from engine.bootstrap import REQUEST_ID, configure_logging
from webapp import metrics

HEADER = "X-Request-Id"
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
UNMATCHED = "<aucune>"  # no URL rule matched (a 404): the path itself is never logged
QUIET = frozenset({"/healthz", "/readyz", "/metrics"})  # polled: their lines are DEBUG
log = logging.getLogger("aiguillage.request")


def request_id_from(incoming: str | None) -> str:
    """``incoming`` when it is a safe short token, else a new random id."""
    if incoming and SAFE_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIds:
    """WSGI middleware: the request id and start time are set before any Flask hook (the
    input guard may answer first), and the id is forgotten when the request ends."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        environ["aiguillage.request_id"] = request_id
        environ["aiguillage.started"] = time.perf_counter()
        token = REQUEST_ID.set(request_id)
        try:
            return self.app(environ, start_response)
        finally:
            REQUEST_ID.reset(token)


def _finish(response: Response) -> Response:
    """Send the id back, count the request, write its line."""
    request_id = request.environ.get("aiguillage.request_id") or request_id_from(None)
    response.headers[HEADER] = request_id
    started = request.environ.get("aiguillage.started")
    seconds = time.perf_counter() - started if started is not None else 0.0
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    metrics.observe_request(route, request.method, response.status_code, seconds)
    level = logging.DEBUG if route in QUIET else logging.INFO
    duration_ms = round(seconds * 1000, 1)
    log.log(level, "%s %s %s %s ms", request.method, route, response.status_code, duration_ms,
            extra={"request_id": request_id, "method": request.method, "route": route,
                   "status": response.status_code, "duration_ms": duration_ms})
    return response


def init_app(app: Flask) -> None:
    """Wrap the WSGI app, hook the end of each request, and (outside tests) send the
    process's logs to standard error in ``LOG_FORMAT``."""
    if not app.testing:
        configure_logging(app.config["LOG_FORMAT"])
    app.wsgi_app = RequestIds(app.wsgi_app)  # type: ignore[method-assign]
    app.after_request(_finish)
