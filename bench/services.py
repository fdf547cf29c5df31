"""Service-layer costs on real databases: figures to read, never asserted anywhere.

Run: ``.venv/bin/python bench/services.py`` (``--no-postgres`` for SQLite alone, ``--quick``
for small sizes). It reports, on the small test circuit (tests/unit/fixtures/mini):

(a) completing a step through ``tasks.complete`` (a fresh session per call, like a request)
    on SQLite and PostgreSQL, against the raw in-memory cycle ``Instance.load`` + complete
    + ``dump`` and one small write transaction (target: service <= 2 x (raw + commit)),
    the three measured in turn, call after call;
(b) ``tasks.my_tasks`` p50/p95 with 1k, 10k and 100k open cases on SQLite (target p95
    <= 10 ms and flat within 20 %): cases and steps are bulk-inserted rows reusing one real
    stored state, not engine runs; one database per size, measured round-robin;
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

from sqlalchemy import Engine, event, insert, select, text, update  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from engine import scheduler  # noqa: E402
from engine.clock import FixedClock  # noqa: E402
from engine.core.spiff.runner import Instance  # noqa: E402
from engine.persistence.db import make_engine, session_factory, transaction  # noqa: E402
from engine.persistence.migrate import upgrade  # noqa: E402
from engine.persistence.models import Case, CaseState, HumanTask, Membership, Timer, User  # noqa: E402
from engine.persistence.models.human_task import TaskStatus  # noqa: E402
from engine.services import cases, runtime, tasks  # noqa: E402
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


# ------------------------------------------------------------------ (b) my tasks

class TaskTable:
    """Bulk-inserted open cases, one open step each, reusing one real stored state.

    One step in ten is ``analyse`` offered to the coordination; the others are ``decision``
    steps assigned to operators, 50 per operator. The measured operator always holds the
    same 50 steps, whatever the table size.
    """

    PER_OPERATOR = 50

    def __init__(self, db: Db) -> None:
        self.db = db
        with db.sessions() as session:
            case_id = start_at_decision(session, db.clock, db.world, "Ménage Modèle")
            model = session.get(Case, case_id)
            assert model is not None
            self.case = {c.key: getattr(model, c.key) for c in Case.__table__.columns
                         if c.key not in ("id", "reference", "household_name")}
            self.decision = session.scalar(select(HumanTask).where(
                HumanTask.case_id == case_id, HumanTask.bpmn_id == "decision"))
        self.size = 1  # the model case
        self.operators: list[int] = []
        self.measured = self._operators(1)[0]

    def _operators(self, count: int) -> list[int]:
        now = self.db.clock.now()
        start = len(self.operators)
        with self.db.sessions() as session, transaction(session):
            users = [{"email": f"operateur{start + n}@bench.test",
                      "display_name": f"Opérateur {start + n}", "password_hash": "-",
                      "active": True, "created_at": now} for n in range(count)]
            new = list(session.scalars(
                insert(User).returning(User.id, sort_by_parameter_order=True), users))
            session.execute(insert(Membership), [
                {"user_id": u, "territory_id": self.db.world.territory.id, "role": "operateur"}
                for u in new])
        self.operators += new
        return new

    def grow(self, size: int, chunk: int = 2000) -> None:
        while self.size < size:
            count = min(chunk, size - self.size)
            first = self.size
            needed = (first + count) // self.PER_OPERATOR + 1 - len(self.operators)
            if needed > 0:
                self._operators(needed)
            self._insert(first, count)
            self.size += count

    def _insert(self, first: int, count: int) -> None:
        d = self.decision
        assert d is not None
        template = {c.key: getattr(d, c.key) for c in HumanTask.__table__.columns
                    if c.key != "id"}
        with self.db.sessions() as session, transaction(session):
            new = list(session.scalars(
                insert(Case).returning(Case.id, sort_by_parameter_order=True),
                [{**self.case, "reference": f"B-{first + n:07d}",
                  "household_name": f"Ménage {first + n:07d}"} for n in range(count)]))
            rows = []
            for n, case_id in enumerate(new):
                index = first + n
                offered = index % 10 == 0
                ready = T0 - timedelta(minutes=index % 20000)
                row = {**template, "case_id": case_id,
                       "bpmn_id": "analyse" if offered else "decision",
                       "name": "Analyser la demande" if offered else d.name,
                       "role": "coordination" if offered else "operateur",
                       "assignee_id": None if offered else self._assignee(index),
                       "ready_at": ready, "due_at": ready + timedelta(days=15)}
                if "due_sort" in row:  # the sort key lists use, when the schema has it
                    row["due_sort"] = row["due_at"]
                rows.append(row)
            session.execute(insert(HumanTask), rows)

    def _assignee(self, index: int) -> int:
        if index % 10 == 1 and index < 10 * self.PER_OPERATOR:  # the measured one's 50
            return self.measured
        return self.operators[1 + (index // self.PER_OPERATOR) % (len(self.operators) - 1)]


def plan(db: Db, actor: Any) -> str:
    """SQLite's plan for the page query of ``my_tasks`` (captured, then explained)."""
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _m: Any) -> None:
        if "FROM human_task" in statement and "LIMIT" in statement:
            seen.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with db.sessions() as session:
            tasks.my_tasks(session, db.clock, actor)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    statement, params = seen[0]
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
    return "; ".join(str(r[3]) for r in rows)


