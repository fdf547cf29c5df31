"""The household across circuits (issue #13 item 6): a record per case, likely duplicates
flagged when a case is opened, merged or dismissed by the coordination; the household's
cases as each reader may see them. SQLite and PostgreSQL."""

from __future__ import annotations

import importlib.util
import json
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Engine, delete, event, func, select, update
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.errors import Conflict, FormInvalid, NotFound, PermissionDenied
from engine.persistence.migrate import MIGRATIONS
from engine.persistence.models import AuditEvent, Case, Household, HouseholdMatch
from engine.persistence.models.orientation import Orientation
from engine.services import cases, directory, households
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


def household_circuit(root: Path) -> Path:
    """The small circuit whose start form also asks the birth year and the commune."""
    folder = root / "mini"
    shutil.copytree(MINI, folder)
    saisine = folder / "forms" / "mini-saisine.json"
    form = json.loads(saisine.read_text(encoding="utf-8"))
    form["properties"]["nom_menage"]["x-aiguillage-category"] = "identity"
    form["properties"]["annee_naissance"] = {
        "type": "integer", "title": "Année de naissance (personne de référence)",
        "minimum": 1900, "maximum": 2100, "x-aiguillage-category": "identity"}
    form["properties"]["commune"] = {"type": "string", "title": "Commune", "maxLength": 100,
                                     "x-aiguillage-category": "identity"}
    saisine.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    return folder


@dataclass
class Place:
    world: World
    clock: FixedClock
    partner: Actor  # of the referrer organisation, party to the cases it is given
    referrer: int
    operator: int
    service: int

    def open(self, session: Session, name: str, year: int | None = None,
             commune: str | None = None, later: int = 1) -> int:
        """Open a case as the coordination, ``later`` minutes after the previous one."""
        self.clock.set(self.clock.now() + timedelta(minutes=later))
        data: dict[str, object] = {"nom_menage": name}
        if year is not None:
            data["annee_naissance"] = year
        if commune is not None:
            data["commune"] = commune
        return cases.start(session, self.clock, self.world.coordinator,
                           self.world.circuit.id, data).id


@pytest.fixture
def place(session: Session, clock: FixedClock, tmp_path: Path) -> Place:
    world = make_world(session, clock, household_circuit(tmp_path))
    declare_parts(session, world.territory.id)
    referrer = make_org(session, clock, world.territory.id, "CCAS d'essai", "ccas")
    operator = make_org(session, clock, world.territory.id, "Association Relais")
    partner = make_user(session, clock, "orienteur@essai.test", world.territory.id, "orienteur",
                        organisation=referrer)
    service = directory.create(session, clock, SYSTEM, world.territory.id, Entry(
        organisation_id=operator, measure="avdl", name="AVDL Relais", capacity=5,
        places_available=2))
    return Place(world, clock, partner, referrer, operator, service)


def _household(session: Session, case_id: int) -> Household:
    case = session.get(Case, case_id)
    assert case is not None and case.household_id is not None
    found = session.get(Household, case.household_id)
    assert found is not None
    return found


def _matches(session: Session) -> list[HouseholdMatch]:
    session.expire_all()
    return list(session.scalars(select(HouseholdMatch).order_by(HouseholdMatch.id)))


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


# --------------------------------------------------------------------------- opening a case


def test_every_new_case_gets_a_household_record(session: Session, place: Place) -> None:
    case_id = place.open(session, "Ménage Dupont Marie", 1980, " Saint-Étienne ")
    record = _household(session, case_id)
    assert (record.name, record.name_key, record.birth_year) == (
        "Ménage Dupont Marie", "dupont marie", 1980)
    assert (record.commune, record.commune_key) == ("Saint-Étienne", "saint etienne")
    bare = _household(session, place.open(session, "Ménage Zed"))
    assert (bare.birth_year, bare.commune, bare.commune_key) == (None, "", "")
    assert _matches(session) == []


def test_a_likely_duplicate_is_flagged_without_names_in_the_audit(
        session: Session, place: Place) -> None:
    older = place.open(session, "Marie Dupont", 1980, "Démoville")
    newer = place.open(session, "DUPOND Marie", 1980, "demoville")
    [match] = _matches(session)
    assert (match.household_id, match.other_id, match.status) == (
        _household(session, newer).id, _household(session, older).id, "open")
    assert 80 <= match.score < 100
    event = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "household.duplicates_found")).one()
    assert "upon" not in json.dumps(event.detail) and "Marie" not in json.dumps(event.detail)
    assert households.found_for(session, place.clock, place.world.coordinator, newer) == 1
    assert households.found_for(session, place.clock, place.partner, newer) == 0


