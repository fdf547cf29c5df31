"""CSV export and import of the directory of services (annuaire), with data·inclusion's
service field names where they fit (``engine.core.directory.COLUMNS``). An import is checked
whole and stores nothing if one line is wrong; the entries are checked and stored as the
directory's forms do (``engine.services.directory``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.calendar import PARIS
from engine.core.directory import (
    COLUMNS,
    DOMAINS,
    MEASURES,
    NO,
    SEPARATOR,
    YES,
    fold,
    key_of,
    split,
)
from engine.core.messages import render
from engine.errors import InvalidInput
from engine.persistence.db import transaction
from engine.persistence.models import DirectoryService, Organisation
from engine.services import audit
from engine.services.access import Actor, require_coordinator
from engine.services.directory import (
    Entry,
    Problem,
    _cleaned,
    _entry,
    _fill,
    _place_change,
    problems_of,
)

MAX_IMPORT_LINES = 5000
MAX_IMPORT_CHARS = 2_000_000


class ImportRefused(InvalidInput):
    """A CSV import refused whole: each wrong line with its column and reason."""

    def __init__(self, problems: list[tuple[int, Problem]]) -> None:
        order = {name: i for i, name in enumerate(COLUMNS)}
        self.problems = sorted(problems, key=lambda p: (p[0], order.get(p[1].name, 0)))
        super().__init__(code="svc.directory_import_invalid", count=len(problems))

    def lines_in(self, lang: str) -> list[str]:
        """« ligne 3, colonne « nom » : à renseigner », in ``lang``."""
        return [render("dir.line", lang, {"line": line, "column": p.name,
                                          "detail": p.text(lang)})
                for line, p in self.problems]


def export_rows(session: Session, clock: Clock, actor: Actor,
                territory_id: int) -> Iterator[list[str]]:
    """Coordinator: the territory's entries (deactivated ones too) as CSV rows, header
    first. The check runs now, before the first row (an export refused has no first line).

    :raises NotFound: the actor has no role in the territory.
    :raises PermissionDenied: the actor does not coordinate it.
    """
    require_coordinator(actor, territory_id)
    with transaction(session):
        audit.record(session, clock, actor, "directory.exported", territory_id=territory_id)
    return _export(session, territory_id)


def _export(session: Session, territory_id: int) -> Iterator[list[str]]:
    yield list(COLUMNS)
    s = DirectoryService
    rows = session.execute(select(s, Organisation.name).join(
        Organisation, Organisation.id == s.organisation_id)
        .where(s.territory_id == territory_id).order_by(s.name, s.id))
    for row, organisation in rows:
        yield [str(row.id), organisation, row.name, MEASURES.get(row.measure, row.measure),
               row.description, f" {SEPARATOR} ".join(DOMAINS.get(d, d) for d in row.domains),
               "commune", f" {SEPARATOR} ".join(row.communes), row.public,
               _number(row.capacity), _number(row.places_available),
               _number(row.waiting_list), row.phone, row.email, row.address,
               row.hours_walk_in, row.hours_appointment, row.languages,
               YES if row.charter_signed else NO, YES if row.active else NO,
               row.updated_at.astimezone(PARIS).strftime("%d/%m/%Y")]


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Imported:
    """What an import did."""

    created: int
    updated: int


def import_csv(session: Session, clock: Clock, actor: Actor, territory_id: int,
               text: str) -> Imported:
    """Coordinator: create (empty ``id``) or update (an ``id`` of this territory) entries from
    a CSV file as the export writes it. Every line is checked first; if any is wrong,
    nothing is stored and every wrong line is reported.

    :raises NotFound: the actor has no role in the territory.
    :raises PermissionDenied: the actor does not coordinate it.
    :raises InvalidInput: the file is too large, empty, or lacks columns.
    :raises ImportRefused: one line or more is wrong (each with its column and reason).
    """
    audit.coordination_only(session, clock, actor, territory_id, "directory.refused", "import")
    if len(text) > MAX_IMPORT_CHARS:
        raise InvalidInput(code="svc.directory_import_too_big", maximum=MAX_IMPORT_LINES)
    lines = _read_csv(text)
    with transaction(session):
        organisations = {fold(name): i for i, name in session.execute(
            select(Organisation.id, Organisation.name).where(
                Organisation.territory_id == territory_id, Organisation.active.is_(True)))}
        existing = {row.id: row for row in session.scalars(select(DirectoryService).where(
            DirectoryService.territory_id == territory_id))}
        plans: list[tuple[int, DirectoryService | None, Entry, bool]] = []
        problems: list[tuple[int, Problem]] = []
        seen: set[int] = set()
        for number, cells in lines:
            row, entry, active, found = _parsed(cells, organisations, existing, seen)
            problems += [(number, p) for p in found]
            if not found and entry is not None:
                plans.append((number, row, entry, active))
        if problems:
            raise ImportRefused(problems)
        created = updated = 0
        for _line, row, entry, active in plans:  # noqa: B007
            entry = _cleaned(entry)
            if row is None:
                row = DirectoryService(territory_id=territory_id, created_at=clock.now())
                before: int | None = None
                _fill(session, clock, actor, row, entry)
                row.active = active
                session.add(row)
                session.flush()
                created += 1
            else:
                before = row.places_available
                if _entry(row) == entry and row.active == active:
                    continue
                _fill(session, clock, actor, row, entry)
                row.active = active
                updated += 1
            if before != entry.places_available:
                _place_change(session, clock, actor, row.id, before, entry.places_available,
                              "Import CSV")
        audit.record(session, clock, actor, "directory.imported", territory_id=territory_id,
                     created=created, updated=updated)
    return Imported(created, updated)


def _read_csv(text: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, column → cell) for each non-empty line after the header."""
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        raise InvalidInput(code="svc.directory_import_unreadable")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [fold(h) for h in next(reader, [])]
        missing = [c for c in COLUMNS if c not in ("id", "date_maj") and c not in header]
        if missing:
            raise InvalidInput(code="svc.directory_import_columns", columns=", ".join(missing))
        lines: list[tuple[int, dict[str, str]]] = []
        for cells in reader:
            if len(lines) >= MAX_IMPORT_LINES:
                raise InvalidInput(code="svc.directory_import_too_big",
                                   maximum=MAX_IMPORT_LINES)
            if not any(c.strip() for c in cells):
                continue
            lines.append((reader.line_num, {h: _unquoted(c) for h, c in zip(header, cells,
                                                                            strict=False)}))
    except csv.Error as exc:
        raise InvalidInput(code="svc.directory_import_unreadable") from exc
    if not lines:
        raise InvalidInput(code="svc.directory_import_empty")
    return lines


