"""Every route × method × role × territory (own, own with the household's consent, other)
answers what the table says (issue #10): the table is checked against the app's own URL map,
so a route added without its line here fails ``test_every_route_has_its_expectations``.

One world is built per module (two territories, a person in each role, real objects in
each); the database file is restored from a snapshot after every POST, and a refused POST
must leave the data as it was. Responses to the people of territory A never show a word of
territory B, and a partner without consent never sees the case's data.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Rule

from engine.clock import FixedClock
from engine.persistence.db import Base
from engine.persistence.models import CircuitDraft
from engine.services import api_keys
from engine.services.access import SYSTEM
from tests.integration.factories import PASSWORD
from tests.integration.two_territories import Place, make_two
from webapp import create_app

ROLES = ("anonymous", "worker", "partner", "coordinator", "admin")
SCOPES = ("own", "consent", "other")
# rows of these tables change with signing in or with reading; every other one is compared
VOLATILE = {"audit_event", "audit_event_territory", "web_session", "sign_in_throttle"}
LEAKS = ("Bêta", "@beta.test")  # territory B's household names and e-mails
CASE_DATA = ("7 enfants", "Nombre d'enfants")  # the case without consent, as data
ANON = 302  # every page but the public ones sends the anonymous visitor to sign in
SIGN_OUT = {"auth.logout", "account.sign_out_everywhere"}  # sent from a client of their own
ID_ARGS = {"case_id", "task_id", "circuit_id", "version_id", "draft_id", "timer_id",
           "membership_id", "user_id", "service_id", "orientation_id", "household_id", "match_id",
           "session_id"}
ID_ARGS |= {"key_id"}  # an API key (issue #18)
API_KEYS: dict[str, int] = {}  # place code → the id of its organisation's API key


@dataclass(frozen=True)
class Expect:
    """Statuses for (anonymous, worker, partner, coordinator, admin) in each scope.

    ``other`` defaults to: the anonymous answer, and for signed-in people 404 when the route
    takes an object id (it belongs to territory B), else the same as in their own territory.
    ``consent`` (a case whose household agreed to share) defaults to ``own``.
    """

    own: tuple[int, ...]
    other: tuple[int, ...] | None = None
    consent: tuple[int, ...] | None = None


def everyone(status: int) -> tuple[int, ...]:
    return (status,) * 5


def members(status: int, anonymous: int = ANON) -> tuple[int, ...]:
    return (anonymous,) + (status,) * 4


COORDINATION = (ANON, 403, 403, 200, 200)
COORDINATION_ACT = (ANON, 403, 403, 302, 302)
ADMIN = (ANON, 403, 403, 403, 200)
ADMIN_ACT = (ANON, 403, 403, 403, 302)

EXPECTED: dict[tuple[str, str], Expect] = {
    ("main.index", "GET"): Expect(everyone(302)),
    ("main.accessibility", "GET"): Expect(everyone(200)),
    ("main.healthz", "GET"): Expect(everyone(200)),
    # no scheduler swept in this world: not ready (tests/web/test_observe.py: ready when one did)
    ("main.readyz", "GET"): Expect(everyone(503)),
    # the test client is a loopback client and no token is set (remote clients: test_observe)
    ("main.metrics_page", "GET"): Expect(everyone(200)),
    ("main.favicon", "GET"): Expect(everyone(200)),
    ("main.language", "POST"): Expect(everyone(302)),
    ("static", "GET"): Expect(everyone(200)),
    ("auth.login", "GET"): Expect(members(302, anonymous=200)),
    ("auth.login", "POST"): Expect(members(302, anonymous=200)),
    ("auth.logout", "POST"): Expect(everyone(302)),
    # no OpenID Connect provider in this world (tests/web/test_oidc.py: with one)
    ("auth.oidc_start", "GET"): Expect(everyone(404)),
    ("auth.oidc_callback", "GET"): Expect(everyone(404)),
    ("account.index", "GET"): Expect(members(200)),
    ("account.index", "POST"): Expect(members(422)),  # no password given
    ("account.sign_out_everywhere", "POST"): Expect(everyone(302)),
    ("account.notice_mode", "POST"): Expect(everyone(302)),  # saved, back to the page
    # cases
    ("cases.index", "GET"): Expect(members(200)),
    # the circuit, in the query, is territory B's in the other scope
    ("cases.new", "GET"): Expect(members(200), other=members(404)),
    ("cases.new", "POST"): Expect(members(302), other=members(404)),
    ("cases.show", "GET"): Expect(members(200)),
    # the worker's and the partner's organisations are parties: without consent, the minimal
    # view (no diagram); the visibility matrix (test_visibility_matrix.py) goes further
    ("cases.diagram", "GET"): Expect((ANON, 404, 404, 200, 200), consent=members(200)),
    ("cases.close", "POST"): Expect(COORDINATION_ACT),
    # an outside answer entered by hand (issue #18 item 4): the test circuit awaits none, so
    # a reader of the case is sent back to it, told it is not awaited (with one awaited, the
    # coordination's form and the others' refusals: tests/web/test_case_messages.py)
    ("cases.message", "GET"): Expect(members(302)),
    ("cases.message", "POST"): Expect(members(302)),
    # a case's organisations and référent·e (refused with a message here: the test territory
    # declares no parts and nobody holds the referent role)
    ("team.set_party", "POST"): Expect(COORDINATION_ACT),
    ("team.end_party", "POST"): Expect(COORDINATION_ACT),
    ("team.set_referent", "POST"): Expect(COORDINATION_ACT),
    ("team.end_referent", "POST"): Expect(COORDINATION_ACT),
    ("team.without_referent", "GET"): Expect(COORDINATION),
    # the household's consent: coordination and the referrer (the partner's organisation)
    # record and withdraw it, the worker may not; withdrawing where nothing is in force (the
    # case without consent) is a stale page (409)
    ("consent.record", "POST"): Expect((ANON, 403, 302, 302, 302)),
    ("consent.withdraw", "POST"): Expect((ANON, 403, 409, 409, 409),
                                         consent=(ANON, 403, 302, 302, 302)),
    # steps
    ("tasks.index", "GET"): Expect(members(200)),
    # a step of the coordination: its page is for those who act on it
    ("tasks.show", "GET"): Expect((ANON, 404, 404, 200, 200)),
    ("tasks.show", "POST"): Expect((ANON, 403, 403, 302, 403)),  # a coordination step
    ("tasks.claim", "POST"): Expect((ANON, 403, 403, 302, 403)),
    ("tasks.unclaim", "POST"): Expect(COORDINATION_ACT),
    ("tasks.assign", "POST"): Expect(COORDINATION_ACT),
    # circuits
    ("circuits.index", "GET"): Expect(COORDINATION),
    ("circuits.diff", "GET"): Expect(COORDINATION),
    ("circuits.activate", "POST"): Expect(COORDINATION_ACT),
    ("circuits.export", "GET"): Expect(COORDINATION),
    ("circuits.edit", "POST"): Expect(COORDINATION_ACT),
    ("circuits.modeler", "GET"): Expect(COORDINATION),
    ("circuits.draft_data", "GET"): Expect(COORDINATION),
    ("circuits.save", "POST"): Expect(COORDINATION),
    ("circuits.deploy", "POST"): Expect(COORDINATION_ACT),
    ("circuits.discard", "POST"): Expect(COORDINATION_ACT),
    ("circuits.forms", "GET"): Expect(COORDINATION),
    ("circuits.form_new", "GET"): Expect(COORDINATION_ACT),
    ("circuits.form_edit", "GET"): Expect(COORDINATION),
    ("circuits.form_edit", "POST"): Expect(COORDINATION),
    ("circuits.form_preview", "POST"): Expect(COORDINATION),
    ("circuits.variant", "POST"): Expect(COORDINATION_ACT),
    ("circuits.import_files", "GET"): Expect(COORDINATION),
    ("circuits.import_files", "POST"): Expect((ANON, 403, 403, 422, 422)),  # no file sent
    ("circuits.dry_run", "GET"): Expect(COORDINATION),
    ("circuits.dry_run", "POST"): Expect(COORDINATION),
    # supervision (``territoire`` names territory B in the other scope)
    ("admin.dashboard", "GET"): Expect(ADMIN, other=(ANON, 403, 403, 403, 403)),
    ("admin.export", "GET"): Expect(ADMIN, other=(ANON, 403, 403, 403, 403)),
    ("admin.incidents", "GET"): Expect(ADMIN),
    ("admin.retry", "POST"): Expect(ADMIN_ACT, other=(ANON, 403, 403, 403, 404)),
    ("admin.repair", "GET"): Expect(ADMIN),
    ("admin.repair", "POST"): Expect(ADMIN_ACT, other=(ANON, 403, 403, 403, 404)),
    ("admin.move_cases", "GET"): Expect(ADMIN),
    ("admin.move_cases", "POST"): Expect(ADMIN_ACT, other=(ANON, 403, 403, 403, 404)),
    ("admin.people", "GET"): Expect(ADMIN),
    # the new account's temporary password is shown once, on the page itself
    ("admin.create_person", "POST"): Expect(ADMIN, other=(ANON, 403, 403, 403, 403)),
    ("admin.person_action", "POST"): Expect(ADMIN_ACT, other=(ANON, 403, 403, 403, 404)),
    ("admin.remove_role", "POST"): Expect(ADMIN_ACT, other=(ANON, 403, 403, 403, 404)),
    # an account's roles page: the right its changes need (#14 item 8)
    ("admin.roles", "GET"): Expect(ADMIN, other=(ANON, 403, 403, 403, 404)),
    ("admin.roles", "POST"): Expect(ADMIN_ACT, other=(ANON, 403, 403, 403, 404)),
    ("admin.create_organisation", "POST"): Expect(ADMIN_ACT,
                                                  other=(ANON, 403, 403, 403, 404)),
    ("admin.journal", "GET"): Expect(ADMIN),
    ("admin.journal_export", "GET"): Expect(ADMIN),
    # the organisations' API keys (issue #18): administrators of the key's territory only;
    # the token page answers a creation or a renewal (200)
    ("api_keys.index", "GET"): Expect(ADMIN),
    ("api_keys.new", "GET"): Expect(ADMIN, other=(ANON, 403, 403, 403, 404)),
    ("api_keys.new", "POST"): Expect(ADMIN, other=(ANON, 403, 403, 403, 404)),
    ("api_keys.rotate", "GET"): Expect(ADMIN, other=(ANON, 403, 403, 403, 404)),
    ("api_keys.rotate", "POST"): Expect(ADMIN, other=(ANON, 403, 403, 403, 404)),
    ("api_keys.revoke", "GET"): Expect(ADMIN, other=(ANON, 403, 403, 403, 404)),
    ("api_keys.revoke", "POST"): Expect(ADMIN_ACT, other=(ANON, 403, 403, 403, 404)),
    # the organisations' webhooks (issue #18 item 3): administrators only; ``territoire``
    # naming a territory they do not administer shows their own; forms sent empty: refused
    ("webhooks.index", "GET"): Expect(ADMIN),
    ("webhooks.index", "POST"): Expect((ANON, 403, 403, 403, 422)),
    ("webhooks.deactivate", "POST"): Expect((ANON, 403, 403, 403, 400)),
    ("webhooks.retry", "POST"): Expect((ANON, 403, 403, 403, 400)),
    # statistics (#16 item 1): those who oversee the territory, its coordination and its
    # administrators (``territoire`` names territory B in the other scope: refused)
    ("statistics.index", "GET"): Expect(COORDINATION, other=(ANON, 403, 403, 403, 403)),
    ("statistics.export", "GET"): Expect(COORDINATION, other=(ANON, 403, 403, 403, 403)),
    # the directory of services: every member reads it; its coordination keeps it; the
    # worker's organisation runs the entry (edits it and its places), the partner's does not.
    # ``territoire`` names territory B in the other scope: one's own is shown instead, where
    # B's organisation (in the body) is unknown (422)
    ("directory.index", "GET"): Expect(members(200)),
    ("directory.show", "GET"): Expect(members(200)),
    ("directory.new", "GET"): Expect(COORDINATION),
    ("directory.new", "POST"): Expect(COORDINATION_ACT, other=(ANON, 403, 403, 422, 422)),
    ("directory.edit", "GET"): Expect((ANON, 200, 403, 200, 200)),
    ("directory.edit", "POST"): Expect((ANON, 302, 403, 302, 302)),
    ("directory.places", "POST"): Expect((ANON, 302, 403, 302, 302)),
    ("directory.set_active", "POST"): Expect(COORDINATION_ACT),
    ("directory.export", "GET"): Expect(COORDINATION),
    ("directory.import_file", "GET"): Expect(COORDINATION),
    ("directory.import_file", "POST"): Expect((ANON, 403, 403, 422, 422)),  # no file sent
    # signed answer links: the link's pages answer anyone, and a token the world does not
    # hold is not valid (404); the coordination's routes name an orientation the world does
    # not hold (their permissions on a real one: tests/web/test_answer_links.py)
    ("answer.show", "GET"): Expect(everyone(404)),
    ("answer.show", "POST"): Expect(everyone(404)),
    ("answer.thanks", "GET"): Expect(everyone(200)),
    ("answer.links", "GET"): Expect(members(404)),
    ("answer.links", "POST"): Expect(members(404)),
    ("answer.revoke", "POST"): Expect(members(404)),
    # households across circuits: a household's page to whoever finds one of its cases in a
    # list (the worker's and the partner's organisations are parties to it); its likely
    # duplicates to the coordination (``territoire`` names B in the other scope: one's own)
    ("households.show", "GET"): Expect(members(200)),
    ("households.duplicates", "GET"): Expect(COORDINATION),
    ("households.merge", "POST"): Expect(COORDINATION_ACT),
    ("households.dismiss", "POST"): Expect(COORDINATION_ACT),
    # the rights of the person (#16 item 3): the coordination's
    ("subject_access.document", "GET"): Expect(COORDINATION),
    ("subject_access.as_json", "GET"): Expect(COORDINATION),
    ("subject_access.identity", "GET"): Expect(COORDINATION),
    ("subject_access.identity", "POST"): Expect(COORDINATION_ACT),
    # the territory's refusal reasons: its coordination keeps them (``territoire`` names B
    # in the other scope: one's own is shown; the reason edited is territory A's first)
    # the commission's sessions (#15 item 3): the secretariat and the coordination run them
    # (the matrix's session id is unknown: 404 before any right on a session is read)
    ("commission.index", "GET"): Expect(COORDINATION),
    ("commission.plan", "POST"): Expect(COORDINATION_ACT),
    ("commission.show", "GET"): Expect(members(404)),
    ("commission.decide", "GET"): Expect(members(404)),
    ("commission.decide", "POST"): Expect(members(404)),
    ("commission.send", "POST"): Expect(members(404)),
    ("commission.close", "POST"): Expect(members(404)),
    ("commission.case_file", "GET"): Expect(members(404)),
    ("orientations.reasons", "GET"): Expect(COORDINATION),
    ("orientations.reasons", "POST"): Expect(COORDINATION_ACT),
    ("orientations.edit_reason", "POST"): Expect(COORDINATION_ACT),
    # the REST API (#18 item 1): an API key only, never the session cookie: 401 problem+json
    # to everyone, whatever the territory (tests/web/test_api.py: with keys); its document
    # is public
    ("api.openapi", "GET"): Expect(everyone(200)),
    **{(endpoint, method): Expect(everyone(401), other=everyone(401)) for endpoint, method in (
        ("api.circuit_list", "GET"), ("api.start_form", "GET"), ("api.open_case", "POST"),
        ("api.case", "GET"), ("api.message", "POST"), ("api.task_list", "GET"),
        ("api.task", "GET"), ("api.complete", "POST"), ("api.directory_list", "GET"),
        ("api.directory_entry", "GET"))},
}


@dataclass
class Matrix:
    """The app, its database file and snapshot, the two places and who is signed in."""

    app: Flask
    db: Path
    snapshot: Path
    places: dict[str, Place]
    clients: dict[str, FlaskClient] = field(default_factory=dict)
    drafts: dict[str, tuple[int, str]] = field(default_factory=dict)  # revision, xml

    def restore(self) -> None:
        """Put the database back as the world was built (after a POST)."""
        self.app.extensions["aiguillage"].database.dispose()
        _copy(self.snapshot, self.db)

    def fingerprint(self) -> str:
        """A digest of every row outside the volatile tables."""
        digest = hashlib.sha256()
        with self.app.extensions["aiguillage"].sessions() as session:
            for table in Base.metadata.sorted_tables:
                if table.name in VOLATILE:
                    continue
                rows = session.execute(select(table).order_by(*table.primary_key.columns))
                digest.update(table.name.encode())
                digest.update(repr(rows.all()).encode())
        return digest.hexdigest()


@pytest.fixture(scope="module")
def matrix(template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    root = tmp_path_factory.mktemp("matrix")
    db, snapshot = root / "web.sqlite", root / "snapshot.sqlite"
    shutil.copy(template_db, db)
    clock = FixedClock(datetime(2026, 1, 9, 14, 0, tzinfo=UTC))
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test",
                      "DATABASE_URL": f"sqlite:///{db}", "SESSION_COOKIE_SECURE": False,
                      "CLOCK": clock})
    with app.extensions["aiguillage"].sessions() as session:
        a, b = make_two(session, clock, root)
        found = {p.code: session.get(CircuitDraft, p.draft_id) for p in (a, b)}
        drafts = {code: (d.revision, d.bpmn_files[d.main_file])
                  for code, d in found.items() if d is not None}
        for p in (a, b):
            API_KEYS[p.code] = api_keys.create(session, clock, SYSTEM, p.territory_id,
                                               p.operator_org, "Logiciel de l'opérateur",
                                               ["operateur"], ["read"], None).id
    world = Matrix(app, db, snapshot, {"own": a, "consent": a, "other": b}, drafts=drafts)
    world.clients["anonymous"] = app.test_client()
    for role in ROLES[1:]:
        world.clients[role] = _signed_in(app, a.emails[role])
    app.extensions["aiguillage"].database.dispose()
    _copy(db, snapshot)
    yield world
    app.extensions["aiguillage"].database.dispose()


def _copy(source: Path, target: Path) -> None:
    """Copy an SQLite database through SQLite itself (its WAL and locks included)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def _signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    answer = client.post("/connexion", data={"email": email, "password": PASSWORD})
    assert answer.status_code == 302, email
    return client


