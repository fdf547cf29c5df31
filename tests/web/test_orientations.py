"""Orientation pages (issue #13): the orientation step offers the directory's services with
their places, the operator's answer offers the territory's reasons, the case page tells the
orientations in labels (never a code), and the refusal reasons page is the coordination's
(a partner is refused, a forged POST changes nothing, bad input is never a 500). SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.clock import FixedClock
from engine.persistence.models import Orientation, RefusalReason
from tests.integration.factories import PASSWORD
from tests.integration.orientation_world import (
    Oriented,
    answer,
    new_case,
    open_step,
    orient,
    oriented_world,
)

CODES = ("envoyee", "refusee", "liste_attente", "hors_secteur", "en_cours_examen",
         "acceptee", "pas_de_place")


@dataclass
class Site:
    app: Flask
    place: Oriented
    case_id: int


@pytest.fixture
def site(any_app: Flask, clock: FixedClock, tmp_path: Path) -> Site:
    with any_app.extensions["aiguillage"].sessions() as session:
        place = oriented_world(session, clock, tmp_path)
        case_id = new_case(session, clock, place)
    return Site(any_app, place, case_id)


def _client(site: Site, email: str) -> FlaskClient:
    client = site.app.test_client()
    assert client.post("/connexion", data={"email": email, "password": PASSWORD}
                       ).status_code == 302
    return client


def _session(site: Site) -> Any:
    return site.app.extensions["aiguillage"].sessions()


def _text(html: str) -> str:
    """The page's visible text, roughly (tags dropped)."""
    return re.sub(r"<[^>]+>", " ", html)


def _orientations(site: Site) -> list[tuple[str, list[str]]]:
    with _session(site) as session:
        return [(o.state, list(o.reasons)) for o in session.scalars(
            select(Orientation).where(Orientation.case_id == site.case_id)
            .order_by(Orientation.id))]


def test_the_orientation_step_offers_the_services_and_refuses_a_full_one(
        site: Site, clock: FixedClock) -> None:
    client = _client(site, "coord@demo.test")
    with _session(site) as session:
        task_id = open_step(session, site.case_id, "analyse")
    page = client.get(f"/taches/{task_id}").get_data(as_text=True)
    assert "AVDL Alpha · Association Alpha — 2 places libres" in page
    assert "ASLL Gamma · Association Gamma — complet, liste d&#39;attente : 4" in page
    assert "Lointain" not in page
    answers = {"mesure": "avdl", "service_oriente": str(site.place.full),
               "suite_analyse": "orienter", "commune": "Toulouse"}
    refused = client.post(f"/taches/{task_id}", data=answers)
    assert refused.status_code == 422
    assert "plus de place disponible" in refused.get_data(as_text=True)
    assert _orientations(site) == []
    forged = client.post(f"/taches/{task_id}",
                         data={**answers, "service_oriente": str(site.place.elsewhere)})
    assert forged.status_code == 422 and _orientations(site) == []
    done = client.post(f"/taches/{task_id}",
                       data={**answers, "suite_analyse": "liste_attente"})
    assert done.status_code == 302
    assert _orientations(site) == [("liste_attente", [])]


def test_the_operator_answers_with_the_territory_s_reasons(site: Site,
                                                           clock: FixedClock) -> None:
    with _session(site) as session:
        orient(session, clock, site.place, site.case_id, site.place.free)
        task_id = open_step(session, site.case_id, "decision")
    client = _client(site, "alpha@demo.test")
    page = client.get(f"/taches/{task_id}").get_data(as_text=True)
    assert "Hors du secteur d&#39;intervention" in page
    assert 'value="hors_secteur"' in page  # the code is the value, the label is read
    refused = client.post(f"/taches/{task_id}", data={"decision": "refusee"})
    assert refused.status_code == 422
    assert "Indiquez au moins un motif de refus." in refused.get_data(as_text=True)
    detail = client.post(f"/taches/{task_id}", data={"decision": "refusee",
                                                     "motifs_refus": ["autre"]})
    assert detail.status_code == 422
    assert "Précisez le motif" in detail.get_data(as_text=True)
    assert _orientations(site) == [("envoyee", [])]
    done = client.post(f"/taches/{task_id}", data={
        "decision": "refusee", "motifs_refus": ["hors_secteur", "pas_de_place"],
        "message_orienteur": "Quartier hors secteur", "message_personne": "Désolés"})
    assert done.status_code == 302
    assert _orientations(site) == [("refusee", ["hors_secteur", "pas_de_place"])]


def test_the_case_page_tells_the_orientations_in_labels(site: Site,
                                                        clock: FixedClock) -> None:
    with _session(site) as session:
        orient(session, clock, site.place, site.case_id, site.place.free,
               argumentaire="Besoin d'un appui au relogement")
        answer(session, clock, site.place.worker_a, site.case_id, decision="refusee",
               motifs_refus=["hors_secteur"], message_orienteur="Voir la Maison des solidarités",
               message_personne="Un autre service vous sera proposé")
        orient(session, clock, site.place, site.case_id, site.place.uncounted)
    for email, links in (("coord@demo.test", True), ("ccas@demo.test", False)):
        page = _client(site, email).get(f"/dossiers/{site.case_id}").get_data(as_text=True)
        text = _text(page)
        assert "Orientations" in text
        assert "AVDL Alpha — Association Alpha" in text and "IML Gamma" in text
        assert "Refusée" in text and "Envoyée" in text
        assert "Hors du secteur d&#39;intervention" in page
        assert "Voir la Maison des solidarités" in text
        assert "Un autre service vous sera proposé" in text
        assert "Historique de l’orientation" in text
        assert "Service proposé" in text and "IML Gamma (Association Gamma)" in text
        assert not any(re.search(rf"\b{code}\b", text) for code in CODES), email
        assert ("Envoyer un lien de réponse sans compte" in text) is links
        # the facts never show a raw service id
        assert not re.search(r"Service proposé\s*</dt>\s*<dd>\s*\d+\s*<", page)