@pytest.mark.parametrize(("first", "second", "flagged"), [
    (("Marie Dupont", 1980, "Démoville"), ("Marie Dupont", 1981, "Démoville"), False),
    (("Marie Dupont", 1980, "Démoville"), ("Marie Dupont", 1980, "Bourg-Sud"), False),
    (("Marie Dupont", 1980, "Démoville"), ("Paul Durand", 1980, "Démoville"), False),
    (("Marie Dupont", None, None), ("Dupont Marie", 1980, "Démoville"), True),
    (("Marie Dupont", 1980, None), ("Marie Dupond", None, "Démoville"), True),
    (("—", None, None), ("—", None, None), False),  # no name: nothing to compare
])
def test_birth_year_and_commune_must_agree_when_both_are_known(
        session: Session, place: Place, first: tuple[str, int | None, str | None],
        second: tuple[str, int | None, str | None], flagged: bool) -> None:
    place.open(session, *first)
    place.open(session, *second)
    assert bool(_matches(session)) is flagged


def test_a_typo_in_the_first_letters_is_found_by_commune_and_year(
        session: Session, place: Place) -> None:
    place.open(session, "Anna Bernard", 1975, "Démoville")
    place.open(session, "Cnna Bernard", 1975, "Démoville")  # sorts under « bernard » anyway
    place.open(session, "Bernard Zoé", 1990, "Démoville")
    place.open(session, "Bernadr Zoé", 1990, "Démoville")  # « bernadr » < « bernard »: same
    assert len(_matches(session)) == 2


def test_at_most_three_likely_duplicates_are_recorded_per_household(
        session: Session, place: Place) -> None:
    for _ in range(5):
        place.open(session, "Marie Dupont")
    newest = _household(session, place.open(session, "Marie Dupont"))
    assert len([m for m in _matches(session) if m.household_id == newest.id]) == 3


def test_a_birth_year_in_the_future_is_refused_and_nothing_stored(
        session: Session, place: Place) -> None:
    before = (_count(session, Case), _count(session, Household))
    with pytest.raises(FormInvalid) as refused:
        place.open(session, "Marie Dupont", place.clock.now().year + 1)
    assert "annee_naissance" in refused.value.errors
    session.rollback()
    assert (_count(session, Case), _count(session, Household)) == before


# --------------------------------------------------------------------------- merging


def test_a_merge_keeps_the_older_record_and_moves_the_newer_ones_cases(
        session: Session, place: Place) -> None:
    older = place.open(session, "Marie Dupont", 1980, "Démoville")
    newer = place.open(session, "Marie Dupond", 1980, "Démoville")
    [match] = _matches(session)
    merged = households.merge(session, place.clock, place.world.coordinator, match.id)
    kept = _household(session, older)
    assert (merged.kept_id, merged.moved) == (kept.id, 1)
    assert _household(session, newer).id == kept.id
    gone = session.get(Household, match.household_id)
    assert gone is not None and gone.merged_into_id == kept.id
    assert gone.merged_by_id == place.world.coordinator.user_id
    [done] = _matches(session)
    assert (done.status, done.decided_by_id) == ("merged", place.world.coordinator.user_id)
    assert session.scalars(select(AuditEvent.action).where(
        AuditEvent.action == "household.merge")).one()
    # the merged record's page is the kept one's
    assert households.get(session, place.clock, place.world.coordinator, gone.id).id == kept.id


def test_a_second_merge_or_a_dismissal_after_it_changes_nothing(
        session: Session, place: Place) -> None:
    place.open(session, "Marie Dupont")
    place.open(session, "Marie Dupont")
    [match] = _matches(session)
    households.merge(session, place.clock, place.world.coordinator, match.id)
    for act in (households.merge, households.dismiss):
        with pytest.raises(Conflict):
            act(session, place.clock, place.world.coordinator, match.id)
    [after] = _matches(session)
    assert after.status == "merged"


def test_the_merged_records_other_likely_duplicates_follow_it(
        session: Session, place: Place) -> None:
    a = _household(session, place.open(session, "Marie Dupont", 1980))
    b = _household(session, place.open(session, "Marie Dupond"))  # like A
    c = _household(session, place.open(session, "Marie Dupon"))  # like A and B
    d = _household(session, place.open(session, "Marie Dupons", 1990))  # like B and C only
    pairs = {(m.household_id, m.other_id): m for m in _matches(session)}
    assert set(pairs) == {(b.id, a.id), (c.id, a.id), (c.id, b.id), (d.id, b.id),
                          (d.id, c.id)}
    households.merge(session, place.clock, place.world.coordinator, pairs[(b.id, a.id)].id)
    now = {m.id: (m.household_id, m.other_id, m.status) for m in _matches(session)}
    assert now[pairs[(c.id, b.id)].id] == (c.id, b.id, "merged")  # repeats (C, A): closed
    assert now[pairs[(d.id, b.id)].id] == (d.id, a.id, "open")  # re-pointed to the kept one
    assert now[pairs[(c.id, a.id)].id][2] == "open"


