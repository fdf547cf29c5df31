"""Deploying circuits as immutable versions, listing them, choosing the active one.

Every use case returns plain frozen data (``CircuitInfo``, ``Version``, ``VersionInfo``...),
never a row; ``deploy`` and ``deploy_folder`` join their caller's unit of work.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core import diff as semantic
from engine.core.bundles import CircuitBundle, Part, Period, Role, TerritoryError, load_territory
from engine.core.bundles import Territory as TerritoryFile
from engine.core.loader import load_path
from engine.core.problems import Problem
from engine.core.spiff.compiler import CompiledCircuit, check, check_and_compile, compile_circuit
from engine.core.spiff.runner import start_form as form_of
from engine.errors import NotFound, PermissionDenied, ProcessDefinitionError
from engine.persistence.db import transaction
from engine.persistence.models import (
    Case,
    Circuit,
    CircuitDraft,
    CircuitVersion,
    HumanTask,
    Territory,
    User,
)
from engine.persistence.models.case import CaseStatus
from engine.persistence.models.human_task import TaskStatus
from engine.services import audit, runtime, territories
from engine.services.access import Actor, require_coordinator, require_member


@dataclass(frozen=True)
class CircuitInfo:
    """A circuit as lists and pages show it."""

    id: int
    territory_id: int
    key: str
    title: str
    active_version_id: int | None
    description: str = ""  # what it is for (its active version's), where a page needs it


@dataclass(frozen=True)
class Version:
    """A deployed version and its files (immutable)."""

    id: int
    circuit_id: int
    number: int
    process_id: str
    main_file: str
    note: str
    deployed_at: datetime
    bpmn_files: dict[str, str]
    form_files: dict[str, str]


def circuit_info(circuit: Circuit) -> CircuitInfo:
    """The plain data of a circuit row."""
    return CircuitInfo(circuit.id, circuit.territory_id, circuit.key, circuit.title,
                       circuit.active_version_id)


def version_data(version: CircuitVersion) -> Version:
    """The plain data of a version row."""
    return Version(version.id, version.circuit_id, version.number, version.process_id,
                   version.main_file, version.note, version.deployed_at,
                   dict(version.bpmn_files), dict(version.form_files))


@dataclass(frozen=True)
class VersionInfo:
    """A deployed version as lists show it."""

    id: int
    number: int
    note: str
    deployed_at: datetime
    deployed_by_id: int | None
    active: bool
    open_cases: int
    deployed_by: str | None = None


def check_bundle(session: Session, territory_id: int, bundle: CircuitBundle) -> list[Problem]:
    """Every problem of a bundle, checked with the territory's roles (read only)."""
    return check_and_compile_bundle(session, territory_id, bundle)[0]


def check_and_compile_bundle(session: Session, territory_id: int, bundle: CircuitBundle,
                             ) -> tuple[list[Problem], CompiledCircuit | None]:
    """Every problem of a bundle checked with the territory's roles and, unless one is an
    error, the compiled circuit: one build for both (read only)."""
    territory = _territory(session, territory_id)
    return check_and_compile(_with_territory(bundle, territory))


def deploy(session: Session, clock: Clock, actor: Actor, territory_id: int, key: str,
           bundle: CircuitBundle, note: str = "", activate: bool = True) -> Version:
    """Store a checked circuit as a new immutable version (the same files twice: no new one).
    Called inside another use case, it joins that use case's unit of work.

    :raises PermissionDenied: the actor does not coordinate the territory.
    :raises ProcessDefinitionError: the circuit fails the check; nothing is stored.
    """
    require_coordinator(actor, territory_id)
    with transaction(session):
        return version_data(_store(session, clock, actor, territory_id, key, bundle, note,
                                   activate))


