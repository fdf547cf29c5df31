"""Circuit drafts: open, save (with a revision check), check, deploy, discard; forms of a
draft; territory variants; imports; and dry-runs of a draft in memory (no case stored).

A draft is one per circuit key of a territory. Saves name the revision they were made on:
a stale one is refused with a ``DraftConflict`` telling who saved in between.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core import bpmnxml, safejson, simulate
from engine.core.circuits import CircuitBundle, safe_name
from engine.core.forms import FormError, FormSpec, form_from_schema
from engine.core.loader import load_path
from engine.core.messages import reason
from engine.core.problems import Problem, has_errors
from engine.core.spiff.compiler import compile_circuit
from engine.errors import (
    ConcurrentUpdate,
    Conflict,
    FormInvalid,
    NotFound,
    ProcessDefinitionError,
)
from engine.persistence.db import transaction
from engine.persistence.models import Circuit, CircuitDraft, CircuitVersion, Territory, User
from engine.services import audit, circuits
from engine.services.access import Actor, require_coordinator

PARIS = ZoneInfo("Europe/Paris")
MAX_FORMS = 200


class DraftConflict(Conflict):
    """Someone saved the draft since the caller loaded it."""


@dataclass(frozen=True)
class SaveResult:
    """After a save: the new revision and what the check found."""

    revision: int
    problems: list[Problem]

    @property
    def errors(self) -> int:
        """How many problems block deployment."""
        return sum(1 for p in self.problems if p.is_error)


def open_for_circuit(session: Session, clock: Clock, actor: Actor,
                     circuit_id: int) -> CircuitDraft:
    """The circuit's draft, created from its active version when there is none.

    :raises NotFound: unknown circuit, or one without any version.
    :raises PermissionDenied: the actor does not coordinate the territory.
    """
    with transaction(session):
        circuit = session.get(Circuit, circuit_id)
        if circuit is None or circuit.active_version_id is None:
            raise NotFound(code="svc.circuit_unknown")
        require_coordinator(actor, circuit.territory_id)
        draft = _by_key(session, circuit.territory_id, circuit.key)
        if draft is None:
            version = session.get(CircuitVersion, circuit.active_version_id)
            assert version is not None
            draft = _new(session, clock, actor, circuit.territory_id, circuit.key, circuit.title,
                         version.main_file, version.bpmn_files, version.form_files)
            draft.circuit_id, draft.base_version_id = circuit.id, version.id
            draft.process_id = version.process_id
            session.flush()
    return draft


def get(session: Session, actor: Actor, draft_id: int) -> CircuitDraft:
    """A draft of a territory the actor coordinates.

    :raises NotFound: unknown draft.
    :raises PermissionDenied: the actor does not coordinate its territory.
    """
    draft = session.get(CircuitDraft, draft_id)
    if draft is None:
        raise NotFound(code="svc.draft_unknown")
    require_coordinator(actor, draft.territory_id)
    return draft


def bundle_of(draft: CircuitDraft) -> CircuitBundle:
    """The draft's files as a bundle (roles are added by ``circuits.check_bundle``)."""
    return CircuitBundle(process_id=draft.process_id, main_file=draft.main_file,
                         bpmn={k: v.encode() for k, v in draft.bpmn_files.items()},
                         forms={k: v.encode() for k, v in draft.form_files.items()},
                         title=draft.title)


def check(session: Session, actor: Actor, draft_id: int) -> list[Problem]:
    """Every problem of the draft, with the territory's roles."""
    draft = get(session, actor, draft_id)
    return circuits.check_bundle(session, draft.territory_id, bundle_of(draft))


def save(session: Session, clock: Clock, actor: Actor, draft_id: int, revision: int,
         xml: str) -> SaveResult:
    """Store the diagram of the draft's main file, then check the draft.

    :raises DraftConflict: the draft was saved by someone else since ``revision``.
    :raises ProcessDefinitionError: the text is not a readable BPMN file (nothing stored).
    """
    raw = xml.encode("utf-8", "surrogatepass")  # a lone surrogate then fails the UTF-8 check
    _, unreadable = bpmnxml.parse_document("diagramme.bpmn", raw)
    if unreadable:
        raise ProcessDefinitionError(unreadable)
    with _saving(session, clock, actor, draft_id, revision) as draft:
        draft.bpmn_files = {**draft.bpmn_files, draft.main_file: xml}
    return SaveResult(draft.revision, check(session, actor, draft_id))


