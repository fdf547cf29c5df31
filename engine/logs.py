"""Log lines for operators: plain text for a terminal, or one JSON object per line for a
log collector (``AIGUILLAGE_LOG_FORMAT=json``), each carrying the request id of the request
that wrote it.

No personal data: a line says which route answered, how, and how fast, or what a scheduler
tick did; never a name, an answer, an e-mail, a query string or a form body. Only the fields
of ``FIELDS`` passed as ``extra=`` reach a JSON line, besides the message.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

FORMATS = ("text", "json")
REQUEST_ID: ContextVar[str | None] = ContextVar("aiguillage_request_id", default=None)
FIELDS = ("request_id", "method", "route", "status", "duration_ms", "case_reference",
          "worker", "claimed", "fired", "failed", "released", "notices", "sessions",
          "anonymised")
TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
_MARK = "_aiguillage_handler"  # set on the handler configure_logging() installed


class RequestIdFilter(logging.Filter):
    """Put the current request's id (or ``-``) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, and the
    ``FIELDS`` the record carries (``request_id`` only within a request)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None and not (name == "request_id" and value == "-"):
                line[name] = value  # outside a request: no request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def make_handler(log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing ``log_format`` (``text`` or ``json``) lines to ``stream``
    (standard error by default), with the request id filled in."""
    if log_format not in FORMATS:
        raise ValueError(f"format de journal inconnu : {log_format!r} (text ou json)")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT))
    return handler


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Send this process's logs to standard error in ``log_format``: one handler on the
    root logger, replacing the one an earlier call installed (never added twice). Logging
    configured otherwise (by an operator's configuration, or a test runner) is left alone."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, _MARK, False)]
    if len(ours) != len(root.handlers):
        return
    for old in ours:
        root.removeHandler(old)
    handler = make_handler(log_format)
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("spiff").setLevel(logging.WARNING)  # it logs task data (PII) at INFO