def _rules(app: Flask) -> dict[tuple[str, str], Rule]:
    return {(r.endpoint, m): r for r in app.url_map.iter_rules()
            for m in sorted((r.methods or set()) - {"HEAD", "OPTIONS"})}


def _values(place: Place, scope: str, endpoint: str) -> dict[str, Any]:
    consent = scope == "consent"
    case = place.consent_case_id if consent else place.case_id
    if endpoint.startswith("admin."):
        case = place.decision_case_id  # it went through a step it can go back to
    return {"reference": "MINI-2026-00001",  # a case's, for the API (refused without a key)
            "case_id": case, "task_id": place.consent_task_id if consent else place.task_id,
            "circuit_id": place.circuit_id, "version_id": place.version_id,
            "draft_id": place.draft_id, "timer_id": place.timer_id,
            "membership_id": place.membership_id, "user_id": place.user_id,
            "service_id": place.service_id, "orientation_id": 999_999,
            "token": "inconnu-" + "x" * 40, "household_id": place.household_id,
            "match_id": place.match_id, "session_id": 999_999,
            "key_id": API_KEYS.get(place.code, 999_999), "name": "mini-analyse.json", "action": "desactiver", "filename": "css/app.css"}


def _query(place: Place, endpoint: str) -> dict[str, Any]:
    extra: dict[str, dict[str, Any]] = {
        "cases.new": {"circuit": place.circuit_id},
        "circuits.diff": {"de": place.version_id, "a": place.version_id},
        "circuits.form_new": {"nom": "nouveau"},
    }
    return {"territoire": place.territory_id, **extra.get(endpoint, {})}


