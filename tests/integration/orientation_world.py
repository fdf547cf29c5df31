"""A small territory that orients through the directory (issue #13): the small test circuit
whose analysis form orients the case to a directory service and whose operator's decision
answers it (its lane bound to the operator part), with services of every kind (free places,
full, places not counted, another commune, another territory). Synthetic data only.

Used by tests/integration/test_orientations.py and tests/web/test_orientations.py.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.consent import CATEGORIES
from engine.persistence.models import HumanTask
from engine.services import cases, directory, tasks
from engine.services.access import SYSTEM, Actor
from engine.services.directory import Entry
from tests.integration.factories import (
    MINI,
    World,
    declare_parts,
    give_consent,
    make_org,
    make_party,
    make_user,
    make_world,
)

PARTS = [{"key": "referrer", "label": "Structure qui oriente"},
         {"key": "platform", "label": "Coordination de la plateforme"},
         {"key": "operator", "label": "Opérateur d'accompagnement"}]
BOUND = ('<bpmn:lane id="lane_op" name="operateur">'
         '<bpmn:extensionElements><spiffworkflow:properties>'
         '<spiffworkflow:property name="part" value="operator" />'
         '</spiffworkflow:properties></bpmn:extensionElements>')
# after an acceptance the case stays open on a support step (its end gives the place back)
SUPPORT = ('<bpmn:userTask id="suivi" name="Suivre l\'accompagnement">'
           '<bpmn:incoming>f_ok</bpmn:incoming><bpmn:outgoing>f_fin</bpmn:outgoing>'
           '</bpmn:userTask><bpmn:sequenceFlow id="f_fin" sourceRef="suivi" '
           'targetRef="end_ok" />')
ANALYSE_FIELDS: dict[str, Any] = {
    "service_oriente": {
        "type": "integer", "title": "Service proposé",
        "x-aiguillage-orientation": {
            "part": "operator", "domains": ["domaines"], "commune": "commune",
            "state_field": "suite_analyse", "waiting_value": "liste_attente",
            "comment": "argumentaire"}},
    "suite_analyse": {"type": "string", "title": "Suite donnée",
                      "oneOf": [{"const": "orienter", "title": "Orienter"},
                                {"const": "liste_attente", "title": "Liste d'attente"}]},
    "commune": {"type": "string", "title": "Commune"},
    "argumentaire": {"type": "string", "title": "Argumentaire"},
}
DECISION_FORM: dict[str, Any] = {
    "title": "Décision de l'opérateur", "type": "object", "required": ["decision"],
    "properties": {
        "decision": {"type": "string", "title": "Décision",
                     "x-aiguillage-orientation-answer": True,
                     "oneOf": [{"const": "acceptee", "title": "Acceptée"},
                               {"const": "liste_attente", "title": "Liste d'attente"},
                               {"const": "refusee", "title": "Refusée"},
                               {"const": "refus_personne", "title": "Refus de la personne"}]},
        "motifs_refus": {"type": "array", "title": "Motifs du refus", "uniqueItems": True,
                         "items": {"type": "string"}},
        "precision_motif": {"type": "string", "title": "Précision du motif"},
        "message_orienteur": {"type": "string", "title": "Message à la structure qui oriente"},
        "message_personne": {"type": "string", "title": "Ce qui est dit à la personne"}}}


def orientation_folder(root: Path, support: bool = True) -> Path:
    """The small circuit, orienting through the directory (without ``support``, an
    acceptance leads straight to the end)."""
    folder = root / "oriente"
    shutil.copytree(MINI, folder)
    diagram = folder / "mini.bpmn"
    text = diagram.read_text(encoding="utf-8")
    text = text.replace('<bpmn:lane id="lane_op" name="operateur">', BOUND)
    if support:
        text = _with_support(text)
    diagram.write_text(text, encoding="utf-8")
    analyse = folder / "forms" / "mini-analyse.json"
    schema = json.loads(analyse.read_text(encoding="utf-8"))
    schema["properties"].update(ANALYSE_FIELDS)
    analyse.write_text(json.dumps(schema), encoding="utf-8")
    (folder / "forms" / "mini-decision.json").write_text(json.dumps(DECISION_FORM),
                                                         encoding="utf-8")
    settings = json.loads((folder / "territory.json").read_text(encoding="utf-8"))
    settings["parts"] = PARTS
    (folder / "territory.json").write_text(json.dumps(settings), encoding="utf-8")
    return folder


def _with_support(text: str) -> str:
    """The diagram with a support step between the acceptance and the end."""
    text = text.replace('<bpmn:flowNodeRef>end_ok</bpmn:flowNodeRef>',
                        '<bpmn:flowNodeRef>end_ok</bpmn:flowNodeRef>'
                        '<bpmn:flowNodeRef>suivi</bpmn:flowNodeRef>')
    text = text.replace('sourceRef="gw" targetRef="end_ok"', 'sourceRef="gw" targetRef="suivi"')
    text = text.replace('<bpmn:incoming>f_ok</bpmn:incoming>', '<bpmn:incoming>f_fin</bpmn:incoming>')
    return text.replace('<bpmn:sequenceFlow id="f1"', SUPPORT + '<bpmn:sequenceFlow id="f1"')


@dataclass
class Oriented:
    """The territory, its organisations, people and services."""

    world: World
    referrer_org: int
    org_a: int
    org_b: int
    worker_a: Actor  # operator A's (role operateur)
    worker_b: Actor  # operator B's
    partner: Actor  # the referrer organisation's (role orienteur)
    free: int  # A's AVDL in Toulouse: 2 places free of 5
    full: int  # B's ASLL: no place left, 4 waiting (mental health too)
    uncounted: int  # B's IML: places not counted
    albi: int  # A's service in Albi only
    elsewhere: int  # a service of another territory


def oriented_world(session: Session, clock: Clock, root: Path,
                   support: bool = True) -> Oriented:
    """Deploy the orienting circuit and fill its territory."""
    world = make_world(session, clock, orientation_folder(root, support))
    territory = world.territory.id
    declare_parts(session, territory, PARTS)
    referrer_org = make_org(session, clock, territory, "CCAS de Toulouse", "ccas")
    org_a = make_org(session, clock, territory, "Association Alpha")
    org_b = make_org(session, clock, territory, "Association Gamma")

    def service(org: int, measure: str, name: str, places: int | None,
                communes: tuple[str, ...] = ("Toulouse",), domains: tuple[str, ...] = ("housing",),
                waiting: int | None = None, territory_id: int = territory) -> int:
        return directory.create(session, clock, SYSTEM, territory_id, Entry(
            organisation_id=org, measure=measure, name=name, domains=domains,
            communes=communes, capacity=5 if places is not None else None,
            places_available=places, waiting_list=waiting))

    other_org = make_org(session, clock, world.outsider.territories()[0], "Association Lointaine")
    return Oriented(
        world=world, referrer_org=referrer_org, org_a=org_a, org_b=org_b,
        worker_a=make_user(session, clock, "alpha@demo.test", territory, "operateur",
                           organisation=org_a),
        worker_b=make_user(session, clock, "gamma@demo.test", territory, "operateur",
                           organisation=org_b),
        partner=make_user(session, clock, "ccas@demo.test", territory, "orienteur",
                          organisation=referrer_org),
        free=service(org_a, "avdl", "AVDL Alpha", 2),
        full=service(org_b, "asll", "ASLL Gamma", 0, domains=("housing", "mental"), waiting=4),
        uncounted=service(org_b, "iml", "IML Gamma", None),
        albi=service(org_a, "avdl", "AVDL Albi", 3, communes=("Albi",)),
        elsewhere=service(other_org, "avdl", "AVDL Lointain", 3, communes=(),
                          territory_id=world.outsider.territories()[0]))


def open_step(session: Session, case_id: int, bpmn_id: str) -> int:
    """The open step ``bpmn_id`` of a case."""
    task_id = session.scalar(select(HumanTask.id).where(
        HumanTask.case_id == case_id, HumanTask.bpmn_id == bpmn_id,
        HumanTask.status == "open"))
    assert task_id is not None, bpmn_id
    return task_id


def new_case(session: Session, clock: Clock, place: Oriented, name: str = "Ménage Martin",
             consent: bool = True) -> int:
    """A case opened by the coordination, referred by the CCAS, waiting on its analysis."""
    case = cases.start(session, clock, place.world.coordinator, place.world.circuit.id,
                       {"nom_menage": name})
    make_party(session, clock, case.id, "referrer", place.referrer_org)
    if consent:
        give_consent(session, clock, case.id, "referrer", CATEGORIES)
    return case.id


def orient(session: Session, clock: Clock, place: Oriented, case_id: int, service_id: int,
           **answers: Any) -> None:
    """The coordination completes the analysis, orienting the case to ``service_id``."""
    data: dict[str, Any] = {"mesure": "avdl", "service_oriente": service_id,
                            "commune": "Toulouse", "suite_analyse": "orienter", **answers}
    tasks.complete(session, clock, place.world.coordinator, open_step(session, case_id, "analyse"),
                   data)


def answer(session: Session, clock: Clock, who: Actor, case_id: int, **answers: Any) -> None:
    """The operator completes its decision."""
    tasks.complete(session, clock, who, open_step(session, case_id, "decision"), answers)
