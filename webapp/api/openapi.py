"""The OpenAPI 3.1 document of ``/api/v1``, built here from Python data and served at
``/api/v1/openapi.json``; tests/web/test_api_openapi.py keeps it and the routes equal."""

from __future__ import annotations

import copy
from typing import Any

VERSION = "1.0.0"
ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
TEXT = {"type": "string"}
MAYBE_TEXT = {"type": ["string", "null"]}
INSTANT = {"type": ["string", "null"], "format": "date-time"}
PROBLEM_TYPES = ("400", "401", "403", "404", "405", "409", "413", "415", "422", "429", "503")
ERROR_WORDS = {"400": "Requête invalide (JSON mal formé, caractère nul, curseur…)",
               "401": "Clé d'API absente, inconnue ou révoquée",
               "403": "La clé ne couvre pas cet appel (droit ou circuit)",
               "404": "Introuvable, ou hors de portée de la clé",
               "405": "Méthode non autorisée", "409": "Action impossible dans l'état actuel",
               "413": "Corps trop volumineux", "415": "Corps non JSON",
               "422": "Données refusées (erreurs par champ dans « errors »)",
               "429": "Trop de requêtes pour cette clé (voir Retry-After)",
               "503": "Base de données indisponible ou occupée (voir Retry-After)"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


STEP = _obj(["id", "name", "step", "case_reference", "status", "links"],
            id=ID, name=TEXT, step=TEXT, case_reference=TEXT, household_name=MAYBE_TEXT,
            circuit_id=ID, circuit_title=TEXT, role=MAYBE_TEXT, assigned={"type": "boolean"},
            ready_at=INSTANT, due_at=INSTANT, status=TEXT,
            links=_obj(["self", "complete", "case"], self=TEXT, complete=TEXT, case=TEXT))
PAGE = {"items": {"type": "array"}, "next": MAYBE_TEXT, "next_cursor": MAYBE_TEXT}
SCHEMAS: dict[str, Any] = {
    "Problem": _obj(["type", "title", "status", "detail", "instance"],
                    type=TEXT, title=TEXT, status={"type": "integer"}, detail=TEXT,
                    instance=TEXT, errors={"type": "object", "additionalProperties": {
                        "type": "array", "items": TEXT}}),
    "Circuit": _obj(["id", "key", "title", "territory_id", "start_form"],
                    id=ID, key=TEXT, title=TEXT, description=TEXT, territory_id=ID,
                    start_form=TEXT),
    "JsonSchema": {"type": "object", "description": "Un schéma JSON (draft 2020-12)."},
    "Step": STEP,
    "StepDetail": {"allOf": [_ref("Step"), _obj(
        ["instructions", "can_complete", "form", "values"], instructions=TEXT,
        can_complete={"type": "boolean"}, form={"type": ["object", "null"]},
        values={"type": "object"})]},
    "Completed": _obj(["completed", "next_step"], completed=_ref("Step"),
                      next_step={"oneOf": [_ref("Step"), {"type": "null"}]}),
    "NewCase": _obj(["circuit_id"], circuit_id=ID, data={
        "type": "object", "description": "Les réponses au formulaire de départ du circuit "
        "(son schéma : GET /circuits/{circuit_id}/start-form)."}),
    "Answers": _obj([], data={"type": "object",
                              "description": "Les réponses au formulaire de l'étape."}),
    "Started": _obj(["reference", "status", "created", "current_steps", "links"],
                    reference=TEXT, status=TEXT, circuit_id=ID, created_at=INSTANT,
                    created={"type": "boolean"},
                    current_steps={"type": "array", "items": _ref("Step")},
                    links=_obj(["self"], self=TEXT)),
    "Received": _obj(["reference", "message", "closed", "current_steps"],
                     reference=TEXT, message=TEXT, label=TEXT, received_at=INSTANT,
                     fields={"type": "array", "items": TEXT}, closed={"type": "boolean"},
                     current_steps={"type": "array", "items": TEXT},
                     links=_obj(["case"], case=TEXT)),
    "Orientation": _obj(["id", "state"], id=ID, service_id=ID, service_name=TEXT,
                        organisation_name=TEXT, measure=TEXT, state=TEXT, state_label=TEXT,
                        created_at=INSTANT, answered_at=INSTANT, open={"type": "boolean"},
                        reasons={"type": "array", "items": TEXT}),
    "Case": _obj(["reference", "status", "minimal", "current_steps", "orientations"],
                 reference=TEXT, status=TEXT, circuit_id=ID, circuit_title=TEXT,
                 household_name=MAYBE_TEXT, created_at=INSTANT, next_due_at=INSTANT,
                 end=MAYBE_TEXT, minimal={"type": "boolean"},
                 shared={"type": "array", "items": TEXT},
                 current_steps={"type": "array", "items": _ref("Step")},
                 completed_steps={"type": "array", "items": TEXT}, data={"type": "object"},
                 orientations={"type": "array", "items": _ref("Orientation")}),
    "ServiceItem": _obj(["id", "name", "organisation", "measure", "active"],
                        id=ID, name=TEXT, organisation=TEXT, measure=TEXT,
                        communes={"type": "array", "items": TEXT},
                        capacity={"type": ["integer", "null"]},
                        places_available={"type": ["integer", "null"]},
                        waiting_list={"type": ["integer", "null"]},
                        active={"type": "boolean"}, links=_obj(["self"], self=TEXT)),
    "Service": _obj(["id", "name", "organisation", "measure", "active"],
                    id=ID, territory_id=ID, organisation_id=ID, organisation=TEXT,
                    active={"type": "boolean"}, updated_at=INSTANT, measure=TEXT, name=TEXT,
                    description=TEXT, domains={"type": "array", "items": TEXT},
                    communes={"type": "array", "items": TEXT}, public=TEXT,
                    capacity={"type": ["integer", "null"]},
                    places_available={"type": ["integer", "null"]},
                    waiting_list={"type": ["integer", "null"]}, phone=TEXT, email=TEXT,
                    address=TEXT, hours_walk_in=TEXT, hours_appointment=TEXT,
                    languages=TEXT, charter_signed={"type": "boolean"}),
    "CircuitList": _obj(["items"], items={"type": "array", "items": _ref("Circuit")}),
    "StepPage": _obj(["items", "next", "next_cursor"],
                     **{**PAGE, "items": {"type": "array", "items": _ref("Step")}}),
    "ServicePage": _obj(["items", "next", "next_cursor"],
                        **{**PAGE, "items": {"type": "array", "items": _ref("ServiceItem")}}),
}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: {"$ref": f"#/components/responses/{code}"} for code in codes}