def _body(world: Matrix, place: Place, endpoint: str) -> dict[str, Any]:
    revision, _ = world.drafts[place.code]
    coordinator = place.people["coordinator"].user_id
    bodies: dict[str, dict[str, Any]] = {
        "main.language": {"lang": "fr", "next": "/"},
        "auth.login": {"email": "", "password": ""},
        "account.notice_mode": {"prevenir": "immediate"},
        "tasks.show": {"mesure": "avdl"},
        "tasks.assign": {"user_id": coordinator},
        "cases.new": {"nom_menage": "Ménage Nouveau"},
        "cases.close": {"reason": "Doublon"},
        "commission.plan": {"jour": "2026-03-03", "heure": "14:00", "lieu": "Salle"},
        "subject_access.identity": {"nom_menage": "Ménage Corrigé",
                                    "motif_correction": "Erreur de saisie"},
        "team.set_party": {"part": "operator", "organisation": 1, "reason": "Orientation"},
        "team.end_party": {"part": "operator", "reason": "Fin"},
        "team.set_referent": {"user_id": coordinator, "reason": "Accueil"},
        "team.end_referent": {"reason": "Fin"},
        "consent.record": {"parts": "operator", "purpose": "assessment",
                           "categories": "identity", "basis": "signed"},
        "consent.withdraw": {"part": "operator", "reason": "Retrait"},
        "circuits.deploy": {"revision": revision, "note": "essai"},
        "circuits.variant": {"key": "coordination"},
        "circuits.import_files": {"key": "importe", "title": "Importé"},
        "admin.repair": {"etape": "analyse"},
        "admin.move_cases": {"dossier": place.decision_case_id},
        "admin.create_person": {"email": f"nouveau@{place.code}.test", "nom": "Nouveau",
                                "role": "operateur", "territoire": place.territory_id},
        "admin.person_action": {"territoire": place.territory_id, "role": "operateur"},
        "admin.roles": {"role": f"{place.territory_id}:operateur"},
        "admin.create_organisation": {"territoire": place.territory_id, "nom": "Asso",
                                      "type": "association"},
        "directory.new": {"organisation_id": place.operator_org, "measure": "asll",
                          "name": "ASLL nouvelle"},
        "directory.edit": {"organisation_id": place.operator_org, "measure": "avdl",
                           "name": "AVDL modifié", "capacity": "10", "places_available": "3"},
        "directory.places": {"places": "1", "comment": "Une entrée"},
        "orientations.reasons": {"label": "Logement indigne"},
        "orientations.edit_reason": {"motif": 1, "action": "retirer"},
        "api_keys.new": {"name": "Logiciel", "organisation": place.operator_org,
                         "roles": "operateur", "rights": "read"},
    }
    return bodies.get(endpoint, {})


