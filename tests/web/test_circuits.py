"""The circuits pages through the Flask client: list, activate, export, modeler data, save with
conflicts, deploy, diff, forms with preview, dry-run, variants, import, permissions."""

from __future__ import annotations

import io
import json
import re
import zipfile
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.clock import FixedClock
from tests.integration.factories import PASSWORD, World, make_world
from tests.web.conftest import AuthActions
from tests.web.helpers import open_case

SPIFF_ARENA = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "modelers" / \
    "spiff-arena.bpmn"
OLD = '<spiffworkflow:property name="dueInWorkingDays" value="2" />'
NEW = '<spiffworkflow:property name="dueIn" value="P15D" />'


def _draft(client: FlaskClient, world: World) -> int:
    response = client.post(f"/circuits/{world.circuit.id}/modifier")
    assert response.status_code == 302
    return int(re.search(r"/brouillons/(\d+)", response.headers["Location"])[1])  # type: ignore[index]


def test_circuits_page_lists_versions_and_nav_link(client: FlaskClient, auth: AuthActions,
                                                   app: Flask, clock: FixedClock,
                                                   world: World) -> None:
    open_case(app, clock, world)
    auth.login()
    page = unescape(client.get("/circuits/").text)
    assert "Circuit d'essai" in page and "Télécharger la version 1" in page
    assert 'href="/circuits/"' in unescape(client.get("/taches/").text)
    assert "<td>1</td>" in page  # one open case on version 1
    assert "Créer une variante de « Plateforme de coordination »" in page


def test_social_worker_has_no_circuits(client: FlaskClient, auth: AuthActions,
                                       world: World) -> None:
    auth.login("op@demo.test")
    assert 'href="/circuits/"' not in client.get("/taches/").text
    assert client.get("/circuits/").status_code == 403
    assert client.post(f"/circuits/{world.circuit.id}/modifier").status_code == 403
    version = world.circuit.active_version_id
    assert client.get(f"/circuits/versions/{version}/export").status_code == 403
    client.post("/deconnexion")
    client.post("/connexion", data={"email": "autre@demo.test", "password": PASSWORD})
    assert client.get(f"/circuits/versions/{version}/export").status_code == 404


def test_export_zip(client: FlaskClient, auth: AuthActions, world: World) -> None:
    auth.login()
    response = client.get(f"/circuits/versions/{world.circuit.active_version_id}/export")
    assert response.mimetype == "application/zip"
    assert "mini-v1.zip" in response.headers["Content-Disposition"]
    assert "processes/mini.bpmn" in zipfile.ZipFile(io.BytesIO(response.data)).namelist()


def test_modeler_save_conflict_deploy_and_diff(client: FlaskClient, auth: AuthActions,
                                               app: Flask, clock: FixedClock,
                                               world: World) -> None:
    open_case(app, clock, world, analysed=False)
    auth.login()
    draft = _draft(client, world)
    page = unescape(client.get(f"/circuits/brouillons/{draft}").text)
    assert "bpmn-modeler.production.min.js" in page and "bpmn-embedded.css" in page
    data = client.get(f"/circuits/brouillons/{draft}/donnees").get_json()
    assert data["problems"] == [p for p in data["problems"] if p["severity"] == "warning"]
    assert "mini-analyse.json" in data["forms"] and data["roles"][0]["key"] == "coordination"
    assert data["form_titles"]["mini-analyse.json"] == "Analyse"  # a step's form by its title
    # what a deadline may count from: the date fields of the circuit's forms, by label
    assert data["date_fields"] == [{"name": "date_rdv", "label": "Date du rendez-vous"}]
    xml = data["xml"].replace(OLD, NEW)
    saved = client.post(f"/circuits/brouillons/{draft}/enregistrer",
                        json={"revision": data["revision"], "xml": xml})
    assert saved.status_code == 200 and saved.get_json()["errors"] == 0
    stale = client.post(f"/circuits/brouillons/{draft}/enregistrer",
                        json={"revision": data["revision"], "xml": xml})
    assert stale.status_code == 409 and "Rechargez" in stale.get_json()["error"]
    broken = client.post(f"/circuits/brouillons/{draft}/enregistrer", json={
        "revision": saved.get_json()["revision"], "xml": xml.replace('"operateur"', '"x"')})
    body = broken.get_json()
    assert body["errors"] >= 1 and any(p["element_id"] == "decision" for p in body["problems"])
    refused = client.post(f"/circuits/brouillons/{draft}/deployer",
                          data={"revision": body["revision"], "note": "essai"},
                          follow_redirects=True)
    assert "Déploiement refusé" in unescape(refused.text)
    fixed = client.post(f"/circuits/brouillons/{draft}/enregistrer",
                        json={"revision": body["revision"], "xml": xml}).get_json()
    deployed = client.post(f"/circuits/brouillons/{draft}/deployer",
                           data={"revision": fixed["revision"], "note": "Délai à 15 jours"},
                           follow_redirects=True)
    text = unescape(deployed.text)
    assert "Version 2 déployée" in text
    assert "Étape « Analyser la demande » : délai 2 j ouvrés → 15 j" in text
    assert "1 dossier en cours de la version 1 est à cette étape" in text
    listing = unescape(client.get("/circuits/").text)
    assert "Délai à 15 jours" in listing and "Activer la version 1" in listing


