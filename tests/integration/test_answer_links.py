"""Signed answer links (issue #13 item 5): an organisation without an account answers an
orientation through a single-use link that expires, reads only what the household's consent
grants its part, is rate limited and audited. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.core.orientation import ACCEPTED, ANSWER_KEYWORD, CANCELLED, REVIEWING, SENT
from engine.errors import (
    Conflict,
    FormInvalid,
    InvalidInput,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
)
from engine.mail import LogSender
from engine.persistence.db import Base
from engine.persistence.models import (
    AnswerLink,
    AuditEvent,
    HumanTask,
    Orientation,
    OrientationEvent,
    OutboxMessage,
)
from engine.services import answer_links, cases, directory, notices, tasks
from engine.services.access import SYSTEM, Actor
from engine.services.directory import Entry
from tests.integration.factories import (
    MINI,
    REFERENCE_PARTS,
    World,
    give_consent,
    make_org,
    make_party,
    make_user,
    make_world,
)

SERVICE_EMAIL = "accueil@alpha.test"
ANSWER_FORM = {
    "title": "Décision de l'opérateur", "type": "object", "required": ["decision"],
    "properties": {
        "decision": {"type": "string", "title": "Décision", ANSWER_KEYWORD: True,
                     "oneOf": [{"const": "acceptee", "title": "Acceptée"},
                               {"const": "liste_attente", "title": "Liste d'attente"},
                               {"const": "refusee", "title": "Refusée"}]},
        "motifs_refus": {"type": "array", "title": "Motifs du refus", "uniqueItems": True,
                         "items": {"type": "string", "enum": ["pas_de_place", "autre"]}},
        "precision_motif": {"type": "string", "title": "Précision du motif", "maxLength": 500},
        "message_orienteur": {"type": "string", "title": "Message à la structure qui oriente",
                              "maxLength": 2000},
        "message_personne": {"type": "string", "title": "Ce qui sera dit à la personne",
                             "maxLength": 2000}}}
SAISINE_FORM = {
    "title": "Saisine", "type": "object", "required": ["nom_menage"],
    "properties": {
        "nom_menage": {"type": "string", "title": "Nom du ménage", "maxLength": 120,
                       "x-aiguillage-category": "identity"},
        "nb_enfants": {"type": "integer", "title": "Nombre d'enfants à charge", "minimum": 0,
                       "maximum": 20, "x-aiguillage-category": "household"},
        "sante": {"type": "string", "title": "Situation de santé", "maxLength": 200,
                  "x-aiguillage-category": "health"}}}


def answer_folder(root: Path) -> Path:
    """The small circuit whose operator's decision answers the orientation (the answer
    keyword), whose saisine files its answers under identity, household and health, and
    whose territory declares the reference parts."""
    folder = root / "liens"
    if folder.exists():
        return folder
    shutil.copytree(MINI, folder)
    forms = folder / "forms"
    (forms / "mini-decision.json").write_text(json.dumps(ANSWER_FORM), encoding="utf-8")
    (forms / "mini-saisine.json").write_text(json.dumps(SAISINE_FORM), encoding="utf-8")
    # an accepted orientation goes back to the analysis here: the case stays open
    diagram = folder / "mini.bpmn"
    diagram.write_text(diagram.read_text(encoding="utf-8").replace(
        "decision == 'acceptee'", "decision == 'jamais'"), encoding="utf-8")
    settings = json.loads((folder / "territory.json").read_text(encoding="utf-8"))
    settings["parts"] = REFERENCE_PARTS
    (folder / "territory.json").write_text(json.dumps(settings), encoding="utf-8")
    return folder


@dataclass
class Linked:
    """A territory with the answer circuit, an operator organisation and its service."""

    world: World
    org: int
    service_id: int
    other_coordinator: Actor


def linked_world(session: Session, clock: FixedClock, root: Path) -> Linked:
    world = make_world(session, clock, answer_folder(root))
    org = make_org(session, clock, world.territory.id, "Association Alpha")
    service_id = directory.create(session, clock, SYSTEM, world.territory.id, Entry(
        organisation_id=org, measure="avdl", name="AVDL Alpha", email=SERVICE_EMAIL,
        capacity=5, places_available=2))
    return Linked(world, org, service_id, world.outsider)


def orient(session: Session, clock: FixedClock, linked: Linked, *, answered: bool = True,
           name: str = "Ménage Lien") -> tuple[int, int]:
    """A case waiting on the operator's decision (unless ``answered`` is false: still on
    the analysis), oriented to the service; (case id, orientation id)."""
    coordinator = linked.world.coordinator
    case = cases.start(session, clock, coordinator, linked.world.circuit.id,
                       {"nom_menage": name, "nb_enfants": 7, "sante": "Suivi psychiatrique"})
    if answered:
        analyse = session.scalar(select(HumanTask.id).where(
            HumanTask.case_id == case.id, HumanTask.bpmn_id == "analyse"))
        assert analyse is not None
        tasks.complete(session, clock, coordinator, analyse, {"mesure": "avdl"})
    make_party(session, clock, case.id, "operator", linked.org)
    now = clock.now()
    row = Orientation(territory_id=linked.world.territory.id, case_id=case.id,
                      service_id=linked.service_id, organisation_id=linked.org, measure="avdl",
                      part="operator", state=SENT, step="analyse",
                      comment="Ménage prêt à entrer dans un logement : besoin d'AVDL.",
                      created_at=now, created_by_id=coordinator.user_id, updated_at=now)
    session.add(row)
    session.commit()
    return case.id, row.id


@pytest.fixture
def linked(session: Session, clock: FixedClock, tmp_path: Path) -> Linked:
    return linked_world(session, clock, tmp_path)


def link_of(session: Session, orientation_id: int) -> AnswerLink:
    session.expire_all()
    row = session.scalar(select(AnswerLink).where(AnswerLink.orientation_id == orientation_id)
                         .order_by(AnswerLink.id.desc()))
    assert row is not None
    return row


def everything(session: Session) -> str:
    """Every row of every table, as text (to look for a token)."""
    return "".join(repr(session.execute(select(t)).all()) for t in Base.metadata.sorted_tables)


# --------------------------------------------------------------------------- sending


def test_a_link_is_stored_as_its_hash_and_mailed_to_the_service(
        session: Session, clock: FixedClock, linked: Linked) -> None:
    case_id, orientation_id = orient(session, clock, linked)
    sent = answer_links.send(session, clock, linked.world.coordinator, orientation_id, None)
    assert sent.email == SERVICE_EMAIL and sent.path == "/reponse/" + sent.token
    assert sent.expires_at == clock.now() + answer_links.LIFETIME
    link = link_of(session, orientation_id)
    assert link.token_hash == hashlib.sha256(sent.token.encode()).hexdigest()
    assert link.email == SERVICE_EMAIL and link.used_at is None
    audit = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "answer_link.sent")).one()
    assert audit.case_id == case_id and sent.token not in json.dumps(audit.detail)
    sender = LogSender()
    notices.deliver(session, clock, sender)
    [mail] = [m for m in sender.sent if m.to == (SERVICE_EMAIL,)]
    assert "/reponse/" + sent.token in mail.body and "Ménage" not in mail.body
    # once delivered, the token is nowhere in the database
    session.expire_all()
    assert sent.token not in everything(session)


def test_a_link_typed_to_another_address_or_to_none_is_checked(
        session: Session, clock: FixedClock, linked: Linked) -> None:
    _, orientation_id = orient(session, clock, linked)
    coordinator = linked.world.coordinator
    sent = answer_links.send(session, clock, coordinator, orientation_id, " cheffe@beta.test ")
    assert sent.email == "cheffe@beta.test"
    for wrong in ("pas-une-adresse", "a@b", "x" * 250 + "@b.fr"):
        with pytest.raises(InvalidInput):
            answer_links.send(session, clock, coordinator, orientation_id, wrong)
    directory_row = session.get(Orientation, orientation_id)
    assert directory_row is not None
    assert len(session.scalars(select(AnswerLink)).all()) == 1  # the refusals wrote nothing


def test_only_the_territory_s_coordination_sends_or_revokes_a_link(
        session: Session, clock: FixedClock, linked: Linked) -> None:
    _, orientation_id = orient(session, clock, linked)
    world = linked.world
    worker = make_user(session, clock, "alpha@demo.test", world.territory.id, "operateur",
                       organisation=linked.org)
    for who in (world.operator, worker):  # in the territory, they may reach the case
        with pytest.raises(PermissionDenied):
            answer_links.send(session, clock, who, orientation_id, None)
        with pytest.raises(PermissionDenied):
            answer_links.revoke(session, clock, who, orientation_id)
        with pytest.raises(PermissionDenied):
            answer_links.links_of(session, clock, who, orientation_id)
    with pytest.raises(NotFound):  # another territory's coordination
        answer_links.send(session, clock, linked.other_coordinator, orientation_id, None)
    with pytest.raises(NotFound):
        answer_links.send(session, clock, world.coordinator, 10**12, None)
    assert session.scalars(select(AnswerLink)).all() == []
    refused = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "answer_link.refused")).all()
    assert len(refused) == 5 and {r.detail["attempt"] for r in refused} == {"send", "revoke"}


def test_a_new_link_revokes_the_earlier_unused_ones(
        session: Session, clock: FixedClock, linked: Linked) -> None:
    _, orientation_id = orient(session, clock, linked)
    coordinator = linked.world.coordinator
    first = answer_links.send(session, clock, coordinator, orientation_id, None)
    second = answer_links.send(session, clock, coordinator, orientation_id, None)
    with pytest.raises(NotFound):
        answer_links.page(session, clock, first.token)
    assert answer_links.page(session, clock, second.token).service_name == "AVDL Alpha"
    # the first one's message, not yet delivered, is not sent any more
    sender = LogSender()
    notices.deliver(session, clock, sender)
    assert [second.token in m.body for m in sender.sent if m.to] == [True]
    assert answer_links.revoke(session, clock, coordinator, orientation_id) == 1
    with pytest.raises(NotFound):
        answer_links.page(session, clock, second.token)
    with pytest.raises(Conflict):
        answer_links.revoke(session, clock, coordinator, orientation_id)
    page = answer_links.links_of(session, clock, coordinator, orientation_id)
    assert [link.state for link in page.links] == ["revoked", "revoked"] and page.may_send


def test_no_link_for_an_orientation_that_awaits_no_answer(
        session: Session, clock: FixedClock, linked: Linked) -> None:
    coordinator = linked.world.coordinator
    _, waiting_on_analysis = orient(session, clock, linked, answered=False)
    with pytest.raises(Conflict) as refused:
        answer_links.send(session, clock, coordinator, waiting_on_analysis, None)
    assert refused.value.code == "svc.link_no_answer_step"
    _, orientation_id = orient(session, clock, linked, name="Ménage Annulé")
    session.get(Orientation, orientation_id).state = CANCELLED  # type: ignore[union-attr]
    session.commit()
    with pytest.raises(Conflict) as closed:
        answer_links.send(session, clock, coordinator, orientation_id, None)
    assert closed.value.code == "svc.link_orientation_closed"
    assert not answer_links.links_of(session, clock, coordinator, orientation_id).may_send


# --------------------------------------------------------------------------- opening


def test_a_link_expires_after_its_lifetime(
        session: Session, clock: FixedClock, linked: Linked) -> None:
    _, orientation_id = orient(session, clock, linked)
    sent = answer_links.send(session, clock, linked.world.coordinator, orientation_id, None)
    clock.advance(answer_links.LIFETIME - timedelta(minutes=1))
    answer_links.page(session, clock, sent.token)
    clock.advance(timedelta(minutes=1))
    with pytest.raises(InvalidTransition) as expired:
        answer_links.page(session, clock, sent.token)
    assert expired.value.code == "svc.link_expired"
    assert expired.value.params["platform"] == "Territoire d'essai"
    assert "coord@demo.test" in expired.value.params["contact"]
    with pytest.raises(InvalidTransition):
        answer_links.answer(session, clock, sent.token, {"decision": "acceptee"})
    assert link_of(session, orientation_id).used_at is None


def test_a_malformed_or_unknown_token_is_not_found(
        session: Session, clock: FixedClock, linked: Linked) -> None:
    orient(session, clock, linked)
    for token in ("", "abc", "x" * 101, "a" * 43 + "é", "../" * 20, "A" * 43):
        with pytest.raises(NotFound):
            answer_links.page(session, clock, token)
        with pytest.raises(NotFound):
            answer_links.answer(session, clock, token, {"decision": "acceptee"})


def test_the_holder_reads_only_what_the_consent_grants_the_orientation_s_part(
        session: Session, clock: FixedClock, linked: Linked) -> None:
    case_id, orientation_id = orient(session, clock, linked)
    sent = answer_links.send(session, clock, linked.world.coordinator, orientation_id, None)
    page = answer_links.page(session, clock, sent.token)
    assert page.household_name is None and page.facts == () and page.shared == ()
    assert page.case_reference.startswith("MINI-") or page.case_reference
    assert page.comment.startswith("Ménage prêt") and page.measure.startswith("AVDL")
    assert page.form is not None and "decision" in page.form.field_names()
    # another part's consent, and a withdrawn one, do not count
    give_consent(session, clock, case_id, "landlord", ["identity", "health"])
    give_consent(session, clock, case_id, "operator", ["health"],
                 withdrawn_at=clock.now())
    page = answer_links.page(session, clock, sent.token)
    assert page.household_name is None and page.facts == ()
    give_consent(session, clock, case_id, "operator", ["identity", "household"])
    page = answer_links.page(session, clock, sent.token)
    shown = dict(page.facts)
    assert page.household_name == "Ménage Lien"
    assert shown.get("Nombre d'enfants à charge") == "7"
    assert "Situation de santé" not in shown and "Suivi psychiatrique" not in repr(page)
    reads = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "case.read", AuditEvent.case_id == case_id,
        AuditEvent.user_id.is_(None))).all()
    assert len(reads) == 3 and all(r.detail["via"] == "lien" for r in reads)
    assert [r.detail["minimal"] for r in reads] == [True, True, False]


def test_the_first_open_puts_the_orientation_under_review_via_the_link(
        session: Session, clock: FixedClock, linked: Linked) -> None:
    _, orientation_id = orient(session, clock, linked)
    sent = answer_links.send(session, clock, linked.world.coordinator, orientation_id, None)
    answer_links.page(session, clock, sent.token)
    answer_links.page(session, clock, sent.token)
    session.expire_all()
    assert session.get(Orientation, orientation_id).state == REVIEWING  # type: ignore[union-attr]
    moves = session.scalars(select(OrientationEvent).where(
        OrientationEvent.orientation_id == orientation_id,
        OrientationEvent.after == REVIEWING)).all()
    assert [(m.before, m.via, m.user_id) for m in moves] == [(SENT, "lien", None)]


# --------------------------------------------------------------------------- answering


def test_an_answer_uses_the_link_completes_the_step_and_moves_the_orientation(
        session: Session, clock: FixedClock, linked: Linked) -> None:
    case_id, orientation_id = orient(session, clock, linked)
    sent = answer_links.send(session, clock, linked.world.coordinator, orientation_id, None)
    step = link_of(session, orientation_id).task_id
    answer_links.answer(session, clock, sent.token, {
        "decision": "acceptee", "message_orienteur": "Premier rendez-vous le 12 janvier."})
    session.expire_all()
    link = link_of(session, orientation_id)
    assert link.used_at == clock.now()
    task = session.get(HumanTask, step)
    assert task is not None and task.status == "completed" and task.completed_by_id is None
    orientation = session.get(Orientation, orientation_id)
    assert orientation is not None and orientation.state == ACCEPTED
    assert orientation.answered_via == "lien" and orientation.answered_by_id is None
    assert orientation.message_referrer == "Premier rendez-vous le 12 janvier."
    used = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "answer_link.used")).one()
    assert used.case_id == case_id and used.user_id is None
    with pytest.raises(InvalidTransition) as again:  # a double submit
        answer_links.answer(session, clock, sent.token, {"decision": "refusee"})
    assert again.value.code == "svc.link_used"
    with pytest.raises(InvalidTransition):
        answer_links.page(session, clock, sent.token)


def test_a_refused_answer_leaves_the_link_usable(
        session: Session, clock: FixedClock, linked: Linked) -> None:
    _, orientation_id = orient(session, clock, linked)
    sent = answer_links.send(session, clock, linked.world.coordinator, orientation_id, None)
    for wrong in ({"decision": "peut-etre"}, {}, {"decision": "refusee"}):  # no reason
        with pytest.raises(FormInvalid):
            answer_links.answer(session, clock, sent.token, wrong)
        assert link_of(session, orientation_id).used_at is None
    answer_links.answer(session, clock, sent.token, {
        "decision": "refusee", "motifs_refus": ["pas_de_place"],
        "message_personne": "Pas de place avant l'été."})
    session.expire_all()
    orientation = session.get(Orientation, orientation_id)
    assert orientation is not None and orientation.reasons == ["pas_de_place"]


def test_an_answer_given_meanwhile_with_an_account_closes_the_link(
        session: Session, clock: FixedClock, linked: Linked) -> None:
    _, orientation_id = orient(session, clock, linked)
    sent = answer_links.send(session, clock, linked.world.coordinator, orientation_id, None)
    step = link_of(session, orientation_id).task_id
    tasks.complete(session, clock, linked.world.operator, step, {"decision": "acceptee"})
    with pytest.raises(InvalidTransition) as closed:
        answer_links.page(session, clock, sent.token)
    assert closed.value.code == "svc.link_closed"


# --------------------------------------------------------------------------- limits


def test_attempts_are_limited_per_link_and_per_address(
        session: Session, clock: FixedClock, linked: Linked) -> None:
    limits = answer_links.LinkLimits(per_link=3, per_address=5)
    for _ in range(3):
        answer_links.count_attempt(session, clock, "a" * 43, "192.0.2.1", limits)
    with pytest.raises(TooManyAttempts):
        answer_links.count_attempt(session, clock, "a" * 43, "192.0.2.2", limits)
    answer_links.count_attempt(session, clock, "b" * 43, "192.0.2.1", limits)
    answer_links.count_attempt(session, clock, "b" * 43, "192.0.2.1", limits)
    with pytest.raises(TooManyAttempts):  # the address's sixth attempt
        answer_links.count_attempt(session, clock, "c" * 43, "192.0.2.1", limits)
    answer_links.count_attempt(session, clock, "c" * 43, "192.0.2.3", limits)
    clock.advance(limits.lockout + timedelta(seconds=1))
    answer_links.count_attempt(session, clock, "a" * 43, "192.0.2.1", limits)
    keys = session.execute(text("select key from sign_in_throttle")).scalars().all()
    assert all(k.startswith(("lien:", "lien-adresse:")) for k in keys)
    assert not any("a" * 43 in k for k in keys)  # the token is not a key either


def test_a_delivered_message_keeps_no_address(
        session: Session, clock: FixedClock, linked: Linked) -> None:
    _, orientation_id = orient(session, clock, linked)
    sent = answer_links.send(session, clock, linked.world.coordinator, orientation_id, None)
    message = session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == answer_links.KIND)).one()
    assert sent.token in message.payload["url"]
    mail = answer_links.mail_of(message)
    assert mail.to == (SERVICE_EMAIL,) and "dossier" in mail.subject
    assert answer_links.mail_of(OutboxMessage(
        kind=answer_links.KIND, dedupe_key="x",
        payload=answer_links.without_address(message.payload))).to == ()