def test_a_partner_without_consent_sees_no_orientation(site: Site, clock: FixedClock) -> None:
    with _session(site) as session:
        case_id = new_case(session, clock, site.place, "Ménage Sans Accord", consent=False)
        orient(session, clock, site.place, case_id, site.place.free)
    page = _client(site, "ccas@demo.test").get(f"/dossiers/{case_id}")
    assert page.status_code == 200
    assert "AVDL Alpha" not in page.get_data(as_text=True)


def test_the_reasons_page_is_the_coordination_s(site: Site) -> None:
    coordinator = _client(site, "coord@demo.test")
    page = coordinator.get("/motifs-de-refus/")
    assert page.status_code == 200
    assert "Autre motif (à préciser)" in page.get_data(as_text=True)
    added = coordinator.post("/motifs-de-refus/", data={"label": "Logement indigne",
                                                        "needs_detail": "y"})
    assert added.status_code == 302
    with _session(site) as session:
        reason = session.scalar(select(RefusalReason).where(
            RefusalReason.code == "logement_indigne"))
        assert reason is not None and reason.needs_detail
        reason_id = reason.id
    double = coordinator.post("/motifs-de-refus/", data={"label": "Logement indigne"})
    assert double.status_code == 422
    assert "déjà l&#39;intitulé" in double.get_data(as_text=True)
    twice = coordinator.post("/motifs-de-refus/", data={"label": "Autre", "code": "autre"})
    assert twice.status_code == 422
    assert "déjà celui d&#39;un autre motif" in twice.get_data(as_text=True)
    bad = coordinator.post("/motifs-de-refus/", data={"label": "X", "code": "Pas Bon"})
    assert bad.status_code == 422
    empty = coordinator.post("/motifs-de-refus/", data={"label": "   "})
    assert empty.status_code == 422
    renamed = coordinator.post("/motifs-de-refus/modifier", data={
        "motif": reason_id, "intitule": "Habitat indigne", "action": "enregistrer"})
    assert renamed.status_code == 302
    retired = coordinator.post("/motifs-de-refus/modifier", data={
        "motif": reason_id, "action": "retirer"}, follow_redirects=True)
    text = retired.get_data(as_text=True)
    assert "Habitat indigne" in text and "Retiré, gardé pour l’historique" in text
    with _session(site) as session:
        reason = session.get(RefusalReason, reason_id)
        assert reason is not None and not reason.active and not reason.needs_detail


def test_a_partner_and_another_territory_are_refused(site: Site) -> None:
    with _session(site) as session:
        before = session.scalar(select(func.count()).select_from(RefusalReason).where(
            RefusalReason.active.is_(True)))
        reason_id = session.scalar(select(RefusalReason.id).where(
            RefusalReason.territory_id == site.place.world.territory.id).limit(1))
    for email in ("ccas@demo.test", "alpha@demo.test"):
        client = _client(site, email)
        assert client.get("/motifs-de-refus/").status_code == 403
        assert client.post("/motifs-de-refus/", data={"label": "Motif"}).status_code == 403
        assert client.post("/motifs-de-refus/modifier", data={
            "motif": reason_id, "action": "retirer"}).status_code == 403
    outsider = _client(site, "autre@demo.test")
    assert outsider.post("/motifs-de-refus/modifier", data={
        "motif": reason_id, "action": "retirer"}).status_code == 404
    # another territory named in the query: one's own list is shown
    page = outsider.get(f"/motifs-de-refus/?territoire={site.place.world.territory.id}")
    assert page.status_code == 200
    with _session(site) as session:
        assert session.scalar(select(func.count()).select_from(RefusalReason).where(
            RefusalReason.active.is_(True))) == before


@pytest.mark.parametrize("body", [
    {"motif": "9" * 30, "action": "retirer"},
    {"motif": "abc", "action": "retirer"},
    {"motif": "1", "action": "supprimer"},
    {"action": "retirer"},
    {"motif": "999999", "action": "retirer"},
    {"motif": "1", "intitule": "x" * 201, "action": "enregistrer"},
    {"motif": "1", "intitule": "Nul\x00", "action": "enregistrer"},
])
def test_bad_input_on_the_reasons_is_refused_not_a_500(site: Site,
                                                       body: dict[str, str]) -> None:
    coordinator = _client(site, "coord@demo.test")
    answer_ = coordinator.post("/motifs-de-refus/modifier", data=body)
    assert answer_.status_code in (302, 400, 404, 422)
    with _session(site) as session:
        first = session.get(RefusalReason, 1)
        assert first is not None and first.label == "Pas de place disponible" and first.active
    assert coordinator.post("/motifs-de-refus/", data={"label": "y" * 201}).status_code == 422