def _expected(expect: Expect, rule: Rule, scope: str) -> tuple[int, ...]:
    if scope == "consent":
        return expect.consent or expect.own
    if scope == "own":
        return expect.own
    if expect.other is not None:
        return expect.other
    by_id = bool(set(rule.arguments) & ID_ARGS)
    return (expect.own[0],) + ((404,) * 4 if by_id else expect.own[1:])


def _send(world: Matrix, role: str, rule: Rule, method: str, scope: str) -> Any:
    place = world.places[scope]
    url = world.app.url_map.bind("localhost").build(
        rule.endpoint, {**{k: v for k, v in _values(place, scope, rule.endpoint).items()
                           if k in rule.arguments}, **_query(place, rule.endpoint)},
        method=method)
    client = world.clients[role]
    if rule.endpoint in SIGN_OUT and role != "anonymous":
        client = _signed_in(world.app, world.places["own"].emails[role])  # keep the others
    if method == "GET":
        return client.get(url)
    if rule.endpoint == "circuits.save":
        revision, xml = world.drafts[place.code]
        return client.post(url, json={"revision": revision, "xml": xml})
    return client.post(url, data=_body(world, place, rule.endpoint))


def _scopes(rule: Rule) -> tuple[str, ...]:
    case_bound = {"case_id", "task_id"} & set(rule.arguments)
    return SCOPES if case_bound else ("own", "other")