def test_a_dismissal_keeps_both_records(session: Session, place: Place) -> None:
    one = place.open(session, "Marie Dupont")
    two = place.open(session, "Marie Dupont")
    [match] = _matches(session)
    households.dismiss(session, place.clock, place.world.coordinator, match.id)
    assert _household(session, one).id != _household(session, two).id
    assert _matches(session)[0].status == "dismissed"
    with pytest.raises(Conflict):
        households.dismiss(session, place.clock, place.world.coordinator, match.id)


def test_only_the_territorys_coordination_decides(session: Session, place: Place) -> None:
    place.open(session, "Marie Dupont")
    place.open(session, "Marie Dupont")
    [match] = _matches(session)
    for who, refused in ((place.world.operator, PermissionDenied),
                         (place.partner, PermissionDenied), (place.world.outsider, NotFound)):
        for act in (households.merge, households.dismiss):
            with pytest.raises(refused):
                act(session, place.clock, who, match.id)
        with pytest.raises(refused):
            households.duplicates(session, place.clock, who, place.world.territory.id)
    with pytest.raises(NotFound):
        households.merge(session, place.clock, place.world.coordinator, 10**12)
    assert _matches(session)[0].status == "open"


def test_the_duplicates_list_shows_both_sides(session: Session, place: Place) -> None:
    older = place.open(session, "Marie Dupont", 1980, "Démoville")
    place.open(session, "Paul Durand")
    newer = place.open(session, "Dupont Marie", None, "Démoville")
    page = households.duplicates(session, place.clock, place.world.coordinator,
                                 place.world.territory.id)
    assert page.total == 1
    [item] = page.items
    assert (item.older.name, item.older.birth_year, item.older.commune) == (
        "Marie Dupont", 1980, "Démoville")
    assert [c[0] for c in item.older.cases] == [older]
    assert [c[0] for c in item.newer.cases] == [newer]
    assert item.score == 100 and item.likeness == "très probable"


# --------------------------------------------------------------------------- reading


def _merged_pair(session: Session, place: Place) -> tuple[int, int]:
    first = place.open(session, "Marie Dupont", 1980)
    second = place.open(session, "Marie Dupont", 1980)
    [match] = _matches(session)
    households.merge(session, place.clock, place.world.coordinator, match.id)
    session.add(Orientation(
        territory_id=place.world.territory.id, case_id=first, service_id=place.service,
        organisation_id=place.operator, measure="avdl", state="acceptee",
        created_at=place.clock.now(), updated_at=place.clock.now()))
    session.commit()
    return first, second


def test_the_case_panel_shows_the_households_other_cases_and_orientations(
        session: Session, place: Place) -> None:
    first, second = _merged_pair(session, place)
    panel = households.of_case(session, place.clock, place.world.coordinator, second)
    assert panel is not None
    [other] = panel.cases
    assert (other.id, other.circuit, other.status) == (first, "Circuit d'essai", "open")
    assert other.orientations == ("AVDL — Accompagnement vers et dans le logement — "
                                  "Association Relais : Acceptée",)
    assert panel.duplicates == 0
    alone = place.open(session, "Paul Durand")
    assert households.of_case(session, place.clock, place.world.coordinator, alone) is None


def test_the_households_cases_are_read_by_the_household_index(session: Session,
                                                              place: Place) -> None:
    """Issue #17: at 100k cases, SQLite (no statistics) read the territory's listing index
    for the order of a household's cases, every case of the territory, 1 s per case page."""
    _, second = _merged_pair(session, place)
    bind = session.get_bind()
    seen: list[tuple[str, object]] = []

    def _seen(conn: object, cursor: object, statement: str, params: object,
              *_: object) -> None:
        if "household_id =" in statement and statement.lstrip().startswith("SELECT"):
            seen.append((statement, params))
    event.listen(bind, "before_cursor_execute", _seen)
    try:
        assert households.of_case(session, place.clock, place.world.coordinator, second)
    finally:
        event.remove(bind, "before_cursor_execute", _seen)
    listing = [(s, p) for s, p in seen if '"case".household_id' in s and "ORDER BY" in s]
    assert listing
    if bind.dialect.name == "sqlite":
        statement, params = listing[0]
        plan = " ".join(str(row) for row in session.connection().exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}", params))  # type: ignore[arg-type]
        assert "ix_case_household_id" in plan and "ix_case_listing" not in plan


