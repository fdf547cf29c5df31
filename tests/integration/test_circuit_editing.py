"""Coordinators edit circuits: the circuits page, drafts with a revision check, deploy,
diff with the cases it touches, forms, variants, imports, dry-runs (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.core.simulate import ScenarioError
from engine.errors import (
    Conflict,
    FormInvalid,
    NotFound,
    PermissionDenied,
    ProcessDefinitionError,
)
from engine.persistence.models import Case, Circuit, CircuitDraft
from engine.services import cases, circuits, drafts
from tests.integration.factories import ROOT, World, make_world, start_at_decision

REFERENCE = ROOT / "processes" / "reference"
FORMS = ROOT / "forms"
OLD_DEADLINE = '<spiffworkflow:property name="dueInWorkingDays" value="2" />'
NEW_DEADLINE = '<spiffworkflow:property name="dueIn" value="P15D" />'


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return make_world(session, clock)


def _draft(session: Session, clock: FixedClock, world: World) -> drafts.DraftInfo:
    return drafts.open_for_circuit(session, clock, world.coordinator, world.circuit.id)


def _main(session: Session, world: World, draft: drafts.DraftInfo) -> str:
    """The draft's diagram as stored now (a ``DraftInfo`` is a snapshot)."""
    fresh = drafts.get(session, world.coordinator, draft.id)
    return fresh.bpmn_files[fresh.main_file]


def test_overview_lists_versions_with_who_and_open_cases(session: Session, clock: FixedClock,
                                                         world: World) -> None:
    start_at_decision(session, clock, world, "Ménage Un")
    [row] = circuits.overview(session, world.coordinator, world.territory.id)
    assert row.key == "mini" and row.draft_id is None
    assert row.active is not None and row.active.number == 1 and row.active.open_cases == 1
    assert row.active.deployed_by is None  # deployed by the system (command line)
    with pytest.raises(PermissionDenied):
        circuits.overview(session, world.operator, world.territory.id)
    with pytest.raises(NotFound):
        circuits.overview(session, world.outsider, world.territory.id)


def test_export_is_a_zip_of_the_version_files(session: Session, world: World) -> None:
    name, data = circuits.export_zip(session, world.coordinator, world.circuit.active_version_id)
    assert name == "mini-v1.zip"
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert {"circuit.json", "processes/mini.bpmn", "processes/commission.bpmn",
            "forms/mini-analyse.json"} <= set(archive.namelist())
    assert json.loads(archive.read("circuit.json"))["process"] == "mini"
    with pytest.raises(PermissionDenied):
        circuits.export_zip(session, world.operator, world.circuit.active_version_id)