def _unquoted(cell: str) -> str:
    """A cell as typed: the ``'`` the export puts before a formula-like text goes away."""
    cell = cell.strip()
    if cell.startswith("'") and cell[1:2] in ("=", "+", "-", "@"):
        return cell[1:]
    return cell


def _parsed(cells: dict[str, str], organisations: dict[str, int],
            existing: dict[int, DirectoryService],
            seen: set[int]) -> tuple[DirectoryService | None, Entry | None, bool,
                                     list[Problem]]:
    """One CSV line: (the entry it updates or None, the entry, active, its problems)."""
    problems: list[Problem] = []

    def column(name: str) -> str:
        return cells.get(name, "")

    row = _updated_row(column("id"), existing, seen, problems)
    organisation = organisations.get(fold(column("structure_nom")))
    if not column("structure_nom"):
        problems.append(Problem("structure_nom", "dir.required"))
    elif organisation is None:
        problems.append(Problem("structure_nom", "dir.organisation"))
    measure = key_of(MEASURES, column("type_mesure")) if column("type_mesure") else None
    if not column("type_mesure"):
        problems.append(Problem("type_mesure", "dir.required"))
    elif measure is None:
        problems.append(Problem("type_mesure", "dir.measure", {"value": column("type_mesure")}))
    domains = [key_of(DOMAINS, value) or "" for value in split(column("thematiques"))]
    problems += [Problem("thematiques", "dir.domain", {"value": value})
                 for value, key in zip(split(column("thematiques")), domains, strict=True)
                 if not key]
    if column("zone_diffusion_type") and fold(column("zone_diffusion_type")) != "commune":
        problems.append(Problem("zone_diffusion_type", "dir.zone"))
    numbers: dict[str, int | None] = {}
    for name in ("capacite", "places_disponibles", "liste_attente"):
        numbers[name] = _integer(column(name), name, problems)
    flags: dict[str, bool] = {}
    for name, default in (("charte_signee", False), ("actif", True)):
        value = fold(column(name))
        if value not in ("", YES, NO):
            problems.append(Problem(name, "dir.yes_no"))
        flags[name] = default if not value else value == YES
    entry = Entry(
        organisation_id=organisation or 0, measure=measure or "", name=column("nom"),
        description=column("presentation_resume"), domains=tuple(d for d in domains if d),
        communes=tuple(split(column("zone_diffusion_nom"))), public=column("profils"),
        capacity=numbers["capacite"], places_available=numbers["places_disponibles"],
        waiting_list=numbers["liste_attente"], phone=column("telephone"),
        email=column("courriel"), address=column("adresse"),
        hours_walk_in=column("horaires_ouverture"),
        hours_appointment=column("horaires_sur_rendez_vous"), languages=column("langues"),
        charter_signed=flags["charte_signee"])
    own = {"organisation_id", "measure", "domains"}  # reported above, by column
    problems += [replace(p, name=CSV_COLUMN[p.name]) for p in problems_of(_cleaned(entry))
                 if p.name not in own and p.name in CSV_COLUMN]
    return row, entry, flags["actif"], problems


def _updated_row(cell: str, existing: dict[int, DirectoryService], seen: set[int],
                 problems: list[Problem]) -> DirectoryService | None:
    """The entry a line's ``id`` names (None for a new one), each at most once."""
    if not cell:
        return None
    if not cell.isdigit() or len(cell) > 18:
        problems.append(Problem("id", "dir.integer"))
        return None
    row = existing.get(int(cell))
    if row is None:
        problems.append(Problem("id", "dir.id_unknown", {"value": cell}))
    elif row.id in seen:
        problems.append(Problem("id", "dir.id_twice", {"value": row.id}))
    else:
        seen.add(row.id)
    return row


def _integer(cell: str, name: str, problems: list[Problem]) -> int | None:
    if not cell:
        return None
    if not cell.isdigit() or len(cell) > 9:
        problems.append(Problem(name, "dir.integer"))
        return None
    return int(cell)


# the entry's field → its CSV column (the problems of a line name the column)
CSV_COLUMN = {"name": "nom", "description": "presentation_resume", "communes":
              "zone_diffusion_nom", "public": "profils", "capacity": "capacite",
              "places_available": "places_disponibles", "waiting_list": "liste_attente",
              "phone": "telephone", "email": "courriel", "address": "adresse",
              "hours_walk_in": "horaires_ouverture",
              "hours_appointment": "horaires_sur_rendez_vous", "languages": "langues"}