@pytest.mark.parametrize("key", sorted(EXPECTED), ids=[f"{m}-{e}" for e, m in sorted(EXPECTED)])
def test_route(matrix: Matrix, key: tuple[str, str]) -> None:
    endpoint, method = key
    rule = _rules(matrix.app)[key]
    wrong: list[str] = []
    for scope in _scopes(rule):
        for role, status in zip(ROLES, _expected(EXPECTED[key], rule, scope), strict=True):
            before = matrix.fingerprint() if method == "POST" and status >= 400 else None
            answer = _send(matrix, role, rule, method, scope)
            page = answer.get_data().decode("utf-8", "replace")  # zips too
            answer.close()
            if answer.status_code != status:
                wrong.append(f"{role}/{scope}: {answer.status_code}, expected {status}")
            if scope == "other" and rule.arguments & ID_ARGS and answer.status_code == 200:
                wrong.append(f"{role}/{scope}: territory B's object answered 200")
            if role != "anonymous" and any(word in page for word in LEAKS):
                wrong.append(f"{role}/{scope}: territory B shows through")
            if role == "partner" and scope == "own" and any(w in page for w in CASE_DATA):
                wrong.append(f"{role}/{scope}: case data without consent")
            if before is not None and matrix.fingerprint() != before:
                wrong.append(f"{role}/{scope}: refused with {answer.status_code} but "
                             "data changed")
            if method == "POST":
                matrix.restore()
    assert not wrong, f"{method} {rule.rule}: " + "; ".join(wrong)


