"""The directory in a real browser (issue #13, item 1): a social worker of the demo territory
finds an AVDL with free places on her commune; operator A's worker updates the places of
A's service with a comment, and the new count and the history show; the coordinator adds a
service through the form (a required box left empty is refused first, its error tied to the
field). Screenshots are left in tests/e2e/ for a look."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from engine.services import demo
from tests.e2e.conftest import PASSWORD, ROOT, LiveApp, sign_in

SHOTS = Path(__file__).resolve().parent


def _demo(live: LiveApp) -> None:
    built = live.app.extensions["aiguillage"]  # type: ignore[attr-defined]
    with built.sessions() as session:
        demo.load(session, built.clock, ROOT, PASSWORD, cases_per_circuit=0)


def test_find_update_places_and_add_a_service(live_app: LiveApp, browser: Any) -> None:
    _demo(live_app)
    accounts = demo.DemoAccounts()
    page = browser.new_page()
    sign_in(page, live_app.url, accounts.social_worker)
    page.get_by_role("link", name="Annuaire").click()
    page.get_by_label("Type de mesure").select_option(label="AVDL — Accompagnement vers et "
                                                           "dans le logement")
    page.get_by_label("Commune").fill("demoville")
    page.get_by_label("Places disponibles uniquement").check()
    page.get_by_role("button", name="Rechercher").click()
    rows = page.locator("table tbody tr")
    assert rows.count() == 2  # Relais's and Horizon's AVDL, both serving Démoville
    assert "3 places disponibles sur 40" in rows.nth(1).inner_text() or \
        "3 places disponibles sur 40" in rows.nth(0).inner_text()
    page.screenshot(path=str(SHOTS / "last-directory-list.png"), full_page=True)
    page.get_by_role("link", name="AVDL Relais — secteur nord").click()
    assert "Lundi au vendredi, 9 h – 17 h" in page.content()
    assert page.get_by_role("heading", name="Mettre à jour les places").count() == 0
    page.close()

    page = browser.new_page()
    sign_in(page, live_app.url, accounts.operator_a)
    page.goto(f"{live_app.url}/annuaire/?q=relais+nord")
    page.get_by_role("link", name="AVDL Relais — secteur nord").click()
    page.get_by_label("Places disponibles aujourd'hui").fill("2")
    page.get_by_label("Commentaire (ce qui a changé)").fill("Une entrée le 5 janvier")
    page.get_by_role("button", name="Enregistrer les places").click()
    text = page.locator("main").inner_text()
    assert "Places disponibles mises à jour." in text
    assert "2 places disponibles sur 40" in text
    history = page.locator("table").last.inner_text()
    assert "Lou Relais" in history and "Une entrée le 5 janvier" in history
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", page.content())
    page.screenshot(path=str(SHOTS / "last-directory-service.png"), full_page=True)
    page.close()

    page = browser.new_page()
    sign_in(page, live_app.url, accounts.coordinator)
    page.goto(f"{live_app.url}/annuaire/")
    page.screenshot(path=str(SHOTS / "last-directory-coordination.png"), full_page=True)
    page.get_by_role("link", name="Ajouter un service").click()
    page.get_by_label("Type de mesure ou de service").select_option(
        label="ASLL — Accompagnement social lié au logement")
    page.get_by_role("button", name="Enregistrer").click()
    assert page.locator(".error-summary").is_visible()
    name = page.get_by_label("Nom du service")
    assert name.get_attribute("aria-invalid") == "true"
    page.screenshot(path=str(SHOTS / "last-directory-form-errors.png"), full_page=True)
    page.get_by_label("Organisation qui porte le service").select_option(
        label="Association Horizon (opérateur B)")
    name.fill("ASLL Horizon — Val-du-Nord")
    page.get_by_label("Précarité financière").check()
    page.get_by_label("Communes ou secteurs desservis (un par ligne)").fill("Val-du-Nord")
    page.get_by_label("Capacité (nombre de places en tout)").fill("12")
    page.get_by_label("Places disponibles", exact=True).fill("4")
    page.get_by_role("button", name="Enregistrer").click()
    text = page.locator("main").inner_text()
    assert "Service ajouté à l'annuaire." in text
    assert "4 places disponibles sur 12" in text and "Précarité financière" in text
    page.screenshot(path=str(SHOTS / "last-directory-new.png"), full_page=True)
    # a CSV with one wrong line is refused whole, each error named
    page.goto(f"{live_app.url}/annuaire/import")
    bad = ("id;structure_nom;nom;type_mesure;presentation_resume;thematiques;"
           "zone_diffusion_type;zone_diffusion_nom;profils;capacite;places_disponibles;"
           "liste_attente;telephone;courriel;adresse;horaires_ouverture;"
           "horaires_sur_rendez_vous;langues;charte_signee;actif\n"
           ";Association Relais (opérateur A);IML Relais Sud;IML;;;commune;Bourg-Sud;;5;2;;;"
           ";;;;;oui;oui\n"
           ";Association Inconnue;;AVDL;;Santé;commune;;;dix;;;;;;;;;;\n")
    page.get_by_label("Fichier CSV (séparateur point-virgule, UTF-8)").set_input_files(
        files=[{"name": "annuaire.csv", "mimeType": "text/csv", "buffer": bad.encode()}])
    page.get_by_role("button", name="Vérifier et importer").click()
    summary = page.locator(".error-summary").inner_text()
    assert "rien n'a été enregistré" in summary
    assert "ligne 3, colonne « structure_nom » : organisation inconnue" in summary
    assert "ligne 3, colonne « thematiques » : domaine de besoin inconnu : « Santé »" in summary
    page.screenshot(path=str(SHOTS / "last-directory-import.png"), full_page=True)
    page.goto(f"{live_app.url}/annuaire/?q=iml+relais+sud")
    assert "Aucun service ne correspond." in page.content()
    page.close()