def test_draft_save_checks_and_refuses_a_stale_revision(session: Session, clock: FixedClock,
                                                       world: World) -> None:
    draft = _draft(session, clock, world)
    assert _draft(session, clock, world).id == draft.id  # one draft per circuit
    first = draft.revision
    result = drafts.save(session, clock, world.coordinator, draft.id, first,
                         _main(session, world, draft).replace(OLD_DEADLINE, NEW_DEADLINE))
    assert result.revision == first + 1 and result.errors == 0
    with pytest.raises(Conflict, match="enregistré par Coord"):
        drafts.save(session, clock, world.coordinator, draft.id, first, _main(session, world, draft))
    broken = _main(session, world, draft).replace('value="P15D"', 'value="15 jours"')
    result = drafts.save(session, clock, world.coordinator, draft.id, result.revision, broken)
    [problem] = [p for p in result.problems if p.is_error]
    assert problem.element_id == "analyse" and "Délai" in problem.message()
    with pytest.raises(ProcessDefinitionError, match="DOCTYPE"):
        drafts.save(session, clock, world.coordinator, draft.id, result.revision,
                    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>')
    with pytest.raises(PermissionDenied):
        drafts.open_for_circuit(session, clock, world.operator, world.circuit.id)


def test_deploy_a_draft_running_cases_stay_on_their_version(session: Session,
                                                            clock: FixedClock,
                                                            world: World) -> None:
    old_case = start_at_decision(session, clock, world, "Ménage Ancien")
    draft = _draft(session, clock, world)
    saved = drafts.save(session, clock, world.coordinator, draft.id, draft.revision,
                        _main(session, world, draft).replace(OLD_DEADLINE, NEW_DEADLINE))
    with pytest.raises(Conflict):
        drafts.deploy(session, clock, world.coordinator, draft.id, draft.revision - 1, "x")
    version = drafts.deploy(session, clock, world.coordinator, draft.id, saved.revision,
                            "Délai d'analyse porté à 15 jours")
    assert version.number == 2 and version.note == "Délai d'analyse porté à 15 jours"
    assert session.get(CircuitDraft, draft.id) is None
    new_case = cases.start(session, clock, world.coordinator, world.circuit.id,
                           {"nom_menage": "Ménage Nouveau"})
    versions_of = dict(session.execute(select(Case.id, Case.circuit_version_id)).all())
    circuit = session.get(Circuit, world.circuit.id)
    assert circuit is not None and circuit.active_version_id == version.id
    assert versions_of[new_case.id] == version.id and versions_of[old_case] != version.id
    rows = circuits.versions(session, world.coordinator, world.circuit.id)
    assert [(v.number, v.active, v.open_cases) for v in rows] == [(2, True, 1), (1, False, 1)]
    assert rows[0].deployed_by == "Coord"


def test_a_draft_failing_the_check_is_not_deployed(session: Session, clock: FixedClock,
                                                  world: World) -> None:
    draft = _draft(session, clock, world)
    saved = drafts.save(session, clock, world.coordinator, draft.id, draft.revision,
                        _main(session, world, draft).replace('name="operateur"', 'name="inconnu"'))
    assert saved.errors >= 1
    with pytest.raises(ProcessDefinitionError, match="Couloir « inconnu » inconnu"):
        drafts.deploy(session, clock, world.coordinator, draft.id, saved.revision, "")
    assert session.get(Circuit, world.circuit.id).active_version_id == \
        world.circuit.active_version_id  # type: ignore[union-attr]
    assert session.get(CircuitDraft, draft.id) is not None


def test_diff_between_versions_names_the_cases_it_touches(session: Session, clock: FixedClock,
                                                         world: World) -> None:
    case_id = start_at_decision(session, clock, world, "Ménage Touché")
    old_id = world.circuit.active_version_id
    draft = _draft(session, clock, world)
    xml = _main(session, world, draft).replace('"P15D"', '"P7D"').replace(
        'name="Statuer sur l\'orientation"', 'name="Statuer sur la proposition"')
    saved = drafts.save(session, clock, world.coordinator, draft.id, draft.revision, xml)
    new = drafts.deploy(session, clock, world.coordinator, draft.id, saved.revision, "")
    view = circuits.diff_versions(session, world.coordinator, world.circuit.id, old_id, new.id)
    texts = [c.text() for c in view.changes]
    assert "Minuterie « Sans réponse à 15 jours » : minuterie 15 j → 7 j" in texts
    assert view.markers()["new"]["decision"] == "changed"
    reference = session.get(Case, case_id).reference  # type: ignore[union-attr]
    [touched] = view.touched["decision"]
    assert touched.version_number == 1 and touched.references == [reference]
    with pytest.raises(NotFound):
        circuits.diff_versions(session, world.coordinator, world.circuit.id, old_id, 99999)


def test_forms_of_a_draft_are_validated_and_versioned(session: Session, clock: FixedClock,
                                                      world: World) -> None:
    draft = _draft(session, clock, world)
    schema = {"title": "Analyse", "type": "object", "required": ["mesure"], "properties": {
        "mesure": {"type": "string", "title": "Mesure proposée", "oneOf": [
            {"const": "avdl", "title": "AVDL"}, {"const": "asll", "title": "ASLL"}]},
        "motif": {"type": "string", "title": "Motif"}}}
    with pytest.raises(FormInvalid, match="Nom de fichier refusé"):
        drafts.save_form(session, clock, world.coordinator, draft.id, draft.revision,
                         "../x.json", schema, None)
    with pytest.raises(FormInvalid, match="JSON Schema invalide"):
        drafts.save_form(session, clock, world.coordinator, draft.id, draft.revision,
                         "mini-analyse.json", {"type": "object", "properties": 3}, None)
    revision = drafts.save_form(session, clock, world.coordinator, draft.id, draft.revision,
                                "mini-analyse.json", schema, {"ui:order": ["motif", "mesure"]})
    version = drafts.deploy(session, clock, world.coordinator, draft.id, revision, "motif")
    assert "motif" in version.form_files["mini-analyse.json"]
    assert "mini-analyse.ui.json" in version.form_files


def test_variant_from_the_reference_and_hostile_imports(session: Session, clock: FixedClock,
                                                        world: World) -> None:
    draft = drafts.copy_reference(session, clock, world.coordinator, world.territory.id,
                                  REFERENCE, FORMS, "commission")
    assert draft.main_file == "commission.bpmn" and draft.circuit_id is None
    assert "c3-saisine.json" in draft.form_files
    with pytest.raises(Conflict):
        drafts.copy_reference(session, clock, world.coordinator, world.territory.id,
                              REFERENCE, FORMS, "commission")
    with pytest.raises(NotFound):
        drafts.copy_reference(session, clock, world.coordinator, world.territory.id,
                              REFERENCE, FORMS, "inexistant")
    bomb = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><lolz>&lol;</lolz>'
    with pytest.raises(ProcessDefinitionError) as refused:
        drafts.import_files(session, clock, world.coordinator, world.territory.id, "importe",
                            "Importé", {"x.bpmn": bomb, "../../etc.json": b"{}"})
    messages = [p.message() for p in refused.value.problems]
    assert any("DOCTYPE" in m for m in messages) and any("refusé" in m for m in messages)
    modeler = ROOT / "tests" / "unit" / "fixtures" / "modelers" / "camunda-modeler.bpmn"
    imported = drafts.import_files(session, clock, world.coordinator, world.territory.id,
                                   "camunda", "Circuit Camunda",
                                   {"camunda-modeler.bpmn": modeler.read_bytes()})
    assert imported.key == "camunda" and imported.main_file == "camunda-modeler.bpmn"


def test_dry_run_walks_a_draft_in_memory(session: Session, clock: FixedClock,
                                         world: World) -> None:
    draft = _draft(session, clock, world)
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    run = drafts.dry_run(session, world.coordinator, draft.id, start,
                         {"nom_menage": "Essai"}, [{"task": "analyse", "data": {"mesure": "avdl"}},
                                                   {"wait": "P16D"}])
    kinds = [e.kind for e in run.walk.events]
    assert kinds[:2] == ["start", "ready"] and "timer" in kinds
    assert {t.bpmn_id for t in run.walk.ready} == {"escalade"}  # no answer after 15 days
    assert run.start_form is not None and run.walk.end is None
    assert session.scalar(select(Case.id)) is None  # no case stored
    with pytest.raises(ScenarioError):
        drafts.dry_run(session, world.coordinator, draft.id, start, {"nom_menage": "Essai"},
                       [{"task": "decision", "data": {}}])
    with pytest.raises(FormInvalid):
        drafts.dry_run(session, world.coordinator, draft.id, start, {"nom_menage": "Essai"},
                       [{"task": "analyse", "data": {"mesure": "autre"}}])


# --------------------------------------------------------------------------- issue #11

def test_deploy_folder_is_one_unit_of_work_for_the_system_only(
        session: Session, clock: FixedClock, world: World,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import event

    from engine.core.bundles import Territory as TerritoryFile
    from engine.persistence.models import Territory
    from engine.services import audit
    from engine.services.access import SYSTEM
    from tests.integration.factories import MINI
    into = TerritoryFile("atomique", "Atomique", ())
    with pytest.raises(PermissionDenied):
        circuits.deploy_folder(session, clock, world.coordinator, MINI, MINI / "forms",
                               into=into)
    real = audit.record

    def failing(session: Session, clock: FixedClock, actor: object, action: str,
                **kwargs: object) -> None:
        if action == "circuit.deploy":  # after the territory was written
            raise RuntimeError("panne au milieu du déploiement")
        real(session, clock, actor, action, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(audit, "record", failing)
    with pytest.raises(RuntimeError):
        circuits.deploy_folder(session, clock, SYSTEM, MINI, MINI / "forms", into=into)
    assert session.scalar(select(Territory.id).where(Territory.code == "atomique")) is None
    monkeypatch.setattr(audit, "record", real)
    session.commit()  # end the read snapshot left open by the select above
    commits: list[int] = []

    def count(_: Session) -> None:
        commits.append(1)

    event.listen(session, "after_commit", count)
    try:
        [version] = circuits.deploy_folder(session, clock, SYSTEM, MINI, MINI / "forms",
                                           into=into)
    finally:
        event.remove(session, "after_commit", count)
    assert len(commits) == 1 and version.number == 1


def test_authoring_services_return_plain_frozen_data(session: Session, clock: FixedClock,
                                                     world: World) -> None:
    from dataclasses import FrozenInstanceError, is_dataclass

    from engine.persistence.db import Base
    from tests.conftest import mini_bundle
    draft = _draft(session, clock, world)
    version = circuits.deploy(session, clock, world.coordinator, world.territory.id, "autre",
                              mini_bundle(), "copie")
    found = [draft, drafts.get(session, world.coordinator, draft.id), version,
             *circuits.list_circuits(session, world.coordinator, world.territory.id),
             circuits.start_form(session, world.coordinator, world.circuit.id)[0],
             circuits.diff_versions(session, world.coordinator, version.circuit_id, version.id,
                                    version.id).circuit,
             drafts.checked(session, world.coordinator, draft.id),
             drafts.edit_form(session, clock, world.coordinator, draft.id, "mini-analyse.json")]
    for item in found:
        assert is_dataclass(item) and not isinstance(item, Base), item
        with pytest.raises(FrozenInstanceError):
            item.title = "changé"  # type: ignore[misc, union-attr]
    assert drafts.get(session, world.coordinator, draft.id).roles[0]["key"] == "coordination"


def test_a_draft_is_built_once_per_revision(session: Session, clock: FixedClock, world: World,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from collections import OrderedDict

    from engine.core import dryrun
    from engine.core.spiff import compiler
    builds: list[str] = []
    real = compiler._build

    def counted(bundle: object) -> object:
        builds.append("build")
        return real(bundle)  # type: ignore[arg-type]

    monkeypatch.setattr(compiler, "_build", counted)
    monkeypatch.setattr(drafts, "_CACHE", OrderedDict())  # what earlier tests built
    draft = _draft(session, clock, world)
    start = dryrun.Posted(action="commencer", answers={"nom_menage": ["Essai"]})
    page = drafts.dry_run_step(session, world.coordinator, draft.id, start, clock.now())
    assert page.outcome.run is not None and not page.problems
    assert len(builds) == 1  # checked and compiled in one build for this revision (was 2)
    state = page.outcome.state
    answer = dryrun.Posted(action="terminer", task="analyse", start=state.start.isoformat(),
                           data=state.dumps("data"), steps=state.dumps("steps"),
                           answers={"mesure": ["avdl"]})
    for _ in range(3):
        page = drafts.dry_run_step(session, world.coordinator, draft.id, answer, clock.now())
        assert not page.outcome.errors and len(page.outcome.state.steps) == 1
    drafts.check(session, world.coordinator, draft.id)
    assert len(builds) == 1  # every later request reuses the build
    saved = drafts.save(session, clock, world.coordinator, draft.id, draft.revision,
                        _main(session, world, draft).replace(OLD_DEADLINE, NEW_DEADLINE))
    assert saved.errors == 0 and len(builds) == 2  # a new revision is checked again
    drafts.dry_run_step(session, world.coordinator, draft.id, answer, clock.now())
    assert len(builds) == 2  # its first dry-run click walks the build of the save's check
