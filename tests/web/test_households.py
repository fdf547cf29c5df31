"""The household pages (issue #13 item 6) through the Flask client, on SQLite and PostgreSQL:
the flash after opening a likely duplicate, the duplicates page, merge and dismiss (double
submits, forged posts, other people), the household's page and the case page's panel."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.clock import FixedClock
from engine.persistence.models import Case, HouseholdMatch
from engine.services import cases
from engine.services.access import Actor
from tests.integration.factories import PASSWORD, World, declare_parts, make_org, make_user
from tests.integration.factories import make_world as make_world_in
from tests.integration.test_households import household_circuit


@dataclass
class Site:
    app: Flask
    clock: FixedClock
    world: World
    partner: Actor
    first: int  # « Marie Dupont », 1980, Démoville

    def client(self, email: str) -> FlaskClient:
        client = self.app.test_client()
        answer = client.post("/connexion", data={"email": email, "password": PASSWORD})
        assert answer.status_code == 302, email
        return client

    def matches(self) -> list[tuple[int, str]]:
        with self.app.extensions["aiguillage"].sessions() as session:
            return [(m.id, m.status) for m in session.scalars(
                select(HouseholdMatch).order_by(HouseholdMatch.id))]

    def households(self) -> dict[int, int | None]:
        with self.app.extensions["aiguillage"].sessions() as session:
            return dict(session.execute(select(Case.id, Case.household_id)).all())  # type: ignore[arg-type]


@pytest.fixture
def site(any_app: Flask, clock: FixedClock, tmp_path: Path) -> Site:
    with any_app.extensions["aiguillage"].sessions() as session:
        world = make_world_in(session, clock, household_circuit(tmp_path))
        declare_parts(session, world.territory.id)
        ccas = make_org(session, clock, world.territory.id, "CCAS d'essai", "ccas")
        partner = make_user(session, clock, "orienteur@essai.test", world.territory.id,
                            "orienteur", organisation=ccas)
        first = cases.start(session, clock, world.coordinator, world.circuit.id, {
            "nom_menage": "Marie Dupont", "annee_naissance": 1980, "commune": "Démoville"}).id
    return Site(any_app, clock, world, partner, first)


def _open(site: Site, client: FlaskClient, name: str, **extra: str) -> str:
    answer = client.post(f"/dossiers/nouveau?circuit={site.world.circuit.id}",
                         data={"nom_menage": name, **extra}, follow_redirects=True)
    assert answer.status_code == 200
    return unescape(answer.text)


def test_a_coordinator_opening_a_likely_duplicate_is_told_and_sees_it_side_by_side(
        site: Site) -> None:
    coordinator = site.client("coord@demo.test")
    page = _open(site, coordinator, "DUPONT Marie", annee_naissance="1980",
                 commune="demoville")
    assert "ressemble à 1 ménage déjà connu" in page
    assert "Le ménage dans les autres circuits" in page
    assert "1 doublon probable à vérifier" in page
    listed = unescape(coordinator.get("/menages/doublons").text)
    assert "Doublon très probable" in listed and "signalé le 09/01/2026" in listed
    assert listed.count("Marie Dupont") == 1 and "DUPONT Marie" in listed
    assert "1980" in listed and "Démoville" in listed and "demoville" in listed
    assert "Ce ne sont pas les mêmes ménages" in listed
    assert "Doublons" in unescape(coordinator.get("/taches/").text)  # the navigation link


def test_a_different_household_raises_no_flag(site: Site) -> None:
    page = _open(site, site.client("coord@demo.test"), "Marie Dupont",
                 annee_naissance="1990", commune="Démoville")
    assert "ressemble" not in page and "doublon probable" not in page
    assert site.matches() == []


def test_a_birth_year_out_of_range_is_refused_beside_its_field(site: Site) -> None:
    client = site.client("coord@demo.test")
    for year in ("1899", "2027", "abc"):
        answer = client.post(f"/dossiers/nouveau?circuit={site.world.circuit.id}",
                             data={"nom_menage": "Marie Dupont", "annee_naissance": year})
        assert answer.status_code == 422, year
    assert len(site.households()) == 1


def test_merge_moves_the_cases_and_a_second_submit_changes_nothing(site: Site) -> None:
    coordinator = site.client("coord@demo.test")
    _open(site, coordinator, "Marie Dupond", annee_naissance="1980")
    [(match, _)] = site.matches()
    answer = coordinator.post(f"/menages/doublons/{match}/fusionner")
    assert answer.status_code == 302
    assert "1 dossier rattaché" in unescape(coordinator.get(answer.location).text)
    linked = site.households()
    assert len(set(linked.values())) == 1
    again = coordinator.post(f"/menages/doublons/{match}/fusionner")
    assert again.status_code == 409 and "déjà été traité" in unescape(again.text)
    assert coordinator.post(f"/menages/doublons/{match}/ecarter").status_code == 409
    assert site.households() == linked and site.matches() == [(match, "merged")]
    # the household's page: both cases, with the name
    household = next(iter(linked.values()))
    page = unescape(coordinator.get(f"/menages/{household}").text)
    assert "Ménage Marie Dupont" in page and page.count('href="/dossiers/') >= 2
    case_page = unescape(coordinator.get(f"/dossiers/{site.first}").text)
    assert "Le ménage dans les autres circuits" in case_page
    assert "Voir tous les dossiers du ménage" in case_page


def test_dismiss_keeps_both_households(site: Site) -> None:
    coordinator = site.client("coord@demo.test")
    _open(site, coordinator, "Marie Dupont")
    [(match, _)] = site.matches()
    answer = coordinator.post(f"/menages/doublons/{match}/ecarter", follow_redirects=True)
    assert answer.status_code == 200 and "restent distincts" in unescape(answer.text)
    assert "Aucun doublon probable à vérifier" in unescape(answer.text)
    assert len(set(site.households().values())) == 2
    assert site.matches() == [(match, "dismissed")]


@pytest.mark.parametrize("email", ["orienteur@essai.test", "op@demo.test", "autre@demo.test"])
def test_others_may_neither_list_nor_decide(site: Site, email: str) -> None:
    _open(site, site.client("coord@demo.test"), "Marie Dupont")
    [(match, _)] = site.matches()
    client = site.client(email)
    expected = 404 if email == "autre@demo.test" else 403
    listed = client.get("/menages/doublons")
    if email == "autre@demo.test":  # coordinates another territory: its own list, empty
        assert listed.status_code == 200 and "Dupont" not in listed.text
    else:
        assert listed.status_code == 403
    for action in ("fusionner", "ecarter"):
        assert client.post(f"/menages/doublons/{match}/{action}").status_code == expected
    household = site.households()[site.first]
    assert client.get(f"/menages/{household}").status_code == 404
    assert site.matches() == [(match, "open")]
    if email != "autre@demo.test":
        assert "Doublons" not in client.get("/taches/").text


@pytest.mark.parametrize("url", ["/menages/999999", "/menages/" + "9" * 30,
                                 "/menages/doublons/999999/fusionner"])
def test_unknown_ids_are_not_found(site: Site, url: str) -> None:
    client = site.client("coord@demo.test")
    answer = client.post(url) if url.endswith("fusionner") else client.get(url)
    assert answer.status_code == 404
    assert client.post("/menages/doublons/" + "9" * 30 + "/ecarter").status_code == 404


def test_a_partner_reads_the_household_only_through_its_own_cases(site: Site) -> None:
    coordinator = site.client("coord@demo.test")
    _open(site, coordinator, "Marie Dupont")
    [(match, _)] = site.matches()
    coordinator.post(f"/menages/doublons/{match}/fusionner")
    with site.app.extensions["aiguillage"].sessions() as session:
        from tests.integration.factories import make_party
        second = max(site.households())
        ccas = next(iter(site.partner.organisations[site.world.territory.id]))
        make_party(session, site.clock, second, "referrer", ccas)
    partner = site.client("orienteur@essai.test")
    household = site.households()[site.first]
    page = unescape(partner.get(f"/menages/{household}").text)
    references = re.findall(r'href="/dossiers/(\d+)"', page)
    assert references == [str(second)]
    assert "Marie Dupont" not in page and "nom non partagé" in page
