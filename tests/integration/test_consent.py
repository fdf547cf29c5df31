"""The household's consent per part, purpose and category (issue #12, item 4): recorded on
the case page or by a form answer, withdrawn with a reason, refused when wrong or forged,
and read at once by the visibility rule. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.core.bundles import load_territory
from engine.core.forms import FormSpec, load_json_form
from engine.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engine.persistence.models import AuditEvent, Case, CaseConsent, HumanTask
from engine.services import cases, consent, parties, tasks, territories, users
from engine.services.access import SYSTEM, Actor, case_view, load_actor
from tests.integration.factories import MINI, ROOT, World, make_user, make_world

SHARED = ["identity", "household"]


@dataclass
class Place:
    """The small circuit whose saisine and analysis collect consent, with organisations."""

    world: World
    referrer_org: int
    operator_a: int
    operator_b: int
    referrer: Actor  # a person of the referring organisation (CCAS)
    worker_a: Actor  # a person of operator A
    worker_b: Actor  # a person of operator B
    referent: Actor  # holds the referent role, in no organisation


@pytest.fixture
def place(session: Session, clock: FixedClock, tmp_path: Path) -> Place:
    folder = tmp_path / "mini"
    shutil.copytree(MINI, folder)
    saisine = folder / "forms" / "mini-saisine.json"
    schema = json.loads(saisine.read_text(encoding="utf-8"))
    schema["properties"]["nom_menage"]["x-aiguillage-category"] = "identity"
    schema["properties"]["nb_enfants"]["x-aiguillage-category"] = "household"
    schema["properties"]["accord_partage"]["x-aiguillage-consent"] = {
        "parts": ["referrer", "platform", "operator"], "purpose": "assessment",
        "categories": SHARED}
    saisine.write_text(json.dumps(schema), encoding="utf-8")
    analyse = folder / "forms" / "mini-analyse.json"
    schema = json.loads(analyse.read_text(encoding="utf-8"))
    schema["properties"]["partage_operateur"] = {
        "type": "boolean", "title": "Partage avec l'opérateur",
        "x-aiguillage-consent": {"parts": ["operator", "landlord"], "purpose": "support",
                                 "categories": ["identity", "assessment"]}}
    analyse.write_text(json.dumps(schema), encoding="utf-8")
    settings = json.loads((folder / "territory.json").read_text(encoding="utf-8"))
    settings["parts"] = [{"key": p.key, "label": p.label} for p in load_territory(
        ROOT / "processes" / "reference").parts]
    settings["roles"].append({"key": "referent", "label": "Référent·e de parcours"})
    (folder / "territory.json").write_text(json.dumps(settings), encoding="utf-8")
    world = make_world(session, clock, folder)
    territory_id = world.territory.id

    def org(name: str, kind: str) -> int:
        return territories.create_organisation(session, clock, SYSTEM, territory_id, name,
                                               kind).id

    referrer_org, _ = org("CCAS de Test", "ccas"), org("Plateforme Test", "plateforme")
    operator_a, operator_b = org("Association A", "association"), org("Association B",
                                                                       "association")

    def person(email: str, role: str, organisation: int | None) -> Actor:
        made = make_user(session, clock, email)
        assert made.user_id is not None
        users.add_membership(session, clock, SYSTEM, made.user_id, territory_id, role,
                             organisation)
        return load_actor(session, made.user_id)

    return Place(world, referrer_org, operator_a, operator_b,
                 person("orienteur@demo.test", "orienteur", referrer_org),
                 person("operateur-a@demo.test", "operateur", operator_a),
                 person("operateur-b@demo.test", "operateur", operator_b),
                 person("ref@demo.test", "referent", None))


def _start(session: Session, clock: FixedClock, place: Place, agreed: bool | None = None,
           name: str = "Ménage Consenti") -> int:
    data: dict[str, object] = {"nom_menage": name, "nb_enfants": 2}
    if agreed is not None:
        data["accord_partage"] = agreed
    case_id = cases.start(session, clock, place.referrer, place.world.circuit.id, data).id
    parties.set_party(session, clock, place.world.coordinator, case_id, "operator",
                      place.operator_a, "Orientation vers A")
    return case_id


def _rows(session: Session, case_id: int | None = None) -> int:
    query = select(func.count()).select_from(CaseConsent)
    if case_id is not None:
        query = query.where(CaseConsent.case_id == case_id)
    return session.scalar(query) or 0


def _actions(session: Session, case_id: int, prefix: str = "consent.") -> list[str]:
    return list(session.scalars(select(AuditEvent.action).where(
        AuditEvent.case_id == case_id, AuditEvent.action.like(f"{prefix}%"))
        .order_by(AuditEvent.id)))


def _view(session: Session, clock: FixedClock, who: Actor, case_id: int) -> frozenset[str]:
    session.commit()  # a fresh read, as the next request would
    territory_id = session.scalar(select(Case.territory_id).where(Case.id == case_id))
    assert territory_id is not None
    return case_view(session, who, case_id, territory_id, clock.now()).categories


def test_a_coordinator_records_a_consent_per_part_and_category(
        session: Session, clock: FixedClock, place: Place) -> None:
    case_id = _start(session, clock, place)
    assert _view(session, clock, place.worker_a, case_id) == frozenset()  # before consent
    written = consent.record(session, clock, place.world.coordinator, case_id,
                             ["operator", "referrer"], "support", ["identity", "household"],
                             "oral", witness="  Mme Témoin, CCAS  ",
                             valid_until=date(2026, 6, 30))
    assert written == 4 and _rows(session, case_id) == 4
    assert _view(session, clock, place.worker_a, case_id) == frozenset(SHARED)
    with pytest.raises(NotFound):  # operator B plays no part in it
        _view(session, clock, place.worker_b, case_id)
    shown = consent.of_case(session, clock, place.world.coordinator, case_id)
    assert not shown.minimal and shown.can_record
    first = shown.decisions[0]
    assert (first.part.label, first.purpose.label, [c.label for c in first.categories],
            first.basis.label, first.witness, first.source, first.recorded_by) == (
        "Structure qui oriente", "Accompagnement",
        ["Identité et coordonnées", "Composition du ménage et ressources"],
        "Accord oral devant témoin", "Mme Témoin, CCAS", "Page du dossier", "Coord")
    assert first.valid_until is not None and first.active
    assert [p.part.key for p in shown.parts if p.given] == ["referrer", "operator"]
    [event] = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                       AuditEvent.action == "consent.given"))
    assert event.detail["parts"] == ["operator", "referrer"]
    assert "Témoin" not in json.dumps(event.detail)  # keys only, no personal data


def test_the_referrer_and_the_referent_may_record_an_operator_may_not(
        session: Session, clock: FixedClock, place: Place) -> None:
    case_id = _start(session, clock, place)
    consent.record(session, clock, place.referrer, case_id, ["operator"], "assessment",
                   ["identity"], "signed")
    case = session.get(Case, case_id)
    assert case is not None and place.referent.user_id is not None
    case.referent_id = place.referent.user_id
    session.commit()
    consent.record(session, clock, place.referent, case_id, ["operator"], "support",
                   ["assessment"], "signed")
    before = _rows(session)
    with pytest.raises(PermissionDenied):  # a party, reading the case, may not record
        consent.record(session, clock, place.worker_a, case_id, ["operator"], "support",
                       ["health"], "signed")
    with pytest.raises(PermissionDenied):
        consent.withdraw(session, clock, place.worker_a, case_id, "operator", "motif")
    with pytest.raises(NotFound):  # operator B: no part in the case
        consent.record(session, clock, place.worker_b, case_id, ["operator"], "support",
                       ["health"], "signed")
    with pytest.raises(NotFound):  # another territory
        consent.record(session, clock, place.world.outsider, case_id, ["operator"],
                       "support", ["health"], "signed")
    with pytest.raises(NotFound):
        consent.of_case(session, clock, place.world.outsider, case_id)
    with pytest.raises(NotFound):
        consent.record(session, clock, place.world.coordinator, 999_999, ["operator"],
                       "support", ["health"], "signed")
    assert _rows(session) == before
    assert _actions(session, case_id).count("consent.refused") == 4


@pytest.mark.parametrize(("parts", "purpose", "categories", "basis", "witness", "until",
                          "code"), [
    (["locataire"], "support", ["identity"], "signed", None, None, "svc.consent_part_unknown"),
    (["emss"], "support", ["identity"], "signed", None, None, "svc.consent_part_unknown"),
    ([], "support", ["identity"], "signed", None, None, "svc.consent_part_unknown"),
    (["operator"], "marketing", ["identity"], "signed", None, None,
     "svc.consent_purpose_unknown"),
    (["operator"], "support", ["religion"], "signed", None, None,
     "svc.consent_category_unknown"),
    (["operator"], "support", [], "signed", None, None, "svc.consent_category_unknown"),
    (["operator"], "support", ["identity"], "telepathy", None, None,
     "svc.consent_basis_unknown"),
    (["operator"], "support", ["identity"], "form", None, None, "svc.consent_basis_unknown"),
    (["operator"], "support", ["identity"], "oral", "   ", None,
     "svc.consent_witness_required"),
    (["operator"], "support", ["identity"], "oral", "x" * 201, None,
     "svc.consent_witness_too_long"),
    (["operator"], "support", ["identity"], "signed", None, date(2026, 1, 8),
     "svc.consent_until_past"),
])
def test_bad_consents_are_refused_in_french_and_nothing_is_stored(
        session: Session, clock: FixedClock, place: Place, parts: list[str], purpose: str,
        categories: list[str], basis: str, witness: str | None, until: date | None,
        code: str) -> None:
    case_id = _start(session, clock, place)
    before = _rows(session)
    with pytest.raises(InvalidInput) as caught:
        consent.record(session, clock, place.world.coordinator, case_id, parts, purpose,
                       categories, basis, witness=witness, valid_until=until)
    assert caught.value.code == code
    message = caught.value.message_in("fr")
    assert message and message != code and "{" not in message
    assert caught.value.message_in("en") != message
    assert _rows(session) == before and not _actions(session, case_id)


def test_a_consent_valid_until_today_ends_tonight(
        session: Session, clock: FixedClock, place: Place) -> None:
    case_id = _start(session, clock, place)
    consent.record(session, clock, place.world.coordinator, case_id, ["operator"], "support",
                   ["identity"], "signed", valid_until=date(2026, 1, 9))
    assert _view(session, clock, place.worker_a, case_id) == {"identity"}
    clock.advance(timedelta(hours=9, minutes=1))  # 00:01 in Paris, the next day
    assert _view(session, clock, place.worker_a, case_id) == frozenset()
    shown = consent.of_case(session, clock, place.world.coordinator, case_id)
    assert [d.active for d in shown.decisions] == [False]


def test_a_withdrawal_takes_effect_on_the_next_read_and_a_stale_one_is_refused(
        session: Session, clock: FixedClock, place: Place) -> None:
    case_id = _start(session, clock, place)
    coordinator = place.world.coordinator
    consent.record(session, clock, coordinator, case_id, ["operator"], "support", SHARED,
                   "signed")
    consent.record(session, clock, coordinator, case_id, ["operator"], "assessment",
                   ["health"], "signed")
    assert _view(session, clock, place.worker_a, case_id) == {*SHARED, "health"}
    with pytest.raises(InvalidInput) as caught:
        consent.withdraw(session, clock, coordinator, case_id, "operator", "  ")
    assert caught.value.code == "svc.consent_reason_required"
    with pytest.raises(InvalidInput):
        consent.withdraw(session, clock, coordinator, case_id, "operator", "x" * 501)
    with pytest.raises(InvalidInput):
        consent.withdraw(session, clock, coordinator, case_id, "operator", "m", "marketing")
    clock.advance(timedelta(hours=1))
    assert consent.withdraw(session, clock, coordinator, case_id, "operator",
                            "La personne retire son accord", purpose="assessment") == 1
    assert _view(session, clock, place.worker_a, case_id) == frozenset(SHARED)
    assert consent.withdraw(session, clock, coordinator, case_id, "operator",
                            "La personne retire son accord") == 2
    assert _view(session, clock, place.worker_a, case_id) == frozenset()  # minimal now
    with pytest.raises(Conflict) as stale:
        consent.withdraw(session, clock, coordinator, case_id, "operator", "encore")
    assert stale.value.code == "svc.consent_none_active"
    shown = consent.of_case(session, clock, coordinator, case_id)
    assert all(not d.active for d in shown.decisions)
    assert {(d.withdrawn_by, d.withdraw_reason) for d in shown.decisions} == {
        ("Coord", "La personne retire son accord")}
    assert not any(p.given for p in shown.parts)
    assert _actions(session, case_id) == ["consent.given", "consent.given",
                                          "consent.withdrawn", "consent.withdrawn"]
    withdrawn = session.scalars(select(AuditEvent).where(
        AuditEvent.case_id == case_id, AuditEvent.action == "consent.withdrawn")).all()
    assert all("retire" not in json.dumps(e.detail) for e in withdrawn)  # no free text


def test_a_minimal_reader_sees_only_whether_consent_exists_per_part(
        session: Session, clock: FixedClock, place: Place) -> None:
    case_id = _start(session, clock, place)
    consent.record(session, clock, place.world.coordinator, case_id, ["referrer"], "support",
                   ["identity"], "oral", witness="Mme Témoin")
    shown = consent.of_case(session, clock, place.worker_a, case_id)
    assert shown.minimal and not shown.decisions and not shown.can_record
    assert [p.part.key for p in shown.parts if p.given] == ["referrer"]
    consent.record(session, clock, place.world.coordinator, case_id, ["operator"], "support",
                   ["identity"], "signed")
    shown = consent.of_case(session, clock, place.worker_a, case_id)
    assert not shown.minimal and len(shown.decisions) == 2
    assert shown.decisions[0].witness == "Mme Témoin"  # parts in the territory's order


def test_the_saisine_and_a_step_record_and_withdraw_consent(
        session: Session, clock: FixedClock, place: Place) -> None:
    case_id = _start(session, clock, place, agreed=True)
    rows = session.execute(select(CaseConsent.part, CaseConsent.purpose, CaseConsent.category,
                                  CaseConsent.basis, CaseConsent.source)
                           .where(CaseConsent.case_id == case_id)).all()
    assert {(p, c) for p, _, c, _, _ in rows} == {(p, c) for p in ("referrer", "platform",
                                                                    "operator")
                                                  for c in SHARED}
    assert {(u, b, s) for _, u, _, b, s in rows} == {("assessment", "form", "Étape « Saisine »")}
    assert _view(session, clock, place.worker_a, case_id) == frozenset(SHARED)
    step = session.scalar(select(HumanTask.id).where(HumanTask.case_id == case_id,
                                                     HumanTask.bpmn_id == "analyse"))
    assert step is not None
    tasks.complete(session, clock, place.world.coordinator, step,
                   {"mesure": "avdl", "partage_operateur": True})
    # identity already held for assessment: still a new row for support
    assert _view(session, clock, place.worker_a, case_id) == {*SHARED, "assessment"}
    supported = session.scalars(select(CaseConsent.category).where(
        CaseConsent.case_id == case_id, CaseConsent.purpose == "support")).all()
    assert sorted(supported) == ["assessment", "assessment", "identity", "identity"]
    assert "consent.given" in _actions(session, case_id)


def test_a_no_in_a_form_withdraws_that_grant_only(
        session: Session, clock: FixedClock, place: Place) -> None:
    case_id = _start(session, clock, place, agreed=True)
    consent.record(session, clock, place.world.coordinator, case_id, ["operator"], "support",
                   ["identity", "assessment"], "signed")
    step = session.scalar(select(HumanTask.id).where(HumanTask.case_id == case_id,
                                                     HumanTask.bpmn_id == "analyse"))
    assert step is not None
    tasks.complete(session, clock, place.world.coordinator, step,
                   {"mesure": "avdl", "partage_operateur": False})
    assert _view(session, clock, place.worker_a, case_id) == frozenset(SHARED)  # saisine's
    reasons = set(session.scalars(select(CaseConsent.withdraw_reason).where(
        CaseConsent.case_id == case_id, CaseConsent.withdrawn_at.is_not(None))))
    assert reasons == {"Réponse « non » à l'étape « Analyser la demande »"}
    assert _actions(session, case_id)[-1] == "consent.withdrawn"


def test_a_saisine_without_consent_records_nothing_and_a_no_withdraws_nothing(
        session: Session, clock: FixedClock, place: Place) -> None:
    silent = _start(session, clock, place, name="Ménage Silencieux")
    refused = _start(session, clock, place, agreed=False, name="Ménage Réservé")
    assert _rows(session, silent) == 0 and _rows(session, refused) == 0
    assert not _actions(session, refused)


def _forms() -> dict[str, FormSpec]:
    found: dict[str, FormSpec] = {}
    for path in sorted((ROOT / "forms").rglob("*.json")):
        if path.name.endswith(".ui.json"):
            continue
        ui = path.with_name(path.name.removesuffix(".json") + ".ui.json")
        found[str(path.relative_to(ROOT / "forms"))] = load_json_form(
            path.read_bytes(), ui.read_bytes() if ui.exists() else None)
    return found


def test_the_forms_file_answers_by_category_and_say_what_consent_grants() -> None:
    forms = _forms()
    by_circuit: dict[str, dict[str, set[str]]] = {}
    for name, spec in forms.items():
        circuit = name.rsplit("/", 1)[-1][:2]
        for key, category in spec.categories().items():
            by_circuit.setdefault(circuit, {}).setdefault(key, set()).add(category)
    mixed = {(c, k): v for c, keys in by_circuit.items() for k, v in keys.items()
             if len(v) > 1}
    assert not mixed  # one name, one category within a circuit
    c1 = by_circuit["c1"]
    assert (c1["nom_menage"], c1["ressources"], c1["besoins"], c1["dettes"],
            c1["attentes_personne"]) == ({"identity"}, {"household"}, {"health"},
                                          {"procedure"}, {"assessment"})
    assert by_circuit["c4"]["stade_procedure"] == {"procedure"}
    grants = {(name, f.name): f.consent for name, spec in forms.items()
              for f in spec.consent_fields()}
    landlord = grants[("c4-accord.json", "partage_bailleur")]
    assert landlord is not None and landlord.parts == ("landlord",)
    assert set(landlord.categories) == {"identity", "procedure"}
    assert all("landlord" not in g.parts for k, g in grants.items() if g and k[1] !=
               "partage_bailleur")
    health = grants[("c1-demande.json", "partage_sante")]
    assert health is not None and health.categories == ("health",)
    assert grants[("c1-accord.json", "accord_partage")].purpose == "support"  # type: ignore[union-attr]
    assert grants[("c1-demande.json", "accord_partage")].purpose == "assessment"  # type: ignore[union-attr]
    assert "partage_bailleur" not in forms["c4-accord.json"].schema.get("required", [])