def test_hostile_diagram_is_refused(client: FlaskClient, auth: AuthActions,
                                    world: World) -> None:
    auth.login()
    draft = _draft(client, world)
    revision = client.get(f"/circuits/brouillons/{draft}/donnees").get_json()["revision"]
    response = client.post(f"/circuits/brouillons/{draft}/enregistrer", json={
        "revision": revision, "xml": '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x/>'})
    assert response.status_code == 422
    assert "DOCTYPE" in response.get_json()["problems"][0]["message"]
    assert client.post(f"/circuits/brouillons/{draft}/enregistrer", data="x").status_code == 400


def test_activate_an_older_version(client: FlaskClient, auth: AuthActions, world: World) -> None:
    auth.login()
    draft = _draft(client, world)
    data = client.get(f"/circuits/brouillons/{draft}/donnees").get_json()
    saved = client.post(f"/circuits/brouillons/{draft}/enregistrer", json={
        "revision": data["revision"], "xml": data["xml"].replace(OLD, NEW)}).get_json()
    client.post(f"/circuits/brouillons/{draft}/deployer", data={"revision": saved["revision"]})
    response = client.post(f"/circuits/{world.circuit.id}/versions/"
                           f"{world.circuit.active_version_id}/activer", follow_redirects=True)
    assert "Version activée" in unescape(response.text)
    assert "Activer la version 2" in unescape(response.text)


def test_form_editor_preview_and_save(client: FlaskClient, auth: AuthActions,
                                      world: World) -> None:
    auth.login()
    draft = _draft(client, world)
    assert "mini-analyse.json" in client.get(f"/circuits/brouillons/{draft}/formulaires").text
    page = unescape(client.get(f"/circuits/brouillons/{draft}/formulaires/mini-decision.json").text)
    assert 'value="Décision"' in page and "acceptee = Acceptée" in page
    assert 'id="f-decision-1"' in page  # the preview uses the task page's macro
    fields = {"count": "2", "title": "Décision", "revision": "2",
              "ed-0-name": "decision", "ed-0-label": "Décision", "ed-0-kind": "choice",
              "ed-0-choices": "acceptee = Acceptée\nrefusee = Refusée\n"
                              "refus_personne = Refus de la personne",
              "ed-0-required": "1", "ed-0-order": "2", "ed-0-extra": "{}",
              "ed-1-name": "motif", "ed-1-label": "Motif du refus", "ed-1-kind": "textarea",
              "ed-1-help": "En quelques mots", "ed-1-order": "1", "ed-1-extra": "{}"}
    preview = unescape(client.post(f"/circuits/brouillons/{draft}/apercu/mini-decision.json",
                                   data=fields).text)
    assert "Motif du refus" in preview and "<textarea" in preview and "En quelques mots" in preview
    bad = client.post(f"/circuits/brouillons/{draft}/formulaires/mini-decision.json",
                      data={**fields, "ed-1-name": "Motif!", "action": "enregistrer"})
    assert bad.status_code == 422 and "Nom de champ" in unescape(bad.text)
    revision = client.get(f"/circuits/brouillons/{draft}/donnees").get_json()["revision"]
    saved = client.post(f"/circuits/brouillons/{draft}/formulaires/mini-decision.json",
                        data={**fields, "revision": revision, "action": "enregistrer"},
                        follow_redirects=True)
    assert "Formulaire mini-decision.json enregistré" in unescape(saved.text)
    again = unescape(client.get(f"/circuits/brouillons/{draft}/formulaires/mini-decision.json")
                     .text)
    assert 'value="Motif du refus"' in again
    assert again.index('value="motif"') < again.index('value="decision"')  # order kept


