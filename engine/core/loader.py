"""Circuit bundles from the file system: a territory folder, or single BPMN files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from engine.core import bpmnxml
from engine.core.bundles import (
    CircuitBundle,
    CircuitEntry,
    Territory,
    TerritoryError,
    bundle,
    entry_for_file,
    forms_root_for,
    load_territory,
    read_bpmn_folder,
    read_forms,
)
from engine.core.problems import Problem


@dataclass
class Loaded:
    """What a path gave: bundles to check, and problems found before any bundle existed."""

    bundles: list[tuple[str, CircuitBundle]]
    problems: list[Problem]


def load_path(path: Path, forms_root: Path | None = None) -> Loaded:
    """Bundles for a territory folder, a folder of BPMN files, or one BPMN file."""
    root = forms_root or forms_root_for(path)
    if path.is_dir():
        return _folder(path, root)
    if path.is_file():
        return Loaded([(path.name, file_bundle(path, root))], [])
    return Loaded([], [Problem("file.missing", file=str(path), params={"name": str(path)})])


def _folder(folder: Path, root: Path) -> Loaded:
    files = read_bpmn_folder(folder)
    try:
        territory: Territory | None = load_territory(folder)
    except TerritoryError as exc:
        if (folder / "territory.json").exists():
            return Loaded([], [Problem("territory.invalid", file=str(folder / "territory.json"),
                                       params={"detail": str(exc)})])
        territory = None
    if territory is None or not territory.circuits:
        return Loaded([(f"{folder.name}/{n}", file_bundle(folder / n, root)) for n in files], [])
    out, problems = [], []
    for entry in territory.circuits:
        if entry.file not in files:
            problems.append(Problem("file.missing", file=str(folder / entry.file),
                                    params={"name": entry.file}))
            continue
        needed = _described(_needed_files(entry.file, files), entry)
        out.append((f"{folder.name}/{entry.key}",
                    bundle(entry.process, entry.file, needed, _forms(needed, root), territory,
                           entry.title)))
    return Loaded(out, problems)


def file_bundle(path: Path, forms_root: Path) -> CircuitBundle:
    """One BPMN file, with the sibling files its call activities need and its forms."""
    siblings = read_bpmn_folder(path.parent)
    siblings[path.name] = path.read_bytes()
    territory = _territory_near(path)
    entry = entry_for_file(territory, path.name)
    needed = _needed_files(path.name, siblings)
    if entry is not None:
        needed = _described(needed, entry)
    return bundle(entry.process if entry else None, path.name, needed, _forms(needed, forms_root),
                  territory, entry.title if entry else None)


def _territory_near(path: Path) -> Territory | None:
    for folder in [path.parent, *path.parent.parents][:3]:
        try:
            return load_territory(folder)
        except TerritoryError:
            continue
    return None


def _described(files: dict[str, bytes], entry: CircuitEntry) -> dict[str, bytes]:
    """The files with the territory's description of the circuit, if it has one, as the
    documentation of the main process (replacing the diagram's own): stored with each
    version, it is what the new-case page shows, and the modeler keeps it."""
    raw = files.get(entry.file)
    if not entry.description or raw is None:
        return files
    described = describe_process(raw, entry.process, entry.description)
    return {**files, entry.file: described}


def describe_process(raw: bytes, process_id: str, text: str) -> bytes:
    """``raw`` with ``text`` as the documentation of process ``process_id`` (the element's
    first child, as BPMN wants it); ``raw`` unchanged when the process is not found."""
    start = re.compile(
        rb"<(?P<prefix>[A-Za-z_][\w.-]*:)?process\b[^>]*?\bid\s*=\s*[\"']"
        + re.escape(process_id.encode()) + rb"[\"'][^>]*?(?<!/)>")
    found = start.search(raw)
    if found is None:
        return raw
    prefix = found.group("prefix") or b""
    existing = re.compile(rb"\s*<" + re.escape(prefix) + rb"documentation\b[^>]*?(?:/>|>.*?</"
                          + re.escape(prefix) + rb"documentation>)", re.DOTALL)
    after = found.end()
    old = existing.match(raw, after)
    indent = re.search(rb"\n([ \t]*)$", raw[:found.start()])
    pad = b"\n" + (indent.group(1) if indent else b"") + b"  "
    element = (pad + b"<" + prefix + b"documentation>" + escape(text).encode() + b"</"
               + prefix + b"documentation>")
    out = raw[:after] + element + raw[old.end() if old else after:]
    doc, _ = bpmnxml.parse_document("described.bpmn", out)
    return out if doc is not None else raw


def _needed_files(main: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """``main`` plus, transitively, the files defining the processes it calls."""
    docs = {}
    for name, raw in files.items():
        doc, _ = bpmnxml.parse_document(name, raw)
        if doc is not None:
            docs[name] = doc
    owner = {pid: name for name, doc in docs.items() for pid in bpmnxml.process_ids(doc)}
    needed, todo = {main}, [main]
    while todo:
        doc = docs.get(todo.pop())
        if doc is None:
            continue
        for call in doc.root.iter(f"{{{bpmnxml.BPMN}}}callActivity"):
            target = owner.get(call.get("calledElement", ""))
            if target and target not in needed:
                needed.add(target)
                todo.append(target)
    return {n: files[n] for n in sorted(needed)}


def _forms(files: dict[str, bytes], root: Path) -> dict[str, bytes]:
    names: set[str] = set()
    for name, raw in files.items():
        doc, _ = bpmnxml.parse_document(name, raw)
        if doc is not None:
            names |= bpmnxml.referenced_forms(doc)
    return read_forms(names, root)