def _store(session: Session, clock: Clock, actor: Actor, territory_id: int, key: str,
           bundle: CircuitBundle, note: str, activate: bool) -> CircuitVersion:
    territory = _territory(session, territory_id)
    bundle = _with_territory(bundle, territory)
    compiled = compile_circuit(bundle)
    circuit = session.scalar(select(Circuit).where(Circuit.territory_id == territory_id,
                                                   Circuit.key == key))
    if circuit is None:
        circuit = Circuit(territory_id=territory_id, key=key,
                          title=(bundle.title or compiled.title)[:200])
        session.add(circuit)
        session.flush()
    latest = session.scalar(select(CircuitVersion).where(
        CircuitVersion.circuit_id == circuit.id).order_by(CircuitVersion.number.desc()))
    if latest is not None and latest.checksum == compiled.checksum:
        return latest
    version = CircuitVersion(
        circuit_id=circuit.id, number=(latest.number + 1) if latest else 1,
        process_id=compiled.process_id, main_file=bundle.main_file,
        bpmn_files={k: v.decode() for k, v in bundle.bpmn.items()},
        form_files={k: v.decode() for k, v in bundle.forms.items()},
        spec=compiled.spec_json, checksum=compiled.checksum, note=note[:500],
        deployed_by_id=actor.user_id, deployed_at=clock.now())
    session.add(version)
    session.flush()
    if activate or circuit.active_version_id is None:
        circuit.active_version_id = version.id
    audit.record(session, clock, actor, "circuit.deploy", territory_id=territory_id,
                 circuit=key, version=version.number)
    return version


def deploy_folder(session: Session, clock: Clock, actor: Actor, folder: Path,
                  forms_root: Path, note: str = "",
                  into: TerritoryFile | None = None, prefix: str | None = None,
                  ) -> list[Version]:
    """Create or update the territory of a folder (or ``into``, keeping the folder's roles)
    and deploy each circuit it lists, in one unit of work (all or nothing). Operations tools
    only: the command line and the demo pass ``SYSTEM``.

    :raises PermissionDenied: the actor is a person, not the system.
    :raises ProcessDefinitionError: the territory file is missing or invalid, or a circuit
        fails the check; nothing is stored.
    """
    if not actor.is_system:
        raise PermissionDenied(code="svc.system_only")
    try:
        settings = load_territory(folder)
    except TerritoryError as exc:
        raise ProcessDefinitionError([territory_problem(folder, exc)]) from None
    target = replace(into, roles=settings.roles, circuits=settings.circuits,
                     parts=settings.parts, periods=settings.periods,
                     retention=settings.retention) if into else settings
    loaded = load_path(folder, forms_root)
    problems = loaded.problems + [p for _, b in loaded.bundles for p in check(b) if p.is_error]
    if problems:  # refuse the whole folder before anything is stored
        raise ProcessDefinitionError(problems)
    by_label = dict(loaded.bundles)
    with transaction(session):
        territory = territories.ensure_territory(session, clock, actor, target, prefix)
        return [deploy(session, clock, actor, territory.id, entry.key,
                       by_label[f"{folder.name}/{entry.key}"], note)
                for entry in settings.circuits]


def territory_problem(folder: Path, exc: TerritoryError) -> Problem:
    """The problem to show for a folder whose ``territory.json`` is missing or invalid."""
    path = folder / "territory.json"
    if not path.is_file():
        return Problem("territory.missing", file=str(path))
    return Problem("territory.invalid", file=str(path), params={"detail": str(exc)})


def versions(session: Session, actor: Actor, circuit_id: int) -> list[VersionInfo]:
    """Versions of a circuit, newest first, with their open case counts."""
    circuit = _circuit(session, actor, circuit_id)
    counts = dict(session.execute(
        select(Case.circuit_version_id, func.count()).where(
            Case.circuit_id == circuit_id, Case.status == CaseStatus.OPEN)
        .group_by(Case.circuit_version_id)).all())
    rows = session.execute(
        select(CircuitVersion, User.display_name)
        .outerjoin(User, User.id == CircuitVersion.deployed_by_id)
        .where(CircuitVersion.circuit_id == circuit_id)
        .order_by(CircuitVersion.number.desc())).all()
    return [VersionInfo(v.id, v.number, v.note, v.deployed_at, v.deployed_by_id,
                        v.id == circuit.active_version_id, counts.get(v.id, 0), name)
            for v, name in rows]