def _carried(page: str) -> dict[str, str]:
    return {k: unescape(v) for k, v in
            re.findall(r'name="(start|data|steps)" value="([^"]*)"', page)}


def test_dry_run_in_the_browser(client: FlaskClient, auth: AuthActions, world: World) -> None:
    auth.login()
    draft = _draft(client, world)
    url = f"/circuits/brouillons/{draft}/essai"
    assert "Nom du ménage" in unescape(client.get(url).text)
    started = client.post(url, data={"action": "commencer", "nom_menage": "Essai"}).text
    assert "Étape prête : Analyser la demande" in unescape(started)
    done = client.post(url, data={**_carried(started), "action": "terminer", "task": "analyse",
                                  "mesure": "avdl"}).text
    assert "Étape terminée : analyse « Analyser la demande »" in unescape(done)
    assert "Statuer sur l'orientation" in unescape(done)
    state = _carried(done)
    waited = unescape(client.post(url, data={**state, "action": "attendre",
                                             "duree": "P16D"}).text)
    assert "Échéance atteinte" in waited and "Relancer l'opérateur ou réorienter" in waited
    wrong = client.post(url, data={**state, "action": "attendre", "duree": "16 jours"})
    assert wrong.status_code == 422 and "durée invalide" in unescape(wrong.text)


def test_variant_and_import(client: FlaskClient, auth: AuthActions, world: World) -> None:
    auth.login()
    response = client.post("/circuits/variante", data={"key": "commission"})
    assert response.status_code == 302 and "/circuits/brouillons/" in response.headers["Location"]
    listing = unescape(client.get("/circuits/").text)
    assert "Créer une variante de « Commission des situations complexes »" not in listing
    hostile = client.post("/circuits/importer", data={
        "key": "bombe", "title": "Bombe", "files": [
            (io.BytesIO(b'<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>'), "bombe.bpmn"),
            (io.BytesIO(b"{}"), "mauvais nom;.json")]}, content_type="multipart/form-data")
    text = unescape(hostile.text)
    assert hostile.status_code == 422 and "DOCTYPE" in text and "Nom de fichier refusé" in text
    assert "bombe" not in unescape(client.get("/circuits/").text)
    ok = client.post("/circuits/importer", data={"key": "essai", "title": "Essai", "files": [
        (io.BytesIO(json.dumps({}).encode()), "f.json"),
        (io.BytesIO(SPIFF_ARENA.read_bytes()), "spiff-arena.bpmn")]},
        content_type="multipart/form-data")
    assert ok.status_code == 302


def test_modeler_save_needs_the_csrf_header(template_db: Path, tmp_path: Path,
                                            clock: FixedClock) -> None:
    from tests.web.test_security import _app
    app = _app(template_db, tmp_path, clock, WTF_CSRF_ENABLED=True)
    with app.extensions["aiguillage"].sessions() as session:
        world = make_world(session, clock)
    client = app.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      client.get("/connexion").text)[1]  # type: ignore[index]
    client.post("/connexion", data={"email": "coord@demo.test", "password": PASSWORD,
                                    "csrf_token": token})
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      client.get("/circuits/").text)[1]  # type: ignore[index]
    opened = client.post(f"/circuits/{world.circuit.id}/modifier", data={"csrf_token": token})
    page = client.get(opened.headers["Location"]).text
    header = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)[1]  # type: ignore[index]
    url = opened.headers["Location"]
    data = client.get(f"{url}/donnees").get_json()
    body = {"revision": data["revision"], "xml": data["xml"]}
    assert client.post(f"{url}/enregistrer", json=body).status_code == 400
    saved = client.post(f"{url}/enregistrer", json=body,
                        headers={"X-CSRFToken": header})
    assert saved.status_code == 200


def test_circuits_page_in_english(client: FlaskClient, auth: AuthActions, world: World) -> None:
    client.post("/langue", data={"lang": "en", "next": "/connexion"})
    auth.login()
    page = unescape(client.get("/circuits/").text)
    assert "Circuits of the territory" in page and "Download version 1" in page
    assert "Circuits du territoire" not in page


