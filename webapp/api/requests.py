"""Reading what a client sends: a JSON object body, ids, a page size and an opaque cursor.
Bad input is a 400 (or 415, 422) problem in the client's language, before any service."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any, NoReturn

from flask import abort, request

from engine.services import parsing
from webapp.api.problems import lang, problem
from webapp.inputs import MAX_ID, MAX_PAGE

DEFAULT_LIMIT, MAX_LIMIT = 25, 100


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


def cursor_page(kind: str) -> int:
    """The page an opaque ``?cursor=`` stands for (1 without one)."""
    raw = request.args.get("cursor", "")
    if not raw:
        return 1
    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw.encode("ascii") + b"==="))
    except (ValueError, UnicodeError, binascii.Error):
        decoded = None
    if not (isinstance(decoded, dict) and decoded.get("k") == kind
            and isinstance(decoded.get("p"), int) and 1 < decoded["p"] <= MAX_PAGE):
        refuse(400, "Curseur invalide : reprenez le lien « next » de la page précédente.",
               "Invalid cursor: use the « next » link of the previous page.")
    return int(decoded["p"])


def next_cursor(kind: str, page: int) -> str:
    """The opaque cursor of the page after ``page``."""
    text = json.dumps({"k": kind, "p": page + 1}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