def test_the_panel_counts_open_duplicates_for_the_coordination_only(
        session: Session, place: Place) -> None:
    place.open(session, "Marie Dupont")
    newer = place.open(session, "Marie Dupont")
    make_party(session, place.clock, newer, "referrer", place.referrer)
    give_consent(session, place.clock, newer, "referrer", ["identity", "assessment"])
    panel = households.of_case(session, place.clock, place.world.coordinator, newer)
    assert panel is not None and panel.duplicates == 1 and panel.cases == ()
    assert households.of_case(session, place.clock, place.partner, newer) is None


def test_a_partner_sees_only_the_cases_of_its_organisation(session: Session,
                                                          place: Place) -> None:
    first, second = _merged_pair(session, place)
    make_party(session, place.clock, second, "referrer", place.referrer)
    # minimal view (no consent): no panel, and the household's page lists the one case
    assert households.of_case(session, place.clock, place.partner, second) is None
    page = households.get(session, place.clock, place.partner, _household(session, second).id)
    assert [c.id for c in page.cases] == [second] and page.name is None
    give_consent(session, place.clock, second, "referrer", ["identity"])
    page = households.get(session, place.clock, place.partner, _household(session, second).id)
    assert (page.name, page.birth_year) == ("Marie Dupont", 1980)
    # a party to the first case too: listed, its orientation hidden without the assessment
    make_party(session, place.clock, first, "referrer", place.referrer)
    panel = households.of_case(session, place.clock, place.partner, second)
    assert panel is not None and [(c.id, c.orientations) for c in panel.cases] == [(first, ())]
    give_consent(session, place.clock, first, "referrer", ["assessment"])
    panel = households.of_case(session, place.clock, place.partner, second)
    assert panel is not None and len(panel.cases[0].orientations) == 1


def test_a_household_none_of_whose_cases_is_reachable_is_not_found(
        session: Session, place: Place) -> None:
    case_id = place.open(session, "Marie Dupont")
    record = _household(session, case_id).id
    for who in (place.partner, place.world.operator, place.world.outsider):
        with pytest.raises(NotFound):
            households.get(session, place.clock, who, record)
    with pytest.raises(NotFound):
        households.get(session, place.clock, place.world.coordinator, 10**12)
    with pytest.raises(NotFound):
        households.of_case(session, place.clock, place.world.outsider, case_id)


def test_a_case_without_household_record_has_no_panel(session: Session,
                                                      place: Place) -> None:
    case_id = place.open(session, "Marie Dupont")
    case = session.get(Case, case_id)
    assert case is not None
    case.household_id = None
    session.commit()
    assert households.of_case(session, place.clock, place.world.coordinator, case_id) is None


# --------------------------------------------------------------------------- the migration


def _migration() -> ModuleType:
    path = MIGRATIONS / "versions" / "0014_orientations_and_households.py"
    spec = importlib.util.spec_from_file_location("migration_0014", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migration_gives_every_existing_case_a_household(
        session: Session, engine: Engine, place: Place) -> None:
    """Cases opened before 0014 (here: their records taken away again) get a record each,
    under their own id, with its name key; a case opened afterwards is compared with them."""
    opened = [place.open(session, name) for name in ("Ménage Dupont Marie", "Paul Durand", "—")]
    session.execute(update(Case).values(household_id=None))
    session.execute(delete(HouseholdMatch))
    session.execute(delete(Household))
    session.commit()
    with engine.begin() as connection, Operations.context(MigrationContext.configure(connection)):
        _migration()._households_of_existing_cases()
    session.expire_all()
    records = {c.id: session.get(Household, c.household_id)
               for c in session.scalars(select(Case).order_by(Case.id))}
    assert [(r.id, r.name_key, r.birth_year, r.commune) for r in records.values()
            if r is not None] == [(opened[0], "dupont marie", None, ""),
                                  (opened[1], "durand paul", None, ""),
                                  (opened[2], "", None, "")]
    assert _matches(session) == []
    later = place.open(session, "Marie Dupont", 1980)
    record = _household(session, later)
    assert record.id > max(opened)  # PostgreSQL's sequence goes on after the given ids
    [match] = _matches(session)
    assert (match.household_id, match.other_id) == (record.id, opened[0])
