"""The one CSV writer of every export: semicolon-separated, UTF-8 with a BOM for spreadsheets,
streamed, never cached, and with no cell a spreadsheet would run as a formula.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
spreadsheets as a formula (``=HYPERLINK(…)``, ``=cmd|' /C calc'!A0``): it goes out prefixed
with ``'``, which shows the text as typed. Plain numbers such as ``-3`` stay numbers.

Instants are written as the screens show them: Paris time, ``JJ/MM/AAAA HH:MM``; days as
``JJ/MM/AAAA``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime

from flask import Response

from webapp.db import get_session
from webapp.i18n import local

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?")


def neutralise(cell: object) -> str:
    """The cell as text, with a leading ``'`` when a spreadsheet would run it as a formula;
    an instant in Paris time and a day in French order, as on the screens."""
    if isinstance(cell, datetime):
        return local(cell)
    if isinstance(cell, date):
        return cell.strftime("%d/%m/%Y")
    text = "" if cell is None else str(cell)
    if text.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(text):
        return "'" + text
    return text


def lines(rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """The CSV text, a BOM first, then one line per row, neutralised."""
    yield "\ufeff"
    for row in rows:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=";").writerow([neutralise(cell) for cell in row])
        yield buffer.getvalue()


def response(rows: Iterable[Sequence[object]], filename: str) -> Response:
    """A streamed CSV download; every refusal must have been raised before this call.

    The rows are read after the request has ended (its teardown closed the session, which
    reading opens again): the stream closes the session once done or abandoned, so no
    connection is left checked out.
    """
    session = get_session()

    def stream() -> Iterator[str]:
        try:
            yield from lines(rows)
        finally:
            session.close()
    return Response(stream(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})
