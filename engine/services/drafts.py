"""Circuit drafts: open, save (with a revision check), check, deploy, discard; forms of a
draft and their editor; territory variants; imports; and dry-runs of a draft in memory (no
case stored).

A draft is one per circuit key of a territory. Saves name the revision they were made on:
a stale one is refused with a ``DraftConflict`` telling who saved in between. Every use case
returns plain frozen data (``DraftInfo``, ``circuits.Version``...), never a row. A draft is
checked and compiled once per revision (a small in-process cache), not once per request.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from threading import Lock
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core import bpmnxml, dryrun, form_editor, safejson
from engine.core.bundles import CircuitBundle, safe_name
from engine.core.dryrun import DryRun
from engine.core.dryrun import Posted as Posted  # what the dry-run page posts
from engine.core.forms import FormError, FormSpec, form_from_schema, load_json_form
from engine.core.loader import load_path
from engine.core.messages import reason, render
from engine.core.problems import Problem
from engine.core.spiff.compiler import CompiledCircuit
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
CACHE_SIZE = 16  # drafts checked and compiled, by (draft, revision, files and roles)

__all__ = ["DryRun"]  # re-exported: the dry-run result is the core's plain data


class DraftConflict(Conflict):
    """Someone saved the draft since the caller loaded it."""


@dataclass(frozen=True)
class DraftInfo:
    """A draft as pages show it: its files, the revision a save must name, its roles."""

    id: int
    territory_id: int
    key: str
    title: str
    main_file: str
    bpmn_files: dict[str, str]
    form_files: dict[str, str]
    revision: int
    circuit_id: int | None
    base_version_id: int | None
    process_id: str | None
    roles: list[dict[str, Any]] = field(default_factory=list)
    # the territory's yearly periods a step's or a timer's ``period`` rule may name (key,
    # label, ``from`` and ``to`` as ``MM-DD``), as its files gave them at the last load
    periods: list[dict[str, str]] = field(default_factory=list)

    @property
    def xml(self) -> str:
        """The diagram of the main file."""
        return self.bpmn_files[self.main_file]

    @property
    def form_names(self) -> list[str]:
        """The circuit's own form files (UI schemas left out), sorted: those its diagram names
        and those added to the draft, never those of a circuit it calls (``called_forms``)."""
        called = self.called_forms
        return sorted(n for n in self.form_files
                      if not n.endswith(".ui.json") and n not in called)

    @property
    def form_titles(self) -> dict[str, str]:
        """The circuit's own form files by name → the title their schema gives (the file name
        when it has none, or cannot be read): what the modeler offers a step."""
        titles: dict[str, str] = {}
        for name in self.form_names:
            try:
                schema = safejson.loads(self.form_files[name])
            except safejson.JsonError:
                schema = None
            title = schema.get("title") if isinstance(schema, dict) else None
            titles[name] = title.strip() if isinstance(title, str) and title.strip() else name
        return titles

    @property
    def date_fields(self) -> list[dict[str, str]]:
        """The date fields (``format: date``, top level) of the circuit's own forms, each
        once (with the shortest label the forms give it: « Date d'audience » rather than
        « Date d'audience (si connue) »), by label: what a step's deadline may count from
        (``dueRelative``). A form that cannot be read gives none (the check says why)."""
        found: dict[str, str] = {}
        for name in self.form_names:
            try:
                spec = load_json_form(self.form_files[name])
            except FormError:
                continue
            for item in spec.fields:
                label = (item.label or "").strip() or item.name
                if item.kind == "date" and len(label) < len(found.get(item.name, label + " ")):
                    found[item.name] = label
        return [{"name": n, "label": label}
                for n, label in sorted(found.items(), key=lambda p: (p[1].lower(), p[0]))]

    @property
    def called_forms(self) -> dict[str, str]:
        """Form files named only by the diagrams of the circuits this one calls (copied with
        them for the call activities, edited in those circuits), by name: the called
        circuit's title."""
        own: set[str] = set()
        others: dict[str, str] = {}
        for name, text in sorted(self.bpmn_files.items()):
            doc, _ = bpmnxml.parse_document(name, text.encode())
            if doc is None:
                continue
            named = bpmnxml.referenced_forms(doc)
            if name == self.main_file:
                own |= named
                continue
            title = next((p.get("name") or p.get("id") or name for p in doc.processes()), name)
            others.update({form: str(title) for form in named})
        return {form: title for form, title in others.items() if form not in own}


@dataclass(frozen=True)
class SaveResult:
    """After a save: the new revision and what the check found."""

    revision: int
    problems: list[Problem]

    @property
    def errors(self) -> int:
        """How many problems block deployment."""
        return sum(1 for p in self.problems if p.is_error)


@dataclass(frozen=True)
class FormEditor:
    """The form-file editor: rows, title, errors, and (when valid) the schemas and fields."""

    draft: DraftInfo
    name: str
    rows: list[form_editor.Row]
    title: str
    errors: list[str]
    spec: FormSpec | None
    saved_revision: int | None = None  # set when the form was saved


@dataclass(frozen=True)
class DryRunPage:
    """One request of the dry-run page: the draft, what blocks it, and the walk's outcome."""

    draft: DraftInfo
    problems: list[Problem]  # errors of the check: the draft cannot be walked
    outcome: dryrun.Outcome


def open_for_circuit(session: Session, clock: Clock, actor: Actor,
                     circuit_id: int) -> DraftInfo:
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
        return _info(draft)


def get(session: Session, actor: Actor, draft_id: int) -> DraftInfo:
    """A draft of a territory the actor coordinates, with the territory's roles and periods.

    :raises NotFound: unknown draft.
    :raises PermissionDenied: the actor does not coordinate its territory.
    """
    draft = _get(session, actor, draft_id)
    territory = session.get(Territory, draft.territory_id)
    if territory is None:
        return _info(draft)
    periods = [{"key": str(p["key"]), "label": str(p["label"]), "from": str(p["from"]),
                "to": str(p["to"])} for p in territory.periods or []]
    return replace(_info(draft, list(territory.roles)), periods=periods)


def bundle_of(draft: CircuitDraft | DraftInfo) -> CircuitBundle:
    """The draft's files as a bundle (``circuits`` adds the territory's roles)."""
    return CircuitBundle(process_id=draft.process_id, main_file=draft.main_file,
                         bpmn={k: v.encode() for k, v in draft.bpmn_files.items()},
                         forms={k: v.encode() for k, v in draft.form_files.items()},
                         title=draft.title)


def check(session: Session, actor: Actor, draft_id: int) -> list[Problem]:
    """Every problem of the draft, with the territory's roles."""
    return list(_built(session, _get(session, actor, draft_id)).problems)


@dataclass(frozen=True)
class CheckedDraft:
    """A draft and every problem its check finds (what the modeler loads)."""

    draft: DraftInfo
    problems: list[Problem]


def checked(session: Session, actor: Actor, draft_id: int) -> CheckedDraft:
    """A draft with its territory's roles and the problems of its check.

    :raises NotFound: unknown draft.
    :raises PermissionDenied: the actor does not coordinate its territory.
    """
    draft = get(session, actor, draft_id)
    return CheckedDraft(draft, check(session, actor, draft_id))


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
        raise FormInvalid({"": [render(exc.code, "fr", {"detail": exc.detail})]}) from None


def edit_form(session: Session, clock: Clock, actor: Actor, draft_id: int, name: str,
              posted: Mapping[str, str] | None = None, action: str = "",
              lang: str = "fr") -> FormEditor:
    """The editor of a form file: its stored rows (``posted`` None), or the posted rows with
    ``action`` ``ajouter`` (a new row) or ``enregistrer`` (save them when they are valid;
    ``posted["revision"]`` names the revision they were made on). Errors are returned.

    :raises PermissionDenied: the actor does not coordinate the draft's territory.
    """
    draft = get(session, actor, draft_id)
    called = draft.called_forms.get(name)
    if called is not None:  # the called circuit's copy: changed there, never here
        return FormEditor(draft, name, [], "", [
            f"Ce formulaire est celui du circuit appelé « {called} » : modifiez-le dans ce "
            "circuit-là."], None)
    if posted is None:
        rows, title = form_editor.rows_of_file(draft.form_files, name)
    else:
        rows, title = form_editor.rows_of_post(posted)
        if action == "ajouter" and len(rows) < form_editor.MAX_ROWS:
            rows.append(form_editor.blank(order=len(rows) + 1))
    errors = form_editor.row_errors(rows)
    if errors:
        return FormEditor(draft, name, rows, title, errors, None)
    schema, ui = form_editor.schema_of_rows(rows, title)
    try:
        spec = validate_form(name, schema, ui)
    except FormInvalid as exc:
        return FormEditor(draft, name, rows, title, exc.errors.get("", []), None)
    if posted is None or action != "enregistrer":
        return FormEditor(draft, name, rows, title, [], spec)
    try:
        revision = save_form(session, clock, actor, draft_id,
                             form_editor.int_or(posted.get("revision"), 0), name, schema, ui)
    except (FormInvalid, Conflict) as exc:
        found = exc.errors.get("", []) if isinstance(exc, FormInvalid) else [exc.message_in(lang)]
        return FormEditor(draft, name, rows, title, found, spec)
    return FormEditor(draft, name, rows, title, [], spec, saved_revision=revision)


def deploy(session: Session, clock: Clock, actor: Actor, draft_id: int, revision: int,
           note: str) -> circuits.Version:
    """Deploy the draft as a new active version and remove the draft (one transaction).

    :raises DraftConflict: the draft changed since ``revision``.
    :raises ProcessDefinitionError: the draft fails the check; nothing changes.
    """
    with transaction(session):
        draft = _get(session, actor, draft_id)
        _expect(session, draft, revision)
        version = circuits.deploy(session, clock, actor, draft.territory_id, draft.key,
                                  bundle_of(draft), note)
        session.delete(draft)
    return version


def discard(session: Session, clock: Clock, actor: Actor, draft_id: int) -> None:
    """Throw the draft away (the versions are untouched)."""
    with transaction(session):
        draft = _get(session, actor, draft_id)
        audit.record(session, clock, actor, "circuit.draft_discard",
                     territory_id=draft.territory_id, circuit=draft.key)
        session.delete(draft)


# --------------------------------------------------------------------------- variants, imports

def copy_reference(session: Session, clock: Clock, actor: Actor, territory_id: int,
                   reference: Path, forms_root: Path, key: str) -> DraftInfo:
    """Make a reference circuit the territory's draft for that circuit (a variant).

    :raises NotFound: no such reference circuit.
    :raises Conflict: the territory already has a draft for it.
    """
    found = dict(load_path(reference, forms_root).bundles).get(f"{reference.name}/{key}")
    if found is None:
        raise NotFound(code="svc.reference_circuit_unknown")
    return _create(session, clock, actor, territory_id, key, found)


def import_files(session: Session, clock: Clock, actor: Actor, territory_id: int, key: str,
                 title: str, files: Mapping[str, bytes]) -> DraftInfo:
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
            bundle: CircuitBundle) -> DraftInfo:
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
        return _info(draft)