def save_form(session: Session, clock: Clock, actor: Actor, draft_id: int, revision: int,
              name: str, schema: Mapping[str, Any], ui: Mapping[str, Any] | None) -> int:
    """Store a form file (and its UI schema) in the draft; return the new revision.

    :raises FormInvalid: bad file name or unusable schema (``{"": [message]}``).
    :raises DraftConflict: the draft was saved by someone else since ``revision``.
    """
    validate_form(name, schema, ui)
    with _saving(session, clock, actor, draft_id, revision) as draft:
        files = dict(draft.form_files)
        if name not in files and len(files) >= MAX_FORMS:
            raise FormInvalid({"": ["Trop de formulaires dans ce circuit."]})
        files[name] = json.dumps(schema, ensure_ascii=False, indent=2) + "\n"
        ui_name = name[:-5] + ".ui.json"
        if ui:
            files[ui_name] = json.dumps(ui, ensure_ascii=False, indent=2) + "\n"
        else:
            files.pop(ui_name, None)
        draft.form_files = files
    return draft.revision


def validate_form(name: str, schema: Mapping[str, Any],
                  ui: Mapping[str, Any] | None) -> FormSpec:
    """The field specs of a schema, or ``FormInvalid`` with a French message."""
    if not safe_name(name) or not name.endswith(".json") or name.endswith(".ui.json"):
        raise FormInvalid({"": [f"Nom de fichier refusé : {name} (lettres, chiffres, tirets, "
                                "se terminant par .json)."]})
    try:
        return form_from_schema(dict(schema), ui)
    except FormError as exc:
        from engine.core.messages import render
        raise FormInvalid({"": [render(exc.code, "fr", {"detail": exc.detail})]}) from None


def deploy(session: Session, clock: Clock, actor: Actor, draft_id: int, revision: int,
           note: str) -> CircuitVersion:
    """Deploy the draft as a new active version and remove the draft (one transaction).

    :raises DraftConflict: the draft changed since ``revision``.
    :raises ProcessDefinitionError: the draft fails the check; nothing changes.
    """
    with transaction(session):
        draft = get(session, actor, draft_id)
        _expect(session, draft, revision)
        version = circuits.store_version(session, clock, actor, draft.territory_id, draft.key,
                                         bundle_of(draft), note)
        session.delete(draft)
    return version


def discard(session: Session, clock: Clock, actor: Actor, draft_id: int) -> None:
    """Throw the draft away (the versions are untouched)."""
    with transaction(session):
        draft = get(session, actor, draft_id)
        audit.record(session, clock, actor, "circuit.draft_discard",
                     territory_id=draft.territory_id, circuit=draft.key)
        session.delete(draft)


# --------------------------------------------------------------------------- variants, imports

def copy_reference(session: Session, clock: Clock, actor: Actor, territory_id: int,
                   reference: Path, forms_root: Path, key: str) -> CircuitDraft:
    """Make a reference circuit the territory's draft for that circuit (a variant).

    :raises NotFound: no such reference circuit.
    :raises Conflict: the territory already has a draft for it.
    """
    found = dict(load_path(reference, forms_root).bundles).get(f"{reference.name}/{key}")
    if found is None:
        raise NotFound(code="svc.reference_circuit_unknown")
    return _create(session, clock, actor, territory_id, key, found)


def import_files(session: Session, clock: Clock, actor: Actor, territory_id: int, key: str,
                 title: str, files: Mapping[str, bytes]) -> CircuitDraft:
    """A draft from uploaded files (``.bpmn`` from the Camunda Modeler or spiff-arena, plus
    ``.json`` forms). Unreadable or hostile files are refused with the reasons, nothing stored.

    :raises ProcessDefinitionError: a file is refused.
    """
    problems: list[Problem] = []
    bpmn: dict[str, bytes] = {}
    form_files: dict[str, bytes] = {}
    for name, raw in files.items():
        base = name.rsplit("/", 1)[-1]
        if not safe_name(base) or not base.endswith((".bpmn", ".json")):
            problems.append(Problem("file.unsafe_name", file=base, params={"name": base}))
        elif base.endswith(".bpmn"):
            problems += bpmnxml.parse_document(base, raw)[1]
            bpmn[base] = raw
        else:
            problems += _json_file(base, raw)
            form_files[base] = raw
    if not bpmn:
        problems.append(Problem("file.missing", params={"name": ".bpmn"}))
    if problems:
        raise ProcessDefinitionError(problems)
    main = sorted(bpmn)[0]
    bundle = CircuitBundle(None, main, bpmn, form_files, title=title or key)
    return _create(session, clock, actor, territory_id, key, bundle)


def _json_file(name: str, raw: bytes) -> list[Problem]:
    """Why an uploaded form file cannot be read (not UTF-8, too deep, not JSON), if it cannot."""
    try:
        safejson.loads(raw)
    except safejson.JsonError as exc:
        return [Problem("file.bad_json", file=name, line=exc.line,
                        params={"reason": reason(exc.code, exc.detail)})]
    return []


