"""The number of SQL statements a request ran, in a response header (issue #17 item 7).

With ``STATEMENT_COUNT_HEADER`` on, every response carries ``X-Aiguillage-Statements: N``,
N being the statements the request sent to the database (transaction control left out, as in
tests/integration/test_hot_path.py): the CI load run (tests/load/) reads it from the real
server and fails when a page runs more than its budget, so a change that reads a row once
per line shows there and not as slowness in production. Off by default: it tells a client
something about the server's work, which nobody outside needs.

The count is kept in ``g`` (one per request and per thread), by a ``before_cursor_execute``
listener on the app's engine; statements run outside a request (the embedded scheduler's
thread) are not counted. It is written when the response is finished, after every
``after_request`` hook and the session's save. A streamed download (CSV) reads its rows
after the header has gone: its header counts what ran before the first byte.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, has_app_context, request_finished
from sqlalchemy import event

HEADER = "X-Aiguillage-Statements"
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
_COUNT = "aiguillage_statements"


def _note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
    """One statement more for the request running in this thread, if any."""
    if not has_app_context() or statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
        return
    setattr(g, _COUNT, g.get(_COUNT, 0) + 1)


def _header(_sender: Flask, response: Response, **_: Any) -> None:
    response.headers[HEADER] = str(g.get(_COUNT, 0))


def init_app(app: Flask) -> None:
    """Count each request's statements when ``STATEMENT_COUNT_HEADER`` is on."""
    if not app.config.get("STATEMENT_COUNT_HEADER"):
        return
    event.listen(app.extensions["aiguillage"].database, "before_cursor_execute", _note)
    request_finished.connect(_header, app)
