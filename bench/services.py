"""Service-layer costs on real databases: figures to read, never asserted anywhere.

Run: ``.venv/bin/python bench/services.py`` (``--no-postgres`` for SQLite alone, ``--quick``
for small sizes). It reports, on the small test circuit (tests/unit/fixtures/mini):

(a) completing a step through ``tasks.complete`` (a fresh session per call, like a request)
    on SQLite and PostgreSQL, against the raw in-memory cycle ``Instance.load`` + complete
    + ``dump`` and one small write transaction (target: service <= 2 x (raw + commit)),
    the three measured in turn, call after call;
(b) my tasks (``tasks.my_tasks``) and the cases list (``cases.search``), the visibility
    rule applied, for a coordinator and for operator A's worker, p50/p95 with 1k, 10k and
    100k open cases (target p95 <= 10 ms and flat within 20 %): the demo territory
    (``demo.load``) grown with ``demo generate`` (copied rows: parties, consent, steps bound
    to the operator, half to operator A), one database per size, measured round-robin; on
    SQLite, and on PostgreSQL unless ``--no-postgres``;
(c) timers fired per second by one scheduler (``engine.scheduler.run_once``) on SQLite
    (target >= 200/s), and on PostgreSQL for comparison: cases are cloned rows of one real
    case waiting on ``decision``, each with one due reminder.

PostgreSQL: database ``aiguillage_bench`` is re-created on the server named by
``AIGUILLAGE_TEST_POSTGRES`` (default: the local trust-auth server).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, event, func, insert, select, text, update  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from engine import scheduler  # noqa: E402
from engine.clock import FixedClock  # noqa: E402
from engine.core.spiff.runner import Instance  # noqa: E402
from engine.persistence.db import make_engine, session_factory, transaction  # noqa: E402
from engine.persistence.migrate import upgrade  # noqa: E402
from engine.persistence.models import Case, CaseState, HumanTask, Timer, User  # noqa: E402
from engine.persistence.models.human_task import TaskStatus  # noqa: E402
from engine.services import cases, demo, notices, runtime, tasks  # noqa: E402
from engine.services.access import load_actor  # noqa: E402
from tests.integration.factories import World, make_world, start_at_decision  # noqa: E402

PG_SERVER = os.environ.get("AIGUILLAGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
PG_DB = "aiguillage_bench"
T0 = datetime(2026, 1, 9, 14, 0, tzinfo=UTC)
ANALYSE = {"mesure": "avdl"}
SWEEPS = 3  # timer sweeps per database (c): the median is printed, and every sweep


@dataclass
class Db:
    """A migrated, empty database with the small circuit deployed."""

    name: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    clock: FixedClock
    world: World


@contextmanager
def database(kind: str, folder: Path, name: str = "bench") -> Iterator[Db]:
    if kind == "sqlite":
        url = f"sqlite:///{folder / f'{name}.sqlite'}"
    else:
        admin = make_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{PG_DB}"'))
        admin.dispose()
        url = f"{PG_SERVER}/{PG_DB}"
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    clock = FixedClock(T0)
    with sessions() as session:
        world = make_world(session, clock)
    try:
        yield Db(kind, url, engine, sessions, clock, world)
    finally:
        engine.dispose()
        if kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{folder / f'{name}.sqlite'}{suffix}").unlink(missing_ok=True)


def timed(action: Callable[[], Any], repeat: int, warmup: int = 5) -> list[float]:
    """Seconds per call, ``warmup`` calls first."""
    for _ in range(warmup):
        action()
    out = []
    for _ in range(repeat):
        begin = time.perf_counter()
        action()
        out.append(time.perf_counter() - begin)
    return out


def ms(values: list[float], q: float = 0.5) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# ------------------------------------------------------------------ (a) completing a step

def bench_complete(db: Db, repeat: int) -> tuple[list[float], list[float], list[float]]:
    """Seconds per call: ``tasks.complete`` in a fresh session, the raw in-memory cycle on
    the same stored state, and one small write transaction."""
    with db.sessions() as session:
        ids = [cases.start(session, db.clock, db.world.coordinator, db.world.circuit.id,
                           {"nom_menage": f"Ménage {n}"}).id for n in range(repeat + 5)]
        steps = list(session.scalars(select(HumanTask.id).where(
            HumanTask.case_id.in_(ids), HumanTask.bpmn_id == "analyse")
            .order_by(HumanTask.id)))
        case = session.get(Case, ids[0])
        assert case is not None
        compiled = runtime.compiled(session, case.circuit_version_id)
        state = session.get(CaseState, case.id).state  # type: ignore[union-attr]
        [spiff_id] = session.scalars(select(HumanTask.spiff_task_id).where(
            HumanTask.id == steps[0]))
    actor = db.world.coordinator
    pending = iter(steps)

    def service() -> None:
        with db.sessions() as session:
            tasks.complete(session, db.clock, actor, next(pending), ANALYSE)

    def raw() -> None:
        instance = Instance.load(compiled, state, db.clock)
        instance.complete(spiff_id, ANALYSE)
        instance.dump()

    def write() -> None:
        with db.sessions() as session, transaction(session):
            session.execute(update(Case).where(Case.id == ids[0]).values(error=None))

    # Interleaved, one of each per round: the machine's drift (a shared VM) hits the three
    # series alike instead of whichever ran during a slow second.
    gc.collect()
    served, cycle, written = [], [], []
    for _ in range(5):
        service(), raw(), write()
    for _ in range(repeat):
        for action, out in ((service, served), (raw, cycle), (write, written)):
            begin = time.perf_counter()
            action()
            out.append(time.perf_counter() - begin)
    return served, cycle, written


# ------------------------------------------------------------------ (b) lists with the rule

@dataclass
class DemoDb:
    """The demo territory (its organisations, people, parties and consent) grown to ``size``
    open cases with ``demo generate`` (copies spread over operators A and B)."""

    size: int
    engine: Engine
    sessions: sessionmaker[Session]
    clock: FixedClock
    territory_id: int
    people: dict[str, Any]  # label -> Actor


PEOPLE = {"coordination": "coord@demo.test", "operator A's worker": "operateur-a@demo.test"}


@contextmanager
def demo_database(kind: str, folder: Path, size: int) -> Iterator[DemoDb]:
    name = f"demo-{size}"
    if kind == "sqlite":
        url = f"sqlite:///{folder / f'{name}.sqlite'}"
    else:
        url = create_pg(f"{PG_DB}_{size}")
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    clock = FixedClock(T0)
    try:
        with sessions() as session:
            territory_id = demo.load(session, clock, ROOT, "mot-de-passe-de-bench",
                                     cases_per_circuit=12)
            open_now = session.scalar(select(func.count()).select_from(Case).where(
                Case.territory_id == territory_id, Case.status == "open")) or 0
            demo.generate(session, clock, territory_id, max(0, size - open_now))
            people = {label: load_actor(session, session.scalar(
                select(User.id).where(User.email == email)) or 0)
                for label, email in PEOPLE.items()}
        if kind == "postgresql":  # what autovacuum does soon after a bulk load, at once
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        yield DemoDb(size, engine, sessions, clock, territory_id, people)
    finally:
        engine.dispose()
        if kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{folder / f'{name}.sqlite'}{suffix}").unlink(missing_ok=True)


def create_pg(name: str) -> str:
    admin = make_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{PG_SERVER}/{name}"


LISTS: dict[str, Callable[[DemoDb, Session, Any], int]] = {
    "my tasks": lambda db, s, actor: tasks.my_tasks(s, db.clock, actor).total,
    "cases list": lambda db, s, actor: cases.search(s, db.clock, actor, db.territory_id).total,
}


def plan(engine: Engine, run: Callable[[], Any], marker: str, page: bool = True) -> str:
    """The plan of the page statement ``run`` sends (the first with ``marker`` and LIMIT;
    without LIMIT when not ``page``: the count), captured then explained (SQLite: EXPLAIN
    QUERY PLAN; PostgreSQL: EXPLAIN)."""
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _m: Any) -> None:
        if marker in statement and ("LIMIT" in statement) == page:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    if not seen:
        return "(no statement captured)"
    statement, params = seen[0]
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            return "; ".join(str(r[3]) for r in rows)
        rows = conn.exec_driver_sql("EXPLAIN " + statement, params).all()
        return "\n             ".join(str(r[0]) for r in rows)


def bench_lists(kind: str, folder: Path, sizes: list[int],
                repeat: int) -> dict[str, list[float]]:
    """p50/p95 per size of my tasks and the cases list (page 1) for a coordinator and for
    operator A's worker, the visibility rule applied. One database per size, measured
    round-robin (one call per size, list and person in turn), so that the machine's drift
    hits every size alike."""
    with ExitStack() as stack:
        dbs = []
        for size in sizes:
            began = time.perf_counter()
            db = stack.enter_context(demo_database(kind, folder, size))
            print(f"  {size:>7} open cases (demo load + generate in "
                  f"{time.perf_counter() - began:.1f} s)", flush=True)
            dbs.append(db)
        calls = [(db, list_name, label) for db in dbs for list_name in LISTS
                 for label in PEOPLE]
        seconds: dict[tuple[int, str, str], list[float]] = {
            (db.size, n, label): [] for db, n, label in calls}
        gc.collect()
        for round_ in range(repeat + 20):
            for db, list_name, label in calls:
                begin = time.perf_counter()
                with db.sessions() as session:
                    LISTS[list_name](db, session, db.people[label])
                if round_ >= 20:  # warm-up rounds are not counted
                    seconds[(db.size, list_name, label)].append(time.perf_counter() - begin)
        p95s: dict[str, list[float]] = {}
        for db, list_name, label in calls:
            with db.sessions() as session:
                total = LISTS[list_name](db, session, db.people[label])
            values = seconds[(db.size, list_name, label)]
            series = f"{list_name}, {label}"
            p95s.setdefault(series, []).append(ms(values, 0.95))
            print(f"  {db.size:>7}  {series:<40} sees {total:>6}   p50 {ms(values):6.2f} ms"
                  f"   p95 {ms(values, 0.95):6.2f} ms", flush=True)
        print("  the notice pass of new steps (notices.scan_new_steps), nothing new, each tick:")
        for db in dbs:
            with db.sessions() as session:
                marked = 0
                while (done := notices.scan_new_steps(session, db.clock)) > 0:
                    marked += done
            values = []
            for _ in range(50):
                with db.sessions() as session:
                    begin = time.perf_counter()
                    notices.scan_new_steps(session, db.clock)
                    values.append(time.perf_counter() - begin)
            print(f"  {db.size:>7}  (first passes marked {marked} steps ready within a day)"
                  f"   p50 {ms(values):6.2f} ms   p95 {ms(values, 0.95):6.2f} ms", flush=True)
        worker = dbs[-1]
        with worker.sessions() as session:
            actor = worker.people["operator A's worker"]
            print(f"  plans at {worker.size} cases, operator A's worker:")
            print("    my tasks:   " + plan(worker.engine, lambda: LISTS["my tasks"](
                worker, session, actor), "FROM human_task"))
            print("    cases list: " + plan(worker.engine, lambda: LISTS["cases list"](
                worker, session, actor), 'FROM "case"'))
            print("    its count:  " + plan(worker.engine, lambda: LISTS["cases list"](
                worker, session, actor), "count(*)", page=False))
            print("    notice pass: " + plan(worker.engine, lambda: notices.scan_new_steps(
                session, worker.clock), "lower(human_task.status)", page=True))
        return p95s


# ------------------------------------------------------------------ (c) timers per second

def bench_timers(db: Db, count: int, sweep: int = 0) -> tuple[int, float, float]:
    """Clone one real case waiting on ``decision`` ``count`` times; fire every reminder."""
    with db.sessions() as session:
        case_id = start_at_decision(session, db.clock, db.world, "Ménage Modèle")
        model = session.get(Case, case_id)
        assert model is not None
        case = {c.key: getattr(model, c.key) for c in Case.__table__.columns
                if c.key not in ("id", "reference")}
        state = session.get(CaseState, case_id).state  # type: ignore[union-attr]
        step = session.scalar(select(HumanTask).where(HumanTask.case_id == case_id,
                                                      HumanTask.status == TaskStatus.OPEN))
        armed = list(session.scalars(select(Timer).where(Timer.case_id == case_id)))
        assert step is not None and len(armed) == 2
        step_row = {c.key: getattr(step, c.key) for c in HumanTask.__table__.columns
                    if c.key not in ("id", "case_id")}
        timer_rows = [{c.key: getattr(t, c.key) for c in Timer.__table__.columns
                       if c.key not in ("id", "case_id")} for t in armed]
    with db.sessions() as session, transaction(session):
        new = list(session.scalars(insert(Case).returning(Case.id, sort_by_parameter_order=True), [
            {**case, "reference": f"T{sweep}-{n:07d}"} for n in range(count - 1)]))
        session.execute(insert(CaseState), [{"case_id": c, "state": state} for c in new])
        session.execute(insert(HumanTask), [{**step_row, "case_id": c} for c in new])
        session.execute(insert(Timer), [{**t, "case_id": c} for c in new for t in timer_rows])
    clock = FixedClock(db.clock.now() + timedelta(days=10, minutes=1))  # reminders due
    with db.sessions() as session:
        compiled = runtime.compiled(session, case["circuit_version_id"])

    def raw() -> None:  # the engine's share of one fire: load, advance, dump
        instance = Instance.load(compiled, state, clock)
        assert len(instance.advance()) == 1
        instance.dump()

    cycle = timed(raw, 100)
    gc.collect()
    began = time.perf_counter()
    tick = scheduler.run_once(db.sessions, clock, "bench", max_batches=10_000)
    elapsed = time.perf_counter() - began
    assert tick.failed == 0 and tick.fired == count, tick
    return tick.fired, elapsed, ms(cycle)


# ------------------------------------------------------------------ main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL alone")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--only", default="abc", help="the parts to run, e.g. b (default abc)")
    args = parser.parse_args()
    parts = set(args.only)
    backends = ([] if args.no_sqlite else ["sqlite"]) + (
        [] if args.no_postgres else ["postgresql"])
    sizes = [1_000, 5_000] if args.quick else [1_000, 10_000, 100_000]
    repeat = 50 if args.quick else 300
    fires = 200 if args.quick else 2_000

    print("Aiguillage service benchmark (figures only, never asserted)")
    print(f"command: .venv/bin/python bench/services.py{' --quick' if args.quick else ''}"
          f"{' --no-postgres' if args.no_postgres else ''}"
          f"{' --no-sqlite' if args.no_sqlite else ''}"
          f"{f' --only {args.only}' if args.only != 'abc' else ''}")
    print(f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"{os.cpu_count()} CPU; (a), (c) circuit tests/unit/fixtures/mini, (b) the demo")
    with tempfile.TemporaryDirectory(prefix="aiguillage-bench-") as tmp:
        folder = Path(tmp)
        if "a" in parts:
            print(f"\n(a) complete one step (analyse -> decision, arms 2 timers), {repeat} "
                  "calls; ratio = service p50 / (raw p50 + write p50), target <= 2")
            print(f"  {'database':<12}{'service p50':>12}{'p95':>10}{'raw cycle p50':>15}"
                  f"{'1 write tx p50':>16}{'ratio':>8}")
        for kind in backends if "a" in parts else []:
            with database(kind, folder) as db:
                label = kind
                if kind == "postgresql":
                    with db.engine.connect() as conn:
                        version = conn.exec_driver_sql("SHOW server_version").scalar()
                    label = f"pg {str(version).split()[0]}"
                served, cycle, write = bench_complete(db, repeat)
                print(f"  {label:<12}{ms(served):>9.2f} ms{ms(served, 0.95):>7.2f} ms"
                      f"{ms(cycle):>12.2f} ms{ms(write):>13.2f} ms"
                      f"{ms(served) / (ms(cycle) + ms(write)):>7.2f}x", flush=True)

        for kind in backends if "b" in parts else []:
            print(f"\n(b) my tasks and the cases list with the visibility rule (page 1, 25 "
                  f"per page), {repeat} calls per size, list and person, {kind}")
            p95s = bench_lists(kind, folder, sizes, repeat)
            print("  p95 spread across sizes (target <= 20 %; target p95 <= 10 ms):")
            for series, values in p95s.items():
                print(f"      {series:<40} {(max(values) / min(values) - 1) * 100:6.0f} %"
                      f"   worst p95 {max(values):6.2f} ms", flush=True)

        if "c" in parts:
            print(f"\n(c) timers fired by one scheduler ({fires} due reminders, one per case;"
                  f" target >= 200/s on SQLite), {SWEEPS} sweeps, median")
        for kind in backends if "c" in parts else []:
            with database(kind, folder) as db:
                runs = [bench_timers(db, fires, sweep) for sweep in range(SWEEPS)]
            rates = sorted(fired / elapsed for fired, elapsed, _ in runs)
            fired, elapsed, raw = sorted(runs, key=lambda r: r[0] / r[1])[SWEEPS // 2]
            print(f"  {kind:<11}{fired / elapsed:>8.0f} timers/s   ({fired} in {elapsed:.2f} s,"
                  f" {elapsed / fired * 1000:.2f} ms each; engine load+advance+dump alone"
                  f" {raw:.2f} ms; sweeps {' / '.join(f'{r:.0f}' for r in rates)})", flush=True)


if __name__ == "__main__":
    main()
