"""Input at the door: one guard against control characters (path, query, form, JSON), an
``int`` URL converter bounded to what a 64-bit column holds, and typed readers of query and
form arguments. Bad input gets a 400 (or a 404 for a path) with a French message here, never
a database error further down."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any, overload

from flask import Flask, abort, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import gettext
from werkzeug.routing import IntegerConverter, Map

from engine.services import parsing

MAX_ID = 2**31 - 1  # the tables' keys: PostgreSQL INTEGER (a larger id is an error there)
MAX_PAGE = 1_000_000  # far past any list; keeps OFFSET inside 64 bits
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
# C0 controls but tab, line feed and carriage return (text areas send them); NUL among them,
# which PostgreSQL text refuses
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# in a JSON body: an escaped NUL, or a surrogate escape without its pair (neither can be
# stored as UTF-8 nor in PostgreSQL)
JSON_UNSTORABLE = re.compile(
    rb"\\u0000|\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


class BoundedInt(IntegerConverter):
    """``<int:…>`` matching only what an integer key column holds: beyond it, a 404."""

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,  # noqa: A002
                 max: int | None = None, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits, min if min is not None else -MAX_ID - 1,
                         max if max is not None else MAX_ID, signed)


class BoundedJSONProvider(DefaultJSONProvider):
    """Every JSON body read through Flask (views, Flask-WTF's forms) goes through
    ``engine.services.parsing`` (the engine's ``safejson``): bounded in size and depth
    before parsing, strict UTF-8. A refusal is a ``ValueError``, which ``request.get_json``
    answers with a 400."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse ``s`` within the bounds of the engine's ``safejson``."""
        return parsing.loads(s)


def _texts() -> Iterable[str]:
    """Every text of the request a view may read: path, query and form names and values,
    names of uploaded files."""
    yield request.path
    for source in (request.args, request.form):
        for key, value in source.items(multi=True):
            yield key
            yield value
    for key, upload in request.files.items(multi=True):
        yield key
        yield upload.filename or ""


def refuse_control_characters() -> None:
    """Before every request: a control character anywhere in what views read is a 400."""
    if any(CONTROL.search(text) for text in _texts()) or (
            request.is_json and JSON_UNSTORABLE.search(request.get_data(cache=True))):
        abort(400, description=gettext(
            "La requête contient un caractère invalide (caractère de contrôle ou nul) : "
            "retirez-le et recommencez."))


def _source(form: bool) -> Any:
    return request.form if form else request.args


@overload
def int_arg(name: str, default: int, *, minimum: int = ..., maximum: int = ...,
            form: bool = ...) -> int: ...


@overload
def int_arg(name: str, default: None = ..., *, minimum: int = ..., maximum: int = ...,
            form: bool = ...) -> int | None: ...


def int_arg(name: str, default: int | None = None, *, minimum: int = 1, maximum: int = MAX_ID,
            form: bool = False) -> int | None:
    """The integer query (or form) argument ``name``; ``default`` when absent or empty.

    Aborts with 400 and a French message when it is not an integer or outside
    ``minimum``..``maximum`` (ids are 1..2**31-1 by default: what the key columns hold).
    """
    raw = (_source(form).get(name) or "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"[+-]?[0-9]{1,30}", raw):
        abort(400, description=gettext(
            "Paramètre « %(name)s » invalide : un nombre entier est attendu.", name=name))
    value = int(raw)
    if not minimum <= value <= maximum:
        abort(400, description=gettext(
            "Paramètre « %(name)s » hors limites (de %(minimum)s à %(maximum)s).",
            name=name, minimum=minimum, maximum=maximum))
    return value


def int_list(name: str, *, form: bool = True) -> list[int]:
    """Every value of a repeated integer argument (ids), each checked as ``int_arg`` does."""
    values = _source(form).getlist(name)
    if not all(re.fullmatch(r"[0-9]{1,19}", v.strip()) and 1 <= int(v) <= MAX_ID
               for v in values):
        abort(400, description=gettext(
            "Paramètre « %(name)s » invalide : des identifiants sont attendus.", name=name))
    return [int(v) for v in values]


def date_arg(name: str) -> date | None:
    """The ``AAAA-MM-JJ`` query argument ``name`` (None when absent); 400 otherwise."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw) \
            else None
    except ValueError:
        day = None
    if day is None:
        abort(400, description=gettext("Dates attendues au format AAAA-MM-JJ."))
    if not FIRST_DAY <= day <= LAST_DAY:
        abort(400, description=gettext("Date « %(name)s » hors limites (de 1900 à 2999).",
                                       name=name))
    return day


def init_app(app: Flask) -> None:
    """Bound ``<int:…>`` in every route (before blueprints are registered) and guard every
    request (before any other hook)."""
    app.url_map.converters["int"] = BoundedInt
    app.json = BoundedJSONProvider(app)
    app.before_request(refuse_control_characters)