def _create(session: Session, clock: Clock, actor: Actor, territory_id: int, key: str,
            bundle: CircuitBundle) -> CircuitDraft:
    with transaction(session):
        require_coordinator(actor, territory_id)
        if session.get(Territory, territory_id) is None:
            raise NotFound(code="svc.territory_unknown")
        if _by_key(session, territory_id, key) is not None:
            raise Conflict(code="svc.draft_exists")
        draft = _new(session, clock, actor, territory_id, key, bundle.title or key,
                     bundle.main_file, {k: v.decode() for k, v in bundle.bpmn.items()},
                     {k: v.decode() for k, v in bundle.forms.items()})
        draft.process_id = bundle.process_id
        circuit = session.scalar(select(Circuit).where(Circuit.territory_id == territory_id,
                                                       Circuit.key == key))
        draft.circuit_id = circuit.id if circuit else None
        session.flush()
    return draft


# --------------------------------------------------------------------------- dry-run

@dataclass
class DryRun:
    """A walk of a draft: what happened, what is ready, what waits, how it ended."""

    walk: simulate.Walk
    forms: dict[str, FormSpec | None]
    start_form: FormSpec | None


def dry_run(session: Session, actor: Actor, draft_id: int, start: datetime,
            data: Mapping[str, Any], steps: list[dict[str, Any]]) -> DryRun:
    """Replay ``steps`` (as in scenario files) on the draft, in memory, with simulated time.

    :raises ProcessDefinitionError: the draft fails the check.
    :raises FormInvalid: answers a form refuses.
    :raises ScenarioError: a step that cannot be played (not ready, bad duration...).
    """
    draft = get(session, actor, draft_id)
    bundle = bundle_of(draft)
    circuits.check_bundle(session, draft.territory_id, bundle)  # adds the territory's roles
    compiled = compile_circuit(bundle)
    from engine.core.spiff.runner import start_form
    walk = simulate.run(compiled, {"data": dict(data), "steps": steps}, start=start)
    assert walk.case is not None
    ready = {t.bpmn_id: walk.case.form_for(t.id) for t in walk.ready}
    return DryRun(walk, ready, start_form(compiled))


def start_form_of(session: Session, actor: Actor, draft_id: int) -> FormSpec | None:
    """The start form of the draft (None when it has none or fails the check)."""
    draft = get(session, actor, draft_id)
    bundle = bundle_of(draft)
    if has_errors(circuits.check_bundle(session, draft.territory_id, bundle)):
        return None
    from engine.core.spiff.runner import start_form
    return start_form(compile_circuit(bundle))


# --------------------------------------------------------------------------- internals

def _by_key(session: Session, territory_id: int, key: str) -> CircuitDraft | None:
    return session.scalar(select(CircuitDraft).where(CircuitDraft.territory_id == territory_id,
                                                     CircuitDraft.key == key))


def _new(session: Session, clock: Clock, actor: Actor, territory_id: int, key: str, title: str,
         main_file: str, bpmn: dict[str, str], form_files: dict[str, str]) -> CircuitDraft:
    draft = CircuitDraft(territory_id=territory_id, key=key, title=title[:200],
                         main_file=main_file, bpmn_files=dict(bpmn), form_files=dict(form_files),
                         created_at=clock.now(), updated_at=clock.now(),
                         updated_by_id=actor.user_id)
    session.add(draft)
    audit.record(session, clock, actor, "circuit.draft_open", territory_id=territory_id,
                 circuit=key)
    return draft


def _expect(session: Session, draft: CircuitDraft, revision: int) -> None:
    if draft.revision == revision:
        return
    who = session.get(User, draft.updated_by_id) if draft.updated_by_id else None
    at = draft.updated_at.astimezone(PARIS).strftime("%H:%M")
    raise DraftConflict(
        f"Ce brouillon a été enregistré par {who.display_name if who else 'quelqu’un'} à {at} "
        "depuis que vous l'avez ouvert : vos changements n'ont pas été enregistrés. "
        "Rechargez la page pour repartir de sa version, puis refaites-les.")


@contextmanager
def _saving(session: Session, clock: Clock, actor: Actor, draft_id: int,
            revision: int) -> Iterator[CircuitDraft]:
    """One save of a draft: revision check, who and when, commit."""
    try:
        with transaction(session):
            draft = get(session, actor, draft_id)
            _expect(session, draft, revision)
            draft.updated_at, draft.updated_by_id = clock.now(), actor.user_id
            yield draft
    except ConcurrentUpdate as exc:  # a save raced ours between the check and the write
        raise DraftConflict(code="svc.draft_saved_meanwhile") from exc