def test_a_dry_run_click_does_not_build_the_draft_again(client: FlaskClient, auth: AuthActions,
                                                        world: World,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.core.spiff import compiler
    auth.login()
    draft = _draft(client, world)
    url = f"/circuits/brouillons/{draft}/essai"
    started = client.post(url, data={"action": "commencer", "nom_menage": "Essai"}).text
    builds: list[int] = []
    real = compiler._build

    def counted(bundle: object) -> object:
        builds.append(1)
        return real(bundle)  # type: ignore[arg-type]

    monkeypatch.setattr(compiler, "_build", counted)
    done = client.post(url, data={**_carried(started), "action": "terminer", "task": "analyse",
                                  "mesure": "avdl"})
    assert "Étape terminée : analyse" in unescape(done.text)
    assert builds == []  # the revision was checked and compiled by the first click (was 5)


def test_a_tampered_dry_run_state_is_refused_not_a_crash(client: FlaskClient,
                                                         auth: AuthActions,
                                                         world: World) -> None:
    auth.login()
    url = f"/circuits/brouillons/{_draft(client, world)}/essai"
    tampered = client.post(url, data={"start": "2026-01-05T09:00:00+01:00",
                                      "data": '{"nom_menage": "Essai"}',
                                      "steps": '[{"task": "decision", "data": {}}]',
                                      "action": "attendre", "duree": "P1D"})
    assert tampered.status_code == 422 and "n'est pas prête" in unescape(tampered.text)
    assert "Commencer l'essai" in unescape(tampered.text)  # the walk starts again


def test_circuit_pages_reach_the_engine_only_through_its_services() -> None:
    import ast

    root = Path(__file__).resolve().parents[2] / "webapp"
    for path in (root / "views" / "circuits.py", root / "circuit_form_classes.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {node.module or "" for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom)}
        assert not {m for m in imported if m.startswith(("engine.persistence", "sqlalchemy",
                                                         "engine.core.spiff"))}, path
        names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} | {
            node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert not names & {"load_territory", "is_file", "read_text", "read_bytes"}, path


def test_a_circuit_lists_its_own_forms_not_those_of_the_circuit_it_calls(
        client: FlaskClient, auth: AuthActions, world: World) -> None:
    """Issue #14 item 10: the mutualisation circuit carries a copy of the commission's diagram
    and forms for its call activity; its forms page listed them as its own (c3-…), and editing
    one changed a copy nobody runs as the commission's form."""
    auth.login()
    response = client.post("/circuits/variante", data={"key": "mutualisation"})
    draft = int(re.search(r"/brouillons/(\d+)", response.headers["Location"])[1])  # type: ignore[index]
    data = client.get(f"/circuits/brouillons/{draft}/donnees").get_json()
    page = unescape(client.get(f"/circuits/brouillons/{draft}/formulaires").text)
    assert "c2-accueil.json" in page and "c2-saisine.json" in page
    assert "c3-" not in page and "c3-" not in " ".join(data["forms"])  # nor in the modeler
    assert "circuit appelé « Commission des situations complexes » ne sont pas listés" in page
    opened = client.get(f"/circuits/brouillons/{draft}/formulaires/c3-saisine.json",
                        follow_redirects=True)
    assert "celui du circuit appelé « Commission des situations complexes »" in \
        unescape(opened.text)
    saved = client.post(f"/circuits/brouillons/{draft}/formulaires/c3-saisine.json", data={
        "count": "1", "title": "Changé", "revision": data["revision"], "action": "enregistrer",
        "ed-0-name": "x", "ed-0-label": "X", "ed-0-kind": "text", "ed-0-order": "1",
        "ed-0-extra": "{}"})
    assert saved.status_code == 302  # back to the list, nothing stored
    after = client.get(f"/circuits/brouillons/{draft}/donnees").get_json()
    assert after["revision"] == data["revision"]
    # a form added to the draft (named by no diagram yet) is the circuit's own
    added = client.post(f"/circuits/brouillons/{draft}/formulaires/c2-nouveau.json", data={
        "count": "1", "title": "Nouveau", "revision": data["revision"], "action": "enregistrer",
        "ed-0-name": "x", "ed-0-label": "X", "ed-0-kind": "text", "ed-0-order": "1",
        "ed-0-extra": "{}"}, follow_redirects=True)
    assert "c2-nouveau.json" in unescape(added.text)
