"""Reading BPMN files safely, and the small XML vocabulary the checks share.

Uploaded XML is hostile until proven otherwise: size-capped, DOCTYPE refused outright (no
entity expansion, no external fetch), parsed by lxml with network and DTD loading off.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from engine.core.bundles import MAX_FILE_BYTES
from engine.core.problems import Problem
from engine.core.wording import Size

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN, "spiffworkflow": SPIFF, "camunda": CAMUNDA}
_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
_DECLARED = re.compile(rb"\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")

FORM_PROPERTIES = ("formJsonSchemaFilename", "formUiSchemaFilename")


@dataclass
class Document:
    """One parsed BPMN file."""

    name: str
    root: etree._Element

    def processes(self) -> list[etree._Element]:
        """The ``bpmn:process`` elements of the file."""
        return list(self.root.iterfind("bpmn:process", NS))


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_pis=True)


def parse_document(name: str, raw: bytes) -> tuple[Document | None, list[Problem]]:
    """Parse ``raw`` as a BPMN file; return the document or the problems that stop it."""
    if len(raw) > MAX_FILE_BYTES:
        return None, [Problem("xml.too_big", file=name,
                              params={"size": Size(len(raw)), "limit": Size(MAX_FILE_BYTES)})]
    if not raw.strip():
        return None, [Problem("xml.empty", file=name)]
    wrong = _encoding(name, raw)
    if wrong is not None:
        return None, [wrong]
    match = _DOCTYPE.search(raw[:65536]) or _DOCTYPE.search(raw)
    if match:
        line = raw[: match.start()].count(b"\n") + 1
        return None, [Problem("xml.doctype", file=name, line=line)]
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        return None, [Problem("xml.syntax", file=name, line=exc.lineno or None,
                              params={"detail": exc.msg})]
    if root.tag != f"{{{BPMN}}}definitions":
        return None, [Problem("xml.not_bpmn", file=name, line=root.sourceline,
                              params={"root": etree.QName(root).localname})]
    return Document(name, root), []


def _encoding(name: str, raw: bytes) -> Problem | None:
    """UTF-8 only, everywhere: the check, the web import and the deployment all store the
    text as UTF-8, so a file in (or declaring) another encoding is refused at the door."""
    declared = _DECLARED.match(raw.removeprefix(codecs.BOM_UTF8)[:400])
    if declared is not None:
        encoding = declared.group(1).decode("ascii", "replace").strip()
        if encoding.casefold().replace("_", "-") not in ("utf-8", "utf8"):
            return Problem("xml.encoding_declared", file=name, line=1,
                           params={"encoding": encoding[:40]})
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return Problem("xml.encoding", file=name, line=line, params={"line": line})
    return None


def local(element: etree._Element) -> str:
    """The element's tag without namespace."""
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def is_bpmn(element: etree._Element, *names: str) -> bool:
    """True if ``element`` is one of the named BPMN elements."""
    return isinstance(element.tag, str) and element.tag in {f"{{{BPMN}}}{n}" for n in names}


def where(doc: Document, element: etree._Element, code: str, severity: str = "error",
          **params: object) -> Problem:
    """A problem located at ``element`` of ``doc``."""
    return Problem(code, severity=severity,  # type: ignore[arg-type]
                   file=doc.name, line=element.sourceline, element_id=element.get("id"),
                   element_name=element.get("name"), params=dict(params))


def properties(element: etree._Element) -> dict[str, str]:
    """``spiffworkflow:properties`` and ``camunda:properties`` of an element, merged."""
    out: dict[str, str] = {}
    ext = element.find("bpmn:extensionElements", NS)
    if ext is None:
        return out
    for prop in ext.iterfind("spiffworkflow:properties/spiffworkflow:property", NS):
        if prop.get("name"):
            out[prop.get("name", "")] = prop.get("value", "")
    for prop in ext.iterfind("camunda:properties/camunda:property", NS):
        if prop.get("name"):
            out.setdefault(prop.get("name", ""), prop.get("value", ""))
    return out


def camunda_fields(element: etree._Element) -> list[dict[str, object]]:
    """``camunda:formData`` fields of a user task, as plain dicts."""
    fields: list[dict[str, object]] = []
    path = "bpmn:extensionElements/camunda:formData/camunda:formField"
    for ff in element.iterfind(path, NS):
        fields.append({
            "id": ff.get("id"), "label": ff.get("label"), "type": ff.get("type"),
            "default": ff.get("defaultValue"),
            "options": [{"id": v.get("id"), "name": v.get("name")}
                        for v in ff.iterfind("camunda:value", NS)],
            "constraints": {c.get("name"): c.get("config") for c in
                            ff.iterfind("camunda:validation/camunda:constraint", NS)},
            "properties": {p.get("id"): p.get("value") for p in
                           ff.iterfind("camunda:properties/camunda:property", NS)},
        })
    return fields


def referenced_forms(doc: Document) -> set[str]:
    """Form file names the document's elements name."""
    names: set[str] = set()
    for element in doc.root.iter():
        if isinstance(element.tag, str) and element.tag.startswith(f"{{{BPMN}}}"):
            props = properties(element) if element.find("bpmn:extensionElements", NS) \
                is not None else {}
            names.update(props[p] for p in FORM_PROPERTIES if props.get(p))
    return names


def process_ids(doc: Document) -> list[str]:
    """Ids of the document's processes (executable or not)."""
    return [p.get("id", "") for p in doc.processes() if p.get("id")]


def flow_nodes(scope: etree._Element) -> Iterator[etree._Element]:
    """Direct BPMN children of a process or sub-process (flow nodes and flows)."""
    for child in scope:
        if isinstance(child.tag, str) and child.tag.startswith(f"{{{BPMN}}}"):
            yield child


def lanes_by_node(doc: Document) -> dict[str, str]:
    """Node id → name of the innermost lane that lists it."""
    out: dict[str, str] = {}
    for lane in doc.root.iter(f"{{{BPMN}}}lane"):
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            if ref.text:
                out[ref.text.strip()] = lane.get("name") or lane.get("id", "")
    return out


LANE_PART = "part"  # the lane property naming the part of the case its steps go to


def lanes(doc: Document) -> Iterator[tuple[etree._Element, str, str | None]]:
    """Each lane of the document: the element, its name (as lanes are matched to roles: the
    name, else the id) and the part it is bound to (its ``part`` property), if any."""
    for lane in doc.root.iter(f"{{{BPMN}}}lane"):
        part = properties(lane).get(LANE_PART, "").strip() or None
        yield lane, lane.get("name") or lane.get("id", ""), part


def text_of(element: etree._Element | None) -> str:
    """Stripped text content of an element ('' if absent)."""
    return (element.text or "").strip() if element is not None else ""