def activate(session: Session, clock: Clock, actor: Actor, circuit_id: int,
             version_id: int) -> None:
    """Make a version the one new cases start on (running cases stay on theirs).

    :raises NotFound: the version is not one of the circuit's.
    """
    with transaction(session):
        circuit = _circuit(session, actor, circuit_id)
        require_coordinator(actor, circuit.territory_id)
        version = session.get(CircuitVersion, version_id)
        if version is None or version.circuit_id != circuit_id:
            raise NotFound(code="svc.version_unknown")
        circuit.active_version_id = version.id
        audit.record(session, clock, actor, "circuit.activate", territory_id=circuit.territory_id,
                     circuit_id=circuit_id, version=version.number)


def list_circuits(session: Session, actor: Actor, territory_id: int) -> list[CircuitInfo]:
    """Circuits of a territory that have an active version.

    Each active version's checksum comes with its circuit, so a version already in the
    circuit cache costs no statement (lists offer every circuit as a filter: one
    ``circuit_version`` read per circuit per request would be paid on every page)."""
    require_member(actor, territory_id)
    return [replace(circuit_info(c), description=runtime.compiled(
                session, c.active_version_id, checksum).description)  # type: ignore[arg-type]
            for c, checksum in session.execute(
                select(Circuit, CircuitVersion.checksum)
                .join(CircuitVersion, CircuitVersion.id == Circuit.active_version_id)
                .where(Circuit.territory_id == territory_id).order_by(Circuit.title))]


def start_form(session: Session, actor: Actor, circuit_id: int) -> tuple[CircuitInfo, Any]:
    """The circuit and the start form (``FormSpec`` or None) of its active version.

    :raises NotFound: unknown circuit, no active version, or outside the actor's territories.
    """
    circuit = _circuit(session, actor, circuit_id)
    if circuit.active_version_id is None:
        raise NotFound(code="svc.circuit_no_active_version")
    return circuit_info(circuit), form_of(runtime.compiled(session, circuit.active_version_id))


def _circuit(session: Session, actor: Actor, circuit_id: int) -> Circuit:
    circuit = session.get(Circuit, circuit_id)
    if circuit is None:
        raise NotFound(code="svc.circuit_unknown")
    require_member(actor, circuit.territory_id)
    return circuit


def _territory(session: Session, territory_id: int) -> Territory:
    territory = session.get(Territory, territory_id)
    if territory is None:
        raise NotFound(code="svc.territory_unknown")
    return territory


def _with_territory(bundle: CircuitBundle, territory: Territory) -> CircuitBundle:
    bundle.roles = tuple(Role(r["key"], r["label"]) for r in territory.roles)
    bundle.holiday_subdivision = territory.holiday_subdivision
    bundle.parts = tuple(Part(p["key"], p["label"]) for p in territory.parts or [])
    bundle.periods = periods_of(territory)
    return bundle


def periods_of(territory: Territory) -> tuple[Period, ...]:
    """The territory's yearly periods as its files declared them at the last load."""
    return tuple(Period(p["key"], p["label"], p["from"], p["to"])
                 for p in territory.periods or [])


# --------------------------------------------------------------------------- circuits page

@dataclass(frozen=True)
class CircuitOverview:
    """A circuit of the territory as the circuits page shows it."""

    id: int | None  # None: a draft (variant, import) not deployed yet
    key: str
    title: str
    versions: list[VersionInfo]
    draft_id: int | None = None

    @property
    def active(self) -> VersionInfo | None:
        """The version new cases start on."""
        return next((v for v in self.versions if v.active), None)


def overview(session: Session, actor: Actor, territory_id: int) -> list[CircuitOverview]:
    """Every circuit of a territory with its versions and draft, then the drafts of circuits
    never deployed (coordinators only).

    :raises PermissionDenied: the actor does not coordinate the territory.
    """
    require_coordinator(actor, territory_id)
    drafts = {d.key: d for d in session.scalars(select(CircuitDraft).where(
        CircuitDraft.territory_id == territory_id).order_by(CircuitDraft.title))}
    rows = session.scalars(select(Circuit).where(Circuit.territory_id == territory_id)
                           .order_by(Circuit.title)).all()
    out = [CircuitOverview(c.id, c.key, c.title, versions(session, actor, c.id),
                           drafts.pop(c.key).id if c.key in drafts else None) for c in rows]
    return out + [CircuitOverview(None, d.key, d.title, [], d.id) for d in drafts.values()]