def _ok(schema: str, status: str = "200", words: str = "Réussi",
        headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": words,
                              "content": {"application/json": {"schema": _ref(schema)}}}
    if headers:
        answer["headers"] = headers
    return {status: answer}


def _path_param(name: str, schema: dict[str, Any], words: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema,
            "description": words}


LIMIT = {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": 100},
         "description": "Nombre d'éléments par page (25 par défaut, 100 au plus)."}
CURSOR = {"name": "cursor", "in": "query", "required": False, "schema": TEXT,
          "description": "Curseur opaque et signé : la valeur « next_cursor » de la page "
          "précédente ; la liste reprend après le dernier élément lu."}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "schema": {"type": "string", "minLength": 1, "maxLength": 200},
               "description": "Une clé choisie par le logiciel : la même requête renvoyée "
               "avec la même clé (24 h) rend le dossier ouvert la première fois, même si les "
               "deux envois arrivent au même instant."}
REFERENCE = _path_param("reference", {"type": "string", "pattern": "^[A-Za-z0-9-]{1,40}$"},
                        "La référence du dossier (par exemple REF-2026-00001).")
READ, WRITE = ("400", "401", "403", "404", "429", "503"), ("400", "401", "403", "404", "409", "413",
                                                   "415", "422", "429", "503")


def _operation(summary: str, responses: dict[str, Any], *, secured: bool = True,
               **more: Any) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": responses, **more}
    if not secured:
        operation["security"] = []
    return operation


