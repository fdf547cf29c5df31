"""Service-layer costs on real databases: figures to read, never asserted anywhere.

Run: ``.venv/bin/python bench/services.py`` (``--no-postgres`` for SQLite alone, ``--quick``
for small sizes). It reports, on the small test circuit (tests/unit/fixtures/mini):

(a) completing a step through ``tasks.complete`` (a fresh session per call, like a request)
    on SQLite and PostgreSQL, against the raw in-memory cycle ``Instance.load`` + complete
    + ``dump`` and one small write transaction (target: service <= 2 x (raw + commit));
(b) ``tasks.my_tasks`` p50/p95 with 1k, 10k and 100k open cases on SQLite (target p95
    <= 10 ms and flat within 20 %): cases and steps are bulk-inserted rows reusing one real
    stored state, not engine runs;
(c) timers fired per second by one scheduler (``engine.scheduler.run_once``) on SQLite
    (target >= 200/s), and on PostgreSQL for comparison: cases are cloned rows of one real
    case waiting on ``decision``, each with one due reminder.

PostgreSQL: database ``aiguillage_bench`` is re-created on the server named by
``AIGUILLAGE_TEST_POSTGRES`` (default: the local trust-auth server).
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, insert, select, text, update  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from engine import scheduler  # noqa: E402
from engine.clock import FixedClock  # noqa: E402
from engine.core.spiff.runner import Instance  # noqa: E402
from engine.persistence.db import make_engine, session_factory, transaction  # noqa: E402
from engine.persistence.migrate import upgrade  # noqa: E402
from engine.persistence.models import Case, HumanTask, Membership, Timer, User  # noqa: E402
from engine.services import cases, runtime, tasks  # noqa: E402
from engine.services.access import load_actor  # noqa: E402
from tests.integration.factories import World, make_world, start_at_decision  # noqa: E402

PG_SERVER = os.environ.get("AIGUILLAGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
PG_DB = "aiguillage_bench"
T0 = datetime(2026, 1, 9, 14, 0, tzinfo=UTC)
ANALYSE = {"mesure": "avdl"}


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
def database(kind: str, folder: Path) -> Iterator[Db]:
    if kind == "sqlite":
        url = f"sqlite:///{folder / 'bench.sqlite'}"
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
                Path(f"{folder / 'bench.sqlite'}{suffix}").unlink(missing_ok=True)


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

def bench_complete(db: Db, repeat: int) -> tuple[float, float, float, float]:
    """(service p50, service p95, raw cycle p50, one write transaction p50), in ms."""
    with db.sessions() as session:
        ids = [cases.start(session, db.clock, db.world.coordinator, db.world.circuit.id,
                           {"nom_menage": f"Ménage {n}"}).id for n in range(repeat + 5)]
        steps = list(session.scalars(select(HumanTask.id).where(
            HumanTask.case_id.in_(ids), HumanTask.bpmn_id == "analyse")
            .order_by(HumanTask.id)))
        case = session.get(Case, ids[0])
        assert case is not None
        compiled = runtime.compiled(session, case.circuit_version_id)
        state = case.state
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

    served = timed(service, repeat)
    return ms(served), ms(served, 0.95), ms(timed(raw, repeat)), ms(timed(write, repeat))


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
            new = list(session.scalars(insert(User).returning(User.id, sort_by_parameter_order=True), users))
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
        with self.db.sessions() as session, transaction(session):
            new = list(session.scalars(insert(Case).returning(Case.id, sort_by_parameter_order=True), [
                {**self.case, "reference": f"B-{first + n:07d}",
                 "household_name": f"Ménage {first + n:07d}"} for n in range(count)]))
            rows = []
            for n, case_id in enumerate(new):
                index = first + n
                offered = index % 10 == 0
                ready = T0 - timedelta(minutes=index % 20000)
                rows.append({
                    "case_id": case_id, "territory_id": d.territory_id,
                    "circuit_id": d.circuit_id, "spiff_task_id": d.spiff_task_id,
                    "bpmn_id": "analyse" if offered else "decision",
                    "name": "Analyser la demande" if offered else d.name, "lane": d.lane,
                    "role": "coordination" if offered else "operateur",
                    "form": d.form, "status": "open",
                    "assignee_id": None if offered else self._assignee(index),
                    "ready_at": ready, "due_at": ready + timedelta(days=15)})
            session.execute(insert(HumanTask), rows)

    def _assignee(self, index: int) -> int:
        if index % 10 == 1 and index < 10 * self.PER_OPERATOR:  # the measured one's 50
            return self.measured
        return self.operators[1 + (index // self.PER_OPERATOR) % (len(self.operators) - 1)]


def bench_my_tasks(db: Db, sizes: list[int], repeat: int) -> list[tuple[int, str, int, float,
                                                                         float]]:
    table = TaskTable(db)
    out = []
    with db.sessions() as session:
        operator = load_actor(session, table.measured)
    coordinator = db.world.coordinator
    for size in sizes:
        began = time.perf_counter()
        table.grow(size)
        built = time.perf_counter() - began
        for label, actor in (("operator, 50 assigned", operator),
                             ("coordination, offered N/10", coordinator)):
            with db.sessions() as session:
                total = tasks.my_tasks(session, db.clock, actor).total

            def query(actor: Any = actor) -> None:
                with db.sessions() as session:
                    tasks.my_tasks(session, db.clock, actor)

            values = timed(query, repeat, warmup=20)
            out.append((size, label, total, ms(values), ms(values, 0.95)))
            print(f"  {size:>7} open cases (built in {built:5.1f} s)  {label:<28}"
                  f" sees {total:>6}   p50 {ms(values):6.2f} ms   p95 {ms(values, 0.95):6.2f} ms",
                  flush=True)
            built = 0.0
    return out


# ------------------------------------------------------------------ (c) timers per second

def bench_timers(db: Db, count: int) -> tuple[int, float]:
    """Clone one real case waiting on ``decision`` ``count`` times; fire every reminder."""
    with db.sessions() as session:
        case_id = start_at_decision(session, db.clock, db.world, "Ménage Modèle")
        model = session.get(Case, case_id)
        assert model is not None
        case = {c.key: getattr(model, c.key) for c in Case.__table__.columns
                if c.key not in ("id", "reference")}
        step = session.scalar(select(HumanTask).where(HumanTask.case_id == case_id,
                                                      HumanTask.status == "open"))
        armed = list(session.scalars(select(Timer).where(Timer.case_id == case_id)))
        assert step is not None and len(armed) == 2
        step_row = {c.key: getattr(step, c.key) for c in HumanTask.__table__.columns
                    if c.key not in ("id", "case_id")}
        timer_rows = [{c.key: getattr(t, c.key) for c in Timer.__table__.columns
                       if c.key not in ("id", "case_id")} for t in armed]
    with db.sessions() as session, transaction(session):
        new = list(session.scalars(insert(Case).returning(Case.id, sort_by_parameter_order=True), [
            {**case, "reference": f"T-{n:07d}"} for n in range(count - 1)]))
        session.execute(insert(HumanTask), [{**step_row, "case_id": c} for c in new])
        session.execute(insert(Timer), [{**t, "case_id": c} for c in new for t in timer_rows])
    clock = FixedClock(db.clock.now() + timedelta(days=10, minutes=1))  # reminders due
    began = time.perf_counter()
    tick = scheduler.run_once(db.sessions, clock, "bench", max_batches=10_000)
    elapsed = time.perf_counter() - began
    assert tick.failed == 0 and tick.fired == count, tick
    return tick.fired, elapsed


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
        print(f"\n(a) complete one step (analyse -> decision, arms 2 timers), {repeat} calls")
        print(f"  {'database':<11}{'service p50':>12}{'p95':>9}{'raw cycle':>11}"
              f"{'1 write tx':>12}{'ratio':>8}   (ratio = service p50 / (raw + write tx))")
        for kind in backends:
            with database(kind, folder) as db:
                if kind == "postgresql":
                    with db.engine.connect() as conn:
                        version = conn.exec_driver_sql("SHOW server_version").scalar()
                    kind = f"pg {str(version).split()[0]}"
                s50, s95, raw, write = bench_complete(db, repeat)
                print(f"  {kind:<11}{s50:>9.2f} ms{s95:>6.2f} ms{raw:>8.2f} ms{write:>9.2f} ms"
                      f"{s50 / (raw + write):>7.2f}x", flush=True)

        print(f"\n(b) my tasks (page 1, 25 per page, sorted by due date), {repeat} calls "
              "per size, SQLite")
        with database("sqlite", folder) as db:
            results = bench_my_tasks(db, sizes, repeat)
            for label in dict.fromkeys(r[1] for r in results):
                p95s = [r[4] for r in results if r[1] == label]
                print(f"  {label:<28} p95 spread across sizes: "
                      f"{(max(p95s) / min(p95s) - 1) * 100:5.0f} %  (target <= 20 %)")

        print(f"\n(c) timers fired by one scheduler ({fires} due reminders, one per case)")
        for kind in backends:
            with database(kind, folder) as db:
                fired, elapsed = bench_timers(db, fires)
                print(f"  {kind:<11}{fired / elapsed:>8.0f} timers/s   ({fired} in {elapsed:.2f} s,"
                      f" {elapsed / fired * 1000:.2f} ms each)", flush=True)


if __name__ == "__main__":
    main()