@dataclass(frozen=True)
class ReferenceCircuit:
    """A reference circuit the territory may copy as a variant."""

    key: str
    title: str


@dataclass(frozen=True)
class CircuitsPage:
    """The circuits page: the territory's circuits, and the reference circuits it lacks."""

    rows: list[CircuitOverview]
    variants: list[ReferenceCircuit]


def circuits_page(session: Session, actor: Actor, territory_id: int,
                  reference: Path) -> CircuitsPage:
    """The overview of a territory's circuits and the circuits of the ``reference`` folder it
    has neither deployed nor drafted (coordinators only).

    :raises PermissionDenied: the actor does not coordinate the territory.
    """
    rows = overview(session, actor, territory_id)
    present = {r.key for r in rows}
    try:
        listed = load_territory(reference).circuits if reference.is_dir() else ()
    except TerritoryError:
        listed = ()
    return CircuitsPage(rows, [ReferenceCircuit(c.key, c.title) for c in listed
                               if c.key not in present])


def _version_of(session: Session, actor: Actor,
                version_id: int) -> tuple[Circuit, CircuitVersion]:
    """A version and its circuit (members of the territory only).

    :raises NotFound: unknown version, or outside the actor's territories.
    """
    version = session.get(CircuitVersion, version_id)
    if version is None:
        raise NotFound(code="svc.version_unknown")
    return _circuit(session, actor, version.circuit_id), version