def test_every_route_has_its_expectations(matrix: Matrix) -> None:
    """A route added to the app without a line in ``EXPECTED`` fails here."""
    missing = sorted(set(_rules(matrix.app)) - set(EXPECTED))
    assert not missing, f"routes without expectations: {missing}"
    assert not sorted(set(EXPECTED) - set(_rules(matrix.app)))


def test_other_methods_are_not_allowed(matrix: Matrix) -> None:
    """A method a route does not declare answers 405, to anyone, before any check."""
    adapter = matrix.app.url_map.bind("localhost")
    place = matrix.places["own"]
    for rule in {r.rule: r for r in matrix.app.url_map.iter_rules()}.values():
        url = adapter.build(rule.endpoint, {k: v for k, v in
                                            _values(place, "own", rule.endpoint).items()
                                            if k in rule.arguments})
        for method in ("GET", "POST"):
            try:
                adapter.match(url, method=method)
                continue
            except MethodNotAllowed:
                pass
            except NotFound:  # pragma: no cover - every built URL matches something
                raise
            for role in ("anonymous", "admin"):
                answer = matrix.clients[role].open(url, method=method)
                answer.close()
                assert answer.status_code == 405, f"{method} {url} as {role}"


def test_the_snapshot_is_restored(matrix: Matrix) -> None:
    """The fixture's own check: a POST that changes data is undone."""
    before = matrix.fingerprint()
    place = matrix.places["own"]
    answer = matrix.clients["coordinator"].post(f"/dossiers/{place.case_id}/cloturer",
                                                data={"reason": "Doublon"})
    assert answer.status_code == 302 and matrix.fingerprint() != before
    matrix.restore()
    assert matrix.fingerprint() == before
    with matrix.app.extensions["aiguillage"].sessions() as session:
        assert session.execute(text("select count(*) from \"case\"")).scalar_one() == 6