# --------------------------------------------------------------------------- dry-run

def dry_run(session: Session, actor: Actor, draft_id: int, start: datetime,
            data: Mapping[str, Any], steps: list[dict[str, Any]]) -> DryRun:
    """Replay ``steps`` (as in scenario files) on the draft, in memory, with simulated time.

    :raises ProcessDefinitionError: the draft fails the check.
    :raises FormInvalid: answers a form refuses.
    :raises ScenarioError: a step that cannot be played (not ready, bad duration...).
    """
    compiled = _compiled(_built(session, _get(session, actor, draft_id)))
    return dryrun.replay(compiled, start, data, steps)


def dry_run_step(session: Session, actor: Actor, draft_id: int, posted: Posted,
                 now: datetime, lang: str = "fr") -> DryRunPage:
    """One request of the dry-run page: replay the carried walk, apply the posted action
    (start, answer a step, let time pass, restart). A draft failing the check is not walked:
    its errors are returned. The draft is compiled once per revision, not per request.

    :raises NotFound: unknown draft.
    :raises PermissionDenied: the actor does not coordinate its territory.
    """
    row = _get(session, actor, draft_id)
    draft, built = _info(row), _built(session, row)
    blocking = [p for p in built.problems if p.is_error]
    if blocking:
        outcome = dryrun.Outcome(dryrun.State(now), None, {}, None)
        return DryRunPage(draft, blocking, outcome)
    return DryRunPage(draft, [], dryrun.play(_compiled(built), posted, now, lang))