def export_zip(session: Session, actor: Actor, version_id: int) -> tuple[str, bytes]:
    """A version as a zip of its files (``processes/``, ``forms/``, ``circuit.json``).

    :raises PermissionDenied: the actor does not coordinate the territory.
    """
    circuit, version = _version_of(session, actor, version_id)
    require_coordinator(actor, circuit.territory_id)
    manifest = {"key": circuit.key, "title": circuit.title, "file": version.main_file,
                "process": version.process_id, "version": version.number,
                "note": version.note, "deployed_at": version.deployed_at.isoformat()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("circuit.json", json.dumps(manifest, ensure_ascii=False, indent=2))
        for name, text in sorted(version.bpmn_files.items()):
            archive.writestr(f"processes/{name}", text)
        for name, text in sorted(version.form_files.items()):
            archive.writestr(f"forms/{name}", text)
    return f"{circuit.key}-v{version.number}.zip", buffer.getvalue()


# --------------------------------------------------------------------------- diff

@dataclass(frozen=True)
class Touched:
    """Running cases of one version standing on a changed or removed step."""

    version_number: int
    references: list[str]


@dataclass(frozen=True)
class DiffView:
    """Two versions side by side: what changed, and which running cases it touches."""

    circuit: CircuitInfo
    old_label: str
    new_label: str
    old_xml: str
    new_xml: str
    changes: list[semantic.Change]
    touched: dict[str, list[Touched]] = field(default_factory=dict)

    def markers(self) -> dict[str, dict[str, str]]:
        """Element id → marker, for the old diagram and for the new one."""
        old = {c.element_id: c.kind for c in self.changes if c.element_id and
               c.kind in ("removed", "changed")}
        new = {c.element_id: c.kind for c in self.changes if c.element_id and
               c.kind in ("added", "changed")}
        return {"old": old, "new": new}  # type: ignore[dict-item]


def diff_versions(session: Session, actor: Actor, circuit_id: int, old_id: int,
                  new_id: int) -> DiffView:
    """The changes from one version of a circuit to another, with the cases they touch.

    :raises NotFound: a version that is not the circuit's.
    :raises PermissionDenied: the actor does not coordinate the territory (as deploying).
    """
    circuit = _circuit(session, actor, circuit_id)
    require_coordinator(actor, circuit.territory_id)
    old, new = (session.get(CircuitVersion, i) for i in (old_id, new_id))
    if old is None or new is None or {old.circuit_id, new.circuit_id} != {circuit_id}:
        raise NotFound(code="svc.version_unknown")
    changes = semantic.diff_files(_encoded(old.bpmn_files), _encoded(new.bpmn_files),
                                  _encoded(old.form_files), _encoded(new.form_files),
                                  _part_labels(session, circuit.territory_id))
    return DiffView(circuit_info(circuit), f"version {old.number}", f"version {new.number}",
                    old.bpmn_files[old.main_file], new.bpmn_files[new.main_file], changes,
                    touched_cases(session, circuit_id, changes))


def diff_reference(session: Session, actor: Actor, circuit_id: int, version_id: int,
                   reference: Path, forms_root: Path) -> DiffView:
    """The changes from the reference circuit (``reference`` folder) to a version.

    :raises NotFound: the reference folder has no circuit with this key.
    :raises PermissionDenied: the actor does not coordinate the territory (as deploying).
    """
    circuit, version = _version_of(session, actor, version_id)
    require_coordinator(actor, circuit.territory_id)
    if circuit.id != circuit_id:
        raise NotFound(code="svc.version_unknown")
    loaded = dict(load_path(reference, forms_root).bundles) if reference.is_dir() else {}
    ref = loaded.get(f"{reference.name}/{circuit.key}")
    if ref is None:
        raise NotFound(code="svc.no_reference_circuit")
    changes = semantic.diff_files(ref.bpmn, _encoded(version.bpmn_files), ref.forms,
                                  _encoded(version.form_files),
                                  _part_labels(session, circuit.territory_id))
    return DiffView(circuit_info(circuit), "référence", f"version {version.number}",
                    ref.bpmn[ref.main_file].decode(), version.bpmn_files[version.main_file],
                    changes, touched_cases(session, circuit.id, changes))


def _part_labels(session: Session, territory_id: int) -> dict[str, str]:
    """The territory's parts, key → label (how the diff names a lane's part)."""
    territory = session.get(Territory, territory_id)
    return {p["key"]: p["label"] for p in (territory.parts or [])} if territory else {}


def touched_cases(session: Session, circuit_id: int,
                  changes: list[semantic.Change]) -> dict[str, list[Touched]]:
    """Element id → open cases (by version) whose open step is that changed/removed element."""
    ids = [c.element_id for c in changes if c.element_id and c.kind != "added"]
    if not ids:
        return {}
    rows = session.execute(
        select(HumanTask.bpmn_id, CircuitVersion.number, Case.reference)
        .join(Case, Case.id == HumanTask.case_id)
        .join(CircuitVersion, CircuitVersion.id == Case.circuit_version_id)
        .where(HumanTask.circuit_id == circuit_id, HumanTask.status == TaskStatus.OPEN,
               HumanTask.bpmn_id.in_(ids), Case.status == CaseStatus.OPEN)
        .order_by(CircuitVersion.number, Case.reference).limit(2000)).all()
    grouped: dict[str, dict[int, list[str]]] = {}
    for bpmn_id, number, reference in rows:
        grouped.setdefault(bpmn_id, {}).setdefault(number, []).append(reference)
    return {k: [Touched(n, refs) for n, refs in sorted(v.items())] for k, v in grouped.items()}


def _encoded(files: dict[str, str]) -> dict[str, bytes]:
    return {k: v.encode() for k, v in files.items()}


def steps_of(session: Session, actor: Actor, circuit_id: int) -> list[tuple[str, str]]:
    """(BPMN id, name) of the human steps of a circuit's active version, for list filters."""
    circuit = _circuit(session, actor, circuit_id)
    if circuit.active_version_id is None:
        return []
    compiled = runtime.compiled(session, circuit.active_version_id)
    found = {ts.bpmn_id: ts.bpmn_name or ts.bpmn_id
             for process in [compiled.spec, *compiled.subprocess_specs.values()]
             for ts in process.task_specs.values() if getattr(ts, "manual", False)}
    return sorted(found.items(), key=lambda item: item[1])
