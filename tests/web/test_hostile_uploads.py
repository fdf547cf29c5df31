"""Hostile input on the circuits pages (issue #10, finding 8): deep JSON in the draft save,
the dry-run data and the form editor, and files the import refuses with line and element."""

from __future__ import annotations

import io
import re
from html import unescape
from pathlib import Path

from flask.testing import FlaskClient

from tests.integration.factories import World
from tests.web.conftest import AuthActions

HOSTILE = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "hostile"
DEEP = "[" * 3000 + "]" * 3000


def _draft(client: FlaskClient, world: World) -> int:
    response = client.post(f"/circuits/{world.circuit.id}/modifier")
    return int(re.search(r"/brouillons/(\d+)", response.headers["Location"])[1])  # type: ignore[index]


def test_deep_json_never_breaks_a_circuit_page(client: FlaskClient, auth: AuthActions,
                                              world: World) -> None:
    auth.login()
    draft = _draft(client, world)
    saved = client.post(f"/circuits/brouillons/{draft}/enregistrer",
                        data='{"revision": 1, "xml": "x", "deep": ' + DEEP + "}",
                        content_type="application/json")
    assert saved.status_code == 400
    tried = client.post(f"/circuits/brouillons/{draft}/essai",
                        data={"action": "terminer", "start": "2026-01-09T15:00:00+01:00",
                              "data": '{"a": ' + DEEP + "}", "steps": DEEP, "task": "analyse"})
    assert tried.status_code in (200, 422)
    fields = {"count": "1", "title": "T", "revision": "1", "ed-0-name": "x",
              "ed-0-label": "X", "ed-0-kind": "text", "ed-0-order": "1",
              "ed-0-extra": '{"default": ' + DEEP + "}"}
    edited = client.post(f"/circuits/brouillons/{draft}/formulaires/f.json", data=fields)
    assert edited.status_code in (200, 422)
    preview = client.post(f"/circuits/brouillons/{draft}/apercu/f.json", data=fields)
    assert preview.status_code == 200
    assert client.get(f"/circuits/brouillons/{draft}/donnees").status_code == 200


def test_the_import_page_shows_file_line_and_element(client: FlaskClient, auth: AuthActions,
                                                     world: World) -> None:
    auth.login()
    refused = client.post("/circuits/importer", data={
        "key": "latin", "title": "Latin", "files": [
            (io.BytesIO((HOSTILE / "latin-1-undeclared.bpmn").read_bytes()), "latin.bpmn"),
            (io.BytesIO((HOSTILE / "deep-form.json").read_bytes()), "profond.json")]},
        content_type="multipart/form-data")
    page = unescape(refused.text)
    assert refused.status_code == 422
    assert "latin.bpmn, ligne 3 : Ce fichier n'est pas en UTF-8" in page
    assert "profond.json, ligne 1 : Fichier JSON illisible : données imbriquées trop " \
           "profondément (plus de 64 niveaux)." in page
