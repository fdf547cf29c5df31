"""Reading what a client sends: a JSON object body, ids, a page size and an opaque cursor
(signed: the last row's sort key).
Bad input is a 400 (or 415, 422) problem in the client's language, before any service."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NoReturn

from flask import abort, current_app, request
from itsdangerous import BadData, URLSafeSerializer

from engine.services import parsing
from webapp.api.problems import lang, problem
from webapp.inputs import MAX_ID

DEFAULT_LIMIT, MAX_LIMIT = 25, 100
MAX_CURSOR = 1000  # characters of a cursor (a name of the directory is at most 200)


def refuse(status: int, french: str, english: str, **extra: Any) -> NoReturn:
    """Stop with a problem (``extra``: more members of it, such as ``errors``)."""
    abort(problem(status, english if lang() == "en" else french, **extra))


def body() -> dict[str, Any]:
    """The request's JSON object (``application/json``), bounded in size and depth."""
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        refuse(415, "Envoyez un corps JSON avec l'en-tête « Content-Type: application/json ».",
               "Send a JSON body with « Content-Type: application/json ».")
    try:
        sent = parsing.loads(request.get_data(cache=True))
    except ValueError:
        refuse(400, "Le corps de la requête n'est pas un JSON valide (ou dépasse les limites "
               "de taille et de profondeur).",
               "The body is not valid JSON (or exceeds the size and depth limits).")
    if not isinstance(sent, dict):
        refuse(400, "Le corps de la requête doit être un objet JSON.",
               "The body must be a JSON object.")
    return sent


def id_field(sent: Mapping[str, Any], name: str) -> int:
    """A positive integer id member of the body."""
    value = sent.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        refuse(422, f"Le champ « {name} » doit être un identifiant (entier positif).",
               f"« {name} » must be an id (a positive integer).",
               errors={name: ["Identifiant attendu (entier positif)."]})
    return value


def data_of(sent: Mapping[str, Any]) -> dict[str, Any]:
    """The ``data`` member: the form's answers (an object; absent: none)."""
    data = sent.get("data", {})
    if not isinstance(data, dict):
        refuse(422, "Le champ « data » doit être un objet (les réponses au formulaire).",
               "« data » must be an object (the form's answers).",
               errors={"data": ["Objet attendu."]})
    return data


def limit_arg() -> int:
    """``?limit=`` (1..100, default 25)."""
    raw = request.args.get("limit", "").strip()
    if not raw:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        refuse(400, f"Paramètre « limit » invalide : un entier de 1 à {MAX_LIMIT} est attendu.",
               f"Invalid « limit »: an integer from 1 to {MAX_LIMIT} is expected.")
    return int(raw)


def _signer(kind: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key or "", salt=f"aiguillage.api.cursor.{kind}")


def _bad_cursor() -> NoReturn:
    refuse(400, "Curseur invalide : reprenez le lien « next » de la page précédente.",
           "Invalid cursor: use the « next » link of the previous page.")


def cursor_after(kind: str) -> tuple[str, int] | None:
    """The sort key and id of the last row of the previous page, read from the opaque,
    signed ``?cursor=`` (None without one): the list goes on after that row (keyset), so
    rows that leave the list meanwhile shift nothing. A forged or garbled cursor, or one of
    another list, is a 400."""
    raw = request.args.get("cursor", "")
    if not raw:
        return None
    if len(raw) > MAX_CURSOR:
        _bad_cursor()
    try:
        decoded = _signer(kind).loads(raw)
    except BadData:
        _bad_cursor()
    if not (isinstance(decoded, list) and len(decoded) == 2 and isinstance(decoded[0], str)
            and type(decoded[1]) is int and 1 <= decoded[1] <= MAX_ID):
        _bad_cursor()
    return decoded[0], decoded[1]


def cursor_after_instant(kind: str) -> tuple[datetime, int] | None:
    """``cursor_after`` for a list ordered by an instant (its key an ISO 8601 instant)."""
    after = cursor_after(kind)
    if after is None:
        return None
    try:
        instant = datetime.fromisoformat(after[0])
    except ValueError:
        _bad_cursor()
    if instant.tzinfo is None:
        _bad_cursor()
    return instant, after[1]


def cursor_of(kind: str, key: str | datetime, row_id: int) -> str:
    """The opaque cursor of the rows after the one of sort key ``key`` and id ``row_id``."""
    text = key.isoformat() if isinstance(key, datetime) else key
    return str(_signer(kind).dumps([text, row_id]))