def bench_my_tasks(folder: Path, sizes: list[int], repeat: int) -> dict[str, list[float]]:
    """p95 per size for two people, without and with SQLite planner statistics.

    One database per size, measured round-robin (one call per size and person in turn), so
    that the machine's drift (a shared VM) hits every size alike: the spread then shows what
    the table's size does, not which size ran during a slow second. The app never runs
    ``ANALYZE``, so the first series is what it ships with; the second shows that
    statistics do not change the plans.
    """
    with ExitStack() as stack:
        tables = []
        for size in sizes:
            db = stack.enter_context(database("sqlite", folder, f"tasks-{size}"))
            began = time.perf_counter()
            table = TaskTable(db)
            table.grow(size)
            print(f"  {size:>7} open cases (rows built in {time.perf_counter() - began:.1f} s)",
                  flush=True)
            with db.sessions() as session:
                operator = load_actor(session, table.measured)
            tables.append((db, {"operator, 50 assigned": operator,
                                "coordination, offered N/10": db.world.coordinator}))
        p95s: dict[str, list[float]] = {}
        for stats in (False, True):
            for db, _ in tables:
                with db.engine.connect() as conn:
                    conn.exec_driver_sql(
                        "ANALYZE" if stats else "DROP TABLE IF EXISTS sqlite_stat1")
                    conn.commit()
                db.engine.dispose()  # new connections read the schema (and statistics) afresh
            calls = [(size, db, label, actor)
                     for size, (db, people) in zip(sizes, tables, strict=True)
                     for label, actor in people.items()]
            seconds: dict[tuple[int, str], list[float]] = {(c[0], c[2]): [] for c in calls}
            for round_ in range(repeat + 20):
                for size, db, label, actor in calls:
                    begin = time.perf_counter()
                    with db.sessions() as session:
                        tasks.my_tasks(session, db.clock, actor)
                    if round_ >= 20:  # warm-up rounds are not counted
                        seconds[(size, label)].append(time.perf_counter() - begin)
            suffix = "after ANALYZE" if stats else "no ANALYZE (as shipped)"
            for size, db, label, actor in calls:
                with db.sessions() as session:
                    total = tasks.my_tasks(session, db.clock, actor).total
                values = seconds[(size, label)]
                series = f"{label}, {suffix}"
                p95s.setdefault(series, []).append(ms(values, 0.95))
                print(f"  {size:>7}  {series:<52} sees {total:>6}   p50 {ms(values):6.2f} ms"
                      f"   p95 {ms(values, 0.95):6.2f} ms", flush=True)
                if label.startswith("operator"):
                    print(f"           plan: {plan(db, actor)}")
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
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    args = parser.parse_args()
    backends = ["sqlite"] + ([] if args.no_postgres else ["postgresql"])
    sizes = [1_000, 5_000] if args.quick else [1_000, 10_000, 100_000]
    repeat = 50 if args.quick else 300
    fires = 200 if args.quick else 2_000

    print("Aiguillage service benchmark (figures only, never asserted)")
    print(f"command: .venv/bin/python bench/services.py{' --quick' if args.quick else ''}"
          f"{' --no-postgres' if args.no_postgres else ''}")
    print(f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"{os.cpu_count()} CPU, circuit tests/unit/fixtures/mini")
    with tempfile.TemporaryDirectory(prefix="aiguillage-bench-") as tmp:
        folder = Path(tmp)
        print(f"\n(a) complete one step (analyse -> decision, arms 2 timers), {repeat} calls;"
              " ratio = service p50 / (raw p50 + write p50), target <= 2")
        print(f"  {'database':<12}{'service p50':>12}{'p95':>10}{'raw cycle p50':>15}"
              f"{'1 write tx p50':>16}{'ratio':>8}")
        for kind in backends:
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

        print(f"\n(b) my tasks (page 1, 25 per page, sorted by due date), {repeat} calls "
              "per size, SQLite")
        p95s = bench_my_tasks(folder, sizes, repeat)
        print("  p95 spread across sizes (target <= 20 %; target p95 <= 10 ms):")
        for series, values in p95s.items():
            print(f"      {series:<52} {(max(values) / min(values) - 1) * 100:6.0f} %"
                  f"   worst p95 {max(values):6.2f} ms")

        print(f"\n(c) timers fired by one scheduler ({fires} due reminders, one per case;"
              f" target >= 200/s on SQLite), {SWEEPS} sweeps, median")
        for kind in backends:
            with database(kind, folder) as db:
                runs = [bench_timers(db, fires, sweep) for sweep in range(SWEEPS)]
            rates = sorted(fired / elapsed for fired, elapsed, _ in runs)
            fired, elapsed, raw = sorted(runs, key=lambda r: r[0] / r[1])[SWEEPS // 2]
            print(f"  {kind:<11}{fired / elapsed:>8.0f} timers/s   ({fired} in {elapsed:.2f} s,"
                  f" {elapsed / fired * 1000:.2f} ms each; engine load+advance+dump alone"
                  f" {raw:.2f} ms; sweeps {' / '.join(f'{r:.0f}' for r in rates)})", flush=True)


if __name__ == "__main__":
    main()