@dataclass(frozen=True)
class _Built:
    """A draft revision checked (with its territory's roles) and, when no error blocks it,
    compiled: both from the same build."""

    problems: tuple[Problem, ...]
    compiled: CompiledCircuit | None


_CACHE: OrderedDict[tuple[int, int, str], _Built] = OrderedDict()
_CACHE_LOCK = Lock()


def _built(session: Session, draft: CircuitDraft) -> _Built:
    """The check and build of a draft revision, from the cache (bounded, least recently used
    out): a revision is built once, whether the modeler checks it or a dry-run walks it."""
    territory = session.get(Territory, draft.territory_id)
    digest = hashlib.sha256(json.dumps(
        [draft.main_file, draft.bpmn_files, draft.form_files, draft.process_id,
         territory.roles if territory else None,
         territory.holiday_subdivision if territory else None,
         territory.periods if territory else None],
        sort_keys=True).encode()).hexdigest()
    key = (draft.id, draft.revision, digest)  # ids may be reused once a draft is deployed
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    problems, compiled = circuits.check_and_compile_bundle(session, draft.territory_id,
                                                           bundle_of(draft))
    built = _Built(tuple(problems), compiled)
    with _CACHE_LOCK:
        _CACHE[key] = built
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return built


def _compiled(built: _Built) -> CompiledCircuit:
    """The compiled draft (built once per revision, with its check).

    :raises ProcessDefinitionError: the draft fails the check.
    """
    if built.compiled is None:
        raise ProcessDefinitionError([p for p in built.problems if p.is_error])
    return built.compiled


# --------------------------------------------------------------------------- internals

def _get(session: Session, actor: Actor, draft_id: int) -> CircuitDraft:
    draft = session.get(CircuitDraft, draft_id)
    if draft is None:
        raise NotFound(code="svc.draft_unknown")
    require_coordinator(actor, draft.territory_id)
    return draft


def _info(draft: CircuitDraft, roles: list[dict[str, Any]] | None = None) -> DraftInfo:
    return DraftInfo(draft.id, draft.territory_id, draft.key, draft.title, draft.main_file,
                     dict(draft.bpmn_files), dict(draft.form_files), draft.revision,
                     draft.circuit_id, draft.base_version_id, draft.process_id, roles or [])


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
            draft = _get(session, actor, draft_id)
            _expect(session, draft, revision)
            draft.updated_at, draft.updated_by_id = clock.now(), actor.user_id
            yield draft
    except ConcurrentUpdate as exc:  # a save raced ours between the check and the write
        raise DraftConflict(code="svc.draft_saved_meanwhile") from exc
