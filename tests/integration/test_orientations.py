"""Orientations as a first-class record (issue #13, items 2 and 4): created from the
platform's orientation form, answered by the operator (coded reasons, places), reviewed,
expired, cancelled with the case, each move logged and told; the territory's refusal
reasons kept by its coordination. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.core.bundles import Role
from engine.core.bundles import Territory as TerritoryFile
from engine.errors import Conflict, FormInvalid, InvalidInput, NotFound, PermissionDenied
from engine.mail import LogSender
from engine.persistence.db import transaction
from engine.persistence.models import (
    AuditEvent,
    Case,
    CaseParty,
    DirectoryPlaceChange,
    DirectoryService,
    HumanTask,
    Orientation,
    OrientationEvent,
    OutboxMessage,
    RefusalReason,
)
from engine.services import (
    cases,
    directory,
    notices,
    orientations,
    refusal_reasons,
    runtime,
    tasks,
)
from engine.services.access import SYSTEM
from engine.services.territories import ensure_territory
from tests.integration.factories import make_party
from tests.integration.orientation_world import (
    Oriented,
    answer,
    new_case,
    open_step,
    orient,
    oriented_world,
)


@pytest.fixture
def place(session: Session, clock: FixedClock, tmp_path: Path) -> Oriented:
    return oriented_world(session, clock, tmp_path)


def _rows(session: Session, case_id: int) -> list[Orientation]:
    session.expire_all()
    return list(session.scalars(select(Orientation).where(Orientation.case_id == case_id)
                                .order_by(Orientation.id)))


def _places(session: Session, service_id: int) -> int | None:
    session.expire_all()
    return session.scalar(select(DirectoryService.places_available).where(
        DirectoryService.id == service_id))


def _notices(session: Session, kind: str) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)
                                .order_by(OutboxMessage.id)))


def _refused(exc: pytest.ExceptionInfo[FormInvalid], field: str, words: str) -> None:
    assert field in exc.value.errors, exc.value.errors
    assert words in " ".join(exc.value.errors[field]), exc.value.errors


# --------------------------------------------------------------------------- creating


def test_an_orientation_is_sent_to_the_service_and_its_operator_told(
        session: Session, clock: FixedClock, place: Oriented) -> None:
    case_id = new_case(session, clock, place)
    orient(session, clock, place, case_id, place.free, argumentaire="Besoin d'un appui")
    [row] = _rows(session, case_id)
    assert (row.state, row.service_id, row.organisation_id, row.measure, row.part) == (
        "envoyee", place.free, place.org_a, "avdl", "operator")
    assert row.comment == "Besoin d'un appui" and row.step == "Analyser la demande"
    # the operator part follows: the decision step is offered to operator A's people
    holder = session.scalar(select(CaseParty.organisation_id).where(
        CaseParty.case_id == case_id, CaseParty.part == "operator", CaseParty.until.is_(None)))
    assert holder == place.org_a
    step = session.get(HumanTask, open_step(session, case_id, "decision"))
    assert step is not None and step.organisation_id == place.org_a
    [event] = session.scalars(select(OrientationEvent))
    assert (event.before, event.after, event.via, event.user_id) == (
        None, "envoyee", "compte", place.world.coordinator.user_id)
    [notice] = _notices(session, "orientation")
    assert notice.payload["organisation_id"] == place.org_a
    assert notice.payload["service"] == "AVDL Alpha"
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "orientation.create")) == 1
    sender = LogSender()
    notices.deliver(session, clock, sender)
    [mail] = [m for m in sender.sent if "orientation" in m.subject]
    assert mail.to == ("alpha@demo.test",)
    assert "AVDL Alpha" in mail.body and "Martin" not in mail.body


def test_the_task_page_offers_the_matching_services_best_first(
        session: Session, clock: FixedClock, place: Oriented) -> None:
    case_id = new_case(session, clock, place)
    # the commune comes from an earlier answer in a real circuit: here, the saisine's data
    task_id = open_step(session, case_id, "analyse")
    detail = tasks.details(session, clock, place.world.coordinator, task_id)
    assert detail.form is not None
    [spec] = [f for f in detail.form.fields if f.name == "service_oriente"]
    labels = [c.label for c in spec.choices]
    assert spec.kind == "choice"
    assert labels[-1] == "ASLL Gamma · Association Gamma — complet, liste d'attente : 4"
    assert "AVDL Alpha · Association Alpha — 2 places libres" in labels
    assert "IML Gamma · Association Gamma — places non renseignées" in labels
    assert not any("Lointain" in label for label in labels)
    enum = detail.form.schema["properties"]["service_oriente"]["enum"]
    assert sorted(enum) == sorted([place.free, place.full, place.uncounted, place.albi])
    # with the household's commune: Albi's service comes last, marked
    form = orientations.with_services(session, clock, place.world.territory.id,
                                      tasks.form_of(session, place.world.coordinator,
                                                    task_id)[1], {"commune": "Toulouse"})
    assert form is not None
    [spec] = [f for f in form.fields if f.name == "service_oriente"]
    assert spec.choices[-1].value == place.albi
    assert "hors des besoins ou du secteur" in spec.choices[-1].label


def test_a_need_domain_brings_the_specialised_service_in(
        session: Session, clock: FixedClock, place: Oriented) -> None:
    directory.create(session, clock, SYSTEM, place.world.territory.id, directory.Entry(
        organisation_id=place.org_b, measure="partenaire_specialise", name="Équipe psy",
        domains=("mental",), places_available=1, capacity=2))
    case_id = new_case(session, clock, place)
    form = tasks.form_of(session, place.world.coordinator, open_step(session, case_id,
                                                                     "analyse"))[1]
    without = orientations.with_services(session, clock, place.world.territory.id, form,
                                         {"commune": "Toulouse"})
    with_need = orientations.with_services(session, clock, place.world.territory.id, form,
                                           {"commune": "Toulouse", "domaines": ["MENTAL"]})
    assert without is not None and with_need is not None

    def offered(spec_form: Any) -> list[str]:
        [spec] = [f for f in spec_form.fields if f.name == "service_oriente"]
        return [c.label for c in spec.choices]

    [psy] = [x for x in offered(without) if x.startswith("Équipe psy")]
    assert psy.endswith("(hors des besoins ou du secteur du ménage)")
    assert "Équipe psy · Association Gamma — 1 place libre" in offered(with_need)[:3]


def test_a_full_service_is_refused_unless_to_its_waiting_list(
        session: Session, clock: FixedClock, place: Oriented) -> None:
    case_id = new_case(session, clock, place)
    with pytest.raises(FormInvalid) as exc:
        orient(session, clock, place, case_id, place.full)
    _refused(exc, "service_oriente", "n'a plus de place disponible")
    assert _rows(session, case_id) == []
    assert open_step(session, case_id, "analyse")  # nothing moved
    assert session.scalar(select(func.count()).select_from(CaseParty).where(
        CaseParty.case_id == case_id, CaseParty.part == "operator")) == 0
    orient(session, clock, place, case_id, place.full, suite_analyse="liste_attente")
    [row] = _rows(session, case_id)
    assert row.state == "liste_attente"
    assert _places(session, place.full) == 0


@pytest.mark.parametrize("which", ["elsewhere", "inactive", "unknown"])
def test_a_service_of_another_territory_or_withdrawn_is_refused(
        session: Session, clock: FixedClock, place: Oriented, which: str) -> None:
    case_id = new_case(session, clock, place)
    service_id = {"elsewhere": place.elsewhere, "inactive": place.free,
                  "unknown": 999_999}[which]
    if which == "inactive":
        directory.set_active(session, clock, SYSTEM, place.free, False)
    with pytest.raises(FormInvalid) as exc:
        orient(session, clock, place, case_id, service_id)
    words = "retiré de l'annuaire" if which == "inactive" else "pas dans l'annuaire"
    _refused(exc, "service_oriente", words)
    assert _rows(session, case_id) == []


def test_a_new_orientation_cancels_the_open_one(
        session: Session, clock: FixedClock, place: Oriented) -> None:
    case_id = new_case(session, clock, place)
    orient(session, clock, place, case_id, place.free)
    case = session.get(Case, case_id)
    assert case is not None
    form = runtime.compiled(session, case.circuit_version_id).forms["mini-analyse.json"]
    with transaction(session):
        orientations.from_answers(session, clock, place.world.coordinator, case, form,
                                  {"service_oriente": place.uncounted}, "Réorienter")
    first, second = _rows(session, case_id)
    assert (first.state, second.state) == ("annulee", "envoyee")
    event = session.scalar(select(OrientationEvent).where(
        OrientationEvent.orientation_id == first.id, OrientationEvent.after == "annulee"))
    assert event is not None and event.comment == "Remplacée par une nouvelle orientation"


# --------------------------------------------------------------------------- answering


def test_a_refusal_needs_a_reason_and_autre_needs_its_detail(
        session: Session, clock: FixedClock, place: Oriented) -> None:
    case_id = new_case(session, clock, place)
    orient(session, clock, place, case_id, place.free)
    with pytest.raises(FormInvalid) as exc:
        answer(session, clock, place.worker_a, case_id, decision="refusee")
    _refused(exc, "motifs_refus", "au moins un motif")
    with pytest.raises(FormInvalid) as exc:
        answer(session, clock, place.worker_a, case_id, decision="refusee",
               motifs_refus=["autre"])
    _refused(exc, "precision_motif", "Autre motif")
    with pytest.raises(FormInvalid) as exc:
        answer(session, clock, place.worker_a, case_id, decision="refusee",
               motifs_refus=["invente"])
    _refused(exc, "motifs_refus", "inconnu ou retiré")
    [row] = _rows(session, case_id)
    assert row.state == "envoyee" and row.answered_at is None
    assert open_step(session, case_id, "decision")


def test_a_refusal_is_recorded_and_told_to_the_referrer(
        session: Session, clock: FixedClock, place: Oriented) -> None:
    case_id = new_case(session, clock, place)
    orient(session, clock, place, case_id, place.free)
    answer(session, clock, place.worker_a, case_id, decision="refusee",
           motifs_refus=["hors_secteur", "autre"], precision_motif="Quartier non couvert",
           message_orienteur="Voir avec le CCAS", message_personne="Nous ne pouvons pas")
    [row] = _rows(session, case_id)
    assert row.state == "refusee" and row.reasons == ["hors_secteur", "autre"]
    assert (row.reason_detail, row.message_referrer, row.answer_household) == (
        "Quartier non couvert", "Voir avec le CCAS", "Nous ne pouvons pas")
    assert row.answered_by_id == place.worker_a.user_id and row.answered_via == "compte"
    assert open_step(session, case_id, "analyse")  # back to the orientation step
    [notice] = _notices(session, "orientation-reponse")
    assert notice.payload["organisation_id"] == place.referrer_org
    assert "Hors du secteur" in notice.payload["reasons"]
    sender = LogSender()
    notices.deliver(session, clock, sender)
    [mail] = [m for m in sender.sent if "réponse" in m.subject]
    assert mail.to == ("ccas@demo.test",)
    assert "refusée" in mail.body and "Hors du secteur d'intervention" in mail.body
    assert "Voir avec le CCAS" not in mail.body  # the message is read on the case page
    [item] = orientations.of_case(session, clock, place.partner, case_id)
    assert item.reasons == ("Hors du secteur d'intervention", "Autre motif (à préciser)")
    assert item.state_label == "Refusée" and item.answered_by == "Alpha"
    assert [(e.before, e.after) for e in item.events] == [(None, "Envoyée"),
                                                          ("Envoyée", "Refusée")]


def test_accepting_takes_a_place_and_the_end_gives_it_back(
        session: Session, clock: FixedClock, place: Oriented) -> None:
    case_id = new_case(session, clock, place)
    orient(session, clock, place, case_id, place.free)
    answer(session, clock, place.worker_a, case_id, decision="acceptee",
           message_personne="Un rendez-vous vous sera proposé")
    [row] = _rows(session, case_id)
    assert row.state == "acceptee" and row.place_taken
    assert _places(session, place.free) == 1
    assert session.scalar(select(DirectoryPlaceChange.comment).where(
        DirectoryPlaceChange.service_id == place.free).order_by(
        DirectoryPlaceChange.id.desc()).limit(1)) == "Orientation acceptée — dossier " + \
        session.get(Case, case_id).reference  # type: ignore[union-attr]
    assert open_step(session, case_id, "suivi")
    cases.close(session, clock, place.world.coordinator, case_id, "Accompagnement terminé")
    [row] = _rows(session, case_id)
    assert row.state == "acceptee" and row.place_returned_at is not None
    assert _places(session, place.free) == 2
    last = session.scalar(select(OrientationEvent).where(
        OrientationEvent.orientation_id == row.id).order_by(OrientationEvent.id.desc()))
    assert last is not None and last.comment == "Fin de l'accompagnement : place rendue"
    [item] = orientations.of_case(session, clock, place.world.coordinator, case_id)
    assert item.place_taken and item.place_returned_at is not None


def test_an_acceptance_that_ends_the_case_stays_accepted_and_gives_the_place_back(
        session: Session, clock: FixedClock, tmp_path: Path) -> None:
    """The answer is recorded before the case's end is: the end then gives the place back
    instead of cancelling an orientation it would still see open."""
    place = oriented_world(session, clock, tmp_path, support=False)
    case_id = new_case(session, clock, place)
    orient(session, clock, place, case_id, place.free)
    answer(session, clock, place.worker_a, case_id, decision="acceptee")
    assert session.get(Case, case_id).status == "completed"  # type: ignore[union-attr]
    [row] = _rows(session, case_id)
    assert row.state == "acceptee" and row.place_taken and row.place_returned_at is not None
    assert _places(session, place.free) == 2


def test_accepting_without_a_place_left_is_refused(
        session: Session, clock: FixedClock, place: Oriented) -> None:
    case_id = new_case(session, clock, place)
    orient(session, clock, place, case_id, place.free)
    directory.update_places(session, clock, SYSTEM, place.free, 0, "Complet")
    with pytest.raises(FormInvalid) as exc:
        answer(session, clock, place.worker_a, case_id, decision="acceptee")
    _refused(exc, "decision", "inscrivez la personne en liste d'attente")
    assert _rows(session, case_id)[0].state == "envoyee"
    answer(session, clock, place.worker_a, case_id, decision="liste_attente")
    assert _rows(session, case_id)[0].state == "liste_attente"


def test_accepting_a_service_whose_places_are_not_counted(
        session: Session, clock: FixedClock, place: Oriented) -> None:
    case_id = new_case(session, clock, place)
    orient(session, clock, place, case_id, place.uncounted)
    answer(session, clock, place.worker_b, case_id, decision="acceptee")
    [row] = _rows(session, case_id)
    assert row.state == "acceptee" and not row.place_taken
    assert _places(session, place.uncounted) is None


def test_an_answer_without_an_orientation_records_nothing(
        session: Session, clock: FixedClock, place: Oriented) -> None:
    """An older case, oriented before the directory (its answer step asks all the same)."""
    case_id = new_case(session, clock, place)
    tasks.complete(session, clock, place.world.coordinator,
                   open_step(session, case_id, "analyse"), {"mesure": "avdl"})
    make_party(session, clock, case_id, "operator", place.org_a)  # named by hand, then
    answer(session, clock, place.worker_a, case_id, decision="acceptee")
    assert _rows(session, case_id) == []


# --------------------------------------------------------------------------- other moves


def test_claiming_the_answer_step_puts_it_under_review(
        session: Session, clock: FixedClock, place: Oriented) -> None:
    case_id = new_case(session, clock, place)
    orient(session, clock, place, case_id, place.free)
    tasks.claim(session, clock, place.worker_a, open_step(session, case_id, "decision"))
    [row] = _rows(session, case_id)
    assert row.state == "en_cours_examen"
    assert orientations.mark_reviewing(session, clock, row.id, "lien") is False
    with pytest.raises(NotFound):
        orientations.mark_reviewing(session, clock, 999_999, "lien")


def test_mark_reviewing_through_a_link(
        session: Session, clock: FixedClock, place: Oriented) -> None:
    case_id = new_case(session, clock, place)
    orient(session, clock, place, case_id, place.free)
    [row] = _rows(session, case_id)
    with transaction(session):
        assert orientations.mark_reviewing(session, clock, row.id, "lien")
    [item] = orientations.of_case(session, clock, place.world.coordinator, case_id)
    assert item.state == "en_cours_examen" and item.events[-1].who == "Lien de réponse"


def test_expire_open(session: Session, clock: FixedClock, place: Oriented) -> None:
    case_id = new_case(session, clock, place)
    orient(session, clock, place, case_id, place.free)
    with transaction(session):
        assert orientations.expire_open(session, clock, case_id, "Sans réponse à 30 jours") == 1
    with transaction(session):
        assert orientations.expire_open(session, clock, case_id, "Encore") == 0
    [row] = _rows(session, case_id)
    assert row.state == "expiree"
    [item] = orientations.of_case(session, clock, place.world.coordinator, case_id)
    assert item.events[-1].who == "Délai de réponse dépassé"
    assert item.events[-1].comment == "Sans réponse à 30 jours"
    [notice] = _notices(session, "orientation-expiree")
    assert notice.payload["organisation_id"] == place.referrer_org


def test_an_open_orientation_is_cancelled_with_its_case(
        session: Session, clock: FixedClock, place: Oriented) -> None:
    case_id = new_case(session, clock, place)
    orient(session, clock, place, case_id, place.free)
    cases.close(session, clock, place.world.coordinator, case_id, "Doublon", cancel=True)
    [row] = _rows(session, case_id)
    assert row.state == "annulee"
    assert _places(session, place.free) == 2  # no place was taken


# --------------------------------------------------------------------------- reading


def test_who_reads_the_orientations(session: Session, clock: FixedClock,
                                    place: Oriented) -> None:
    case_id = new_case(session, clock, place, consent=False)
    orient(session, clock, place, case_id, place.free)
    [item] = orientations.of_case(session, clock, place.world.coordinator, case_id)
    assert item.may_send_link and item.service_name == "AVDL Alpha"
    assert item.organisation_name == "Association Alpha"
    assert item.measure.startswith("AVDL — Accompagnement")
    # the referrer without the household's consent: the minimal view, no orientation
    assert orientations.of_case(session, clock, place.partner, case_id) == []
    with pytest.raises(NotFound):
        orientations.of_case(session, clock, place.world.outsider, case_id)
    consented = new_case(session, clock, place, "Ménage Durand")
    orient(session, clock, place, consented, place.free)
    [item] = orientations.of_case(session, clock, place.partner, consented)
    assert not item.may_send_link


def test_the_case_facts_name_the_service_not_its_id(
        session: Session, clock: FixedClock, place: Oriented) -> None:
    case_id = new_case(session, clock, place)
    orient(session, clock, place, case_id, place.free)
    answer(session, clock, place.worker_a, case_id, decision="refusee",
           motifs_refus=["pas_de_place"])
    facts = dict(cases.get(session, clock, place.world.coordinator, case_id).facts)
    assert facts["Service proposé"] == "AVDL Alpha (Association Alpha)"
    assert facts["Motifs du refus"] == "Pas de place disponible"


# --------------------------------------------------------------------------- reasons


def test_a_new_territory_starts_with_the_default_reasons(
        session: Session, clock: FixedClock) -> None:
    territory = ensure_territory(session, clock, SYSTEM, TerritoryFile(
        "neuf", "Neuf", (Role("coordination", "Coordination"),)))
    codes = [r.code for r in refusal_reasons.active_of(session, territory.id)]
    assert codes[0] == "pas_de_place" and codes[-1] == "autre" and len(codes) == 9
    ensure_territory(session, clock, SYSTEM, TerritoryFile(
        "neuf", "Neuf", (Role("coordination", "Coordination"),)))  # an update adds none
    assert session.scalar(select(func.count()).select_from(RefusalReason).where(
        RefusalReason.territory_id == territory.id)) == 9


def test_the_coordination_keeps_the_reasons(session: Session, clock: FixedClock,
                                            place: Oriented) -> None:
    territory = place.world.territory.id
    coordinator = place.world.coordinator
    added = refusal_reasons.add(session, clock, coordinator, territory, "  Logement indigne ")
    assert (added.code, added.label, added.active) == ("logement_indigne",
                                                       "Logement indigne", True)
    with pytest.raises(Conflict):  # the same wording twice (a double submit)
        refusal_reasons.add(session, clock, coordinator, territory, "logement  INDIGNE")
    again = refusal_reasons.add(session, clock, coordinator, territory, "Logement-indigne")
    assert again.code == "logement_indigne_2"
    typed = refusal_reasons.add(session, clock, coordinator, territory, "Sans papiers",
                                code="titre_sejour", needs_detail=True)
    assert typed.needs_detail and typed.position > added.position
    with pytest.raises(Conflict):
        refusal_reasons.add(session, clock, coordinator, territory, "Autre", code="autre")
    with pytest.raises(InvalidInput):
        refusal_reasons.add(session, clock, coordinator, territory, "X", code="Pas bon!")
    with pytest.raises(InvalidInput):
        refusal_reasons.add(session, clock, coordinator, territory, "   ")
    with pytest.raises(InvalidInput):
        refusal_reasons.add(session, clock, coordinator, territory, "x" * 201)
    renamed = refusal_reasons.edit(session, clock, coordinator, added.id, "Habitat indigne",
                                   True)
    assert (renamed.code, renamed.label, renamed.needs_detail) == (
        "logement_indigne", "Habitat indigne", True)
    actions = list(session.scalars(select(AuditEvent.action).where(
        AuditEvent.action.like("reason.%"))))
    assert actions == ["reason.create"] * 3 + ["reason.update"]


def test_a_retired_reason_is_no_longer_offered_but_keeps_its_label(
        session: Session, clock: FixedClock, place: Oriented) -> None:
    territory = place.world.territory.id
    coordinator = place.world.coordinator
    case_id = new_case(session, clock, place)
    orient(session, clock, place, case_id, place.free)
    answer(session, clock, place.worker_a, case_id, decision="refusee",
           motifs_refus=["injoignable"])
    reason = next(r for r in refusal_reasons.listed(session, coordinator, territory)
                  if r.code == "injoignable")
    retired = refusal_reasons.set_active(session, clock, coordinator, reason.id, False)
    assert not retired.active
    assert "injoignable" not in {r.code for r in refusal_reasons.active_of(session,
                                                                           territory)}
    assert refusal_reasons.listed(session, coordinator, territory)[-1].code == "injoignable"
    [item] = orientations.of_case(session, clock, coordinator, case_id)
    assert item.reasons == ("Personne injoignable",)
    # the page no longer offers it, and a forged answer with it is refused
    orient(session, clock, place, case_id, place.free)
    form = tasks.form_of(session, place.worker_a, open_step(session, case_id, "decision"))[1]
    assert form is not None
    [spec] = [f for f in form.fields if f.name == "motifs_refus"]
    assert "injoignable" not in {c.value for c in spec.choices}
    with pytest.raises(FormInvalid):
        answer(session, clock, place.worker_a, case_id, decision="refusee",
               motifs_refus=["injoignable"])
    back = refusal_reasons.set_active(session, clock, coordinator, reason.id, True)
    assert back.active
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action.in_(["reason.retire", "reason.reactivate"]))) == 2


def test_a_new_reason_is_offered_and_accepted(session: Session, clock: FixedClock,
                                              place: Oriented) -> None:
    """The circuit's form does not list the codes: a reason added today works today."""
    refusal_reasons.add(session, clock, place.world.coordinator, place.world.territory.id,
                        "Ressources insuffisantes")
    case_id = new_case(session, clock, place)
    orient(session, clock, place, case_id, place.free)
    answer(session, clock, place.worker_a, case_id, decision="refusee",
           motifs_refus=["ressources_insuffisantes"])
    assert _rows(session, case_id)[0].reasons == ["ressources_insuffisantes"]


def test_only_the_coordination_keeps_the_reasons(session: Session, clock: FixedClock,
                                                 place: Oriented) -> None:
    territory = place.world.territory.id
    reason_id = refusal_reasons.active_of(session, territory)[0].id
    for who in (place.partner, place.worker_a):
        with pytest.raises(PermissionDenied):
            refusal_reasons.listed(session, who, territory)
        with pytest.raises(PermissionDenied):
            refusal_reasons.add(session, clock, who, territory, "Motif")
        with pytest.raises(PermissionDenied):
            refusal_reasons.edit(session, clock, who, reason_id, "Renommé", False)
        with pytest.raises(PermissionDenied):
            refusal_reasons.set_active(session, clock, who, reason_id, False)
    outsider = place.world.outsider
    with pytest.raises(NotFound):
        refusal_reasons.listed(session, outsider, territory)
    with pytest.raises(NotFound):
        refusal_reasons.set_active(session, clock, outsider, reason_id, False)
    with pytest.raises(NotFound):
        refusal_reasons.edit(session, clock, place.world.coordinator, 999_999, "X", False)
    assert refusal_reasons.active_of(session, territory)[0].label == "Pas de place disponible"
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "reason.refused")) == 6