PATHS: dict[str, Any] = {
    "/openapi.json": {"get": _operation(
        "Ce document (sans clé)", {"200": {"description": "Le document OpenAPI 3.1",
                                           "content": {"application/json": {"schema": {
                                               "type": "object"}}}}}, secured=False)},
    "/circuits": {"get": _operation("Les circuits où la clé peut ouvrir un dossier",
                                    {**_ok("CircuitList"), **_errors(*READ)})},
    "/circuits/{circuit_id}/start-form": {"get": _operation(
        "Le formulaire de départ d'un circuit, en schéma JSON",
        {**_ok("JsonSchema"), **_errors(*READ)},
        parameters=[_path_param("circuit_id", ID, "L'identifiant du circuit.")])},
    "/cases": {"post": _operation(
        "Ouvrir un dossier (saisine) avec les réponses au formulaire de départ",
        {**_ok("Started", "201", "Dossier ouvert (ou retrouvé par sa clé d'idempotence)",
               {"Location": {"schema": TEXT, "description": "L'adresse du dossier."}}),
         **_errors(*WRITE)},
        parameters=[IDEMPOTENCY],
        requestBody={"required": True, "content": {"application/json": {
            "schema": _ref("NewCase")}}})},
    "/cases/{reference}": {"get": _operation(
        "Un dossier : statut, étapes en cours, orientations, données partagées",
        {**_ok("Case"), **_errors(*READ)}, parameters=[REFERENCE])},
    "/cases/{reference}/messages/{name}": {"post": _operation(
        "Transmettre un message qu'un dossier attend (réponse de la CAF, du SIAO…)",
        {**_ok("Received", words="Message reçu : le dossier continue"), **_errors(*WRITE)},
        parameters=[REFERENCE, _path_param("name", {
            "type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_.-]{0,79}$"},
                                           "Le nom du message attendu.")],
        requestBody={"required": True, "content": {"application/json": {
            "schema": _ref("Answers")}}})},
    "/tasks": {"get": _operation(
        "Les étapes confiées ou proposées à la clé, les plus anciennes d'abord",
        {**_ok("StepPage"), **_errors(*READ)}, parameters=[LIMIT, CURSOR])},
    "/tasks/{task_id}": {"get": _operation(
        "Une étape et son formulaire en schéma JSON", {**_ok("StepDetail"), **_errors(*READ)},
        parameters=[_path_param("task_id", ID, "L'identifiant de l'étape.")])},
    "/tasks/{task_id}/complete": {"post": _operation(
        "Terminer une étape avec les réponses à son formulaire",
        {**_ok("Completed"), **_errors(*WRITE)},
        parameters=[_path_param("task_id", ID, "L'identifiant de l'étape.")],
        requestBody={"required": True, "content": {"application/json": {
            "schema": _ref("Answers")}}})},
    "/directory": {"get": _operation(
        "L'annuaire des services du territoire de la clé, par nom",
        {**_ok("ServicePage"), **_errors("422", *READ)},
        parameters=[LIMIT, CURSOR,
                    {"name": "q", "in": "query", "required": False,
                     "schema": {"type": "string", "maxLength": 200},
                     "description": "Mots cherchés dans le nom, l'organisation, la commune."},
                    {"name": "measure", "in": "query", "required": False, "schema": TEXT,
                     "description": "Une mesure (par exemple « avdl »)."},
                    {"name": "available", "in": "query", "required": False,
                     "schema": {"type": "string", "enum": ["true", "false"]},
                     "description": "« true » : les services qui ont une place libre."}])},
    "/directory/{service_id}": {"get": _operation(
        "Un service de l'annuaire", {**_ok("Service"), **_errors(*READ)},
        parameters=[_path_param("service_id", ID, "L'identifiant du service.")])},
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a fresh copy: callers may change it)."""
    problem = {"application/problem+json": {"schema": _ref("Problem")}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "API d'Aiguillage", "version": VERSION,
                 "description": "Ouvrir des dossiers, lire et terminer des étapes, lire les "
                 "dossiers et l'annuaire depuis un autre logiciel (docs/api.md)."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"cleApi": []}],
        "paths": copy.deepcopy(PATHS),
        "components": {
            "securitySchemes": {"cleApi": {
                "type": "http", "scheme": "bearer", "bearerFormat": "agl_<préfixe>_<secret>",
                "description": "Une clé d'API créée par un administrateur du territoire."}},
            "schemas": copy.deepcopy(SCHEMAS),
            "responses": {code: {"description": ERROR_WORDS[code], "content": problem}
                          for code in PROBLEM_TYPES}}}
