"""What ``synchronous=FULL`` costs per step completion on SQLite: figures to read, never
asserted anywhere (docs/performance.md « Durabilité »).

Run: ``.venv/bin/python bench/durability.py`` (``--steps N``, default 300; ``--dir`` for the
folder of the database files, default a temporary folder: put it on the disk the app will
use, never on a tmpfs where a sync costs nothing; ``--postgres`` adds PostgreSQL with
``synchronous_commit`` on and off).

Two file databases, the same small circuit (tests/unit/fixtures/mini) deployed on each, one
opened with ``synchronous=FULL`` and one with ``NORMAL``. N cases are opened on each, then
their first step is completed through ``tasks.complete`` in a fresh session per call (like a
request), alternating FULL and NORMAL call after call so that the drift of a shared machine
hits both series alike. Prints median, p95 and mean per completion, and FULL's cost over
NORMAL.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, select, text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from engine.clock import FixedClock  # noqa: E402
from engine.persistence.db import make_engine, session_factory  # noqa: E402
from engine.persistence.migrate import upgrade  # noqa: E402
from engine.persistence.models import HumanTask  # noqa: E402
from engine.services import cases, tasks  # noqa: E402
from tests.integration.factories import World, make_world  # noqa: E402

PG_SERVER = os.environ.get("AIGUILLAGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
PG_DB = "aiguillage_bench_durability"
T0 = datetime(2026, 1, 9, 14, 0, tzinfo=UTC)
ANALYSE = {"mesure": "avdl"}


@dataclass
class Db:
    """A migrated database with the small circuit and N cases waiting on ``analyse``."""

    label: str
    engine: Engine
    sessions: sessionmaker[Session]
    clock: FixedClock
    world: World
    steps: list[int]


@contextmanager
def database(label: str, url: str, count: int, **engine_options: Any) -> Iterator[Db]:
    engine = make_engine(url, **engine_options)
    upgrade(engine)
    sessions = session_factory(engine)
    clock = FixedClock(T0)
    with sessions() as session:
        world = make_world(session, clock)
        ids = [cases.start(session, clock, world.coordinator, world.circuit.id,
                           {"nom_menage": f"Ménage {n}"}).id for n in range(count)]
        steps = list(session.scalars(select(HumanTask.id).where(
            HumanTask.case_id.in_(ids), HumanTask.bpmn_id == "analyse")
            .order_by(HumanTask.id)))
    try:
        yield Db(label, engine, sessions, clock, world, steps)
    finally:
        engine.dispose()


def pg_url() -> str:
    admin = make_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{PG_DB}"'))
    admin.dispose()
    return f"{PG_SERVER}/{PG_DB}"


def completer(db: Db) -> Callable[[], None]:
    pending = iter(db.steps)

    def complete() -> None:
        with db.sessions() as session:
            tasks.complete(session, db.clock, db.world.coordinator, next(pending), ANALYSE)
    return complete


def measure(dbs: list[Db], steps: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per completion for each database, one call of each in turn."""
    actions = [(db.label, completer(db)) for db in dbs]
    for _ in range(warmup):
        for _label, action in actions:
            action()
    gc.collect()
    out: dict[str, list[float]] = {db.label: [] for db in dbs}
    for _ in range(steps):
        for label, action in actions:
            begin = time.perf_counter()
            action()
            out[label].append(time.perf_counter() - begin)
    return out


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def report(series: dict[str, list[float]], base: str) -> None:
    print(f"{'mode':<34} {'median':>8} {'p95':>8} {'mean':>8}")
    for label, values in series.items():
        print(f"{label:<34} {ms(values, 0.5):>6.2f}ms {ms(values, 0.95):>6.2f}ms "
              f"{statistics.fmean(values) * 1000:>6.2f}ms")
    reference = series[base]
    for label, values in series.items():
        if label != base and label.split()[0] == base.split()[0]:
            print(f"{label} − {base}: median {ms(values, 0.5) - ms(reference, 0.5):+.2f} ms, "
                  f"p95 {ms(values, 0.95) - ms(reference, 0.95):+.2f} ms per completion")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    warmup = 10
    count = args.steps + warmup
    print("command: .venv/bin/python bench/durability.py " + " ".join(sys.argv[1:]))
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")
    with ExitStack() as stack:
        folder = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="aiguillage-durability-")))
        folder.mkdir(parents=True, exist_ok=True)
        print(f"files: {folder} ({args.steps} completions per mode)")
        dbs = [stack.enter_context(database(f"sqlite synchronous={mode}",
                                            f"sqlite:///{folder / f'{mode.lower()}.sqlite'}",
                                            count, synchronous=mode))
               for mode in ("NORMAL", "FULL")]
        series = measure(dbs, args.steps, warmup)
        for mode in ("normal", "full"):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{folder / mode}.sqlite{suffix}").unlink(missing_ok=True)
        report(series, "sqlite synchronous=NORMAL")
        if args.postgres:
            url = pg_url()
            pg = [stack.enter_context(database(
                f"postgresql synchronous_commit={mode}", url, count,
                connect_args={"options": f"-c synchronous_commit={mode}"}))
                for mode in ("off",)]
            # one database, two engines: on and off share the server, the disk and the rows
            pg.append(stack.enter_context(_second(url, pg[0])))
            report(measure(pg, args.steps, warmup), "postgresql synchronous_commit=off")


@contextmanager
def _second(url: str, first: Db) -> Iterator[Db]:
    """A second engine on ``first``'s database (synchronous_commit on), with its own cases."""
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as session:
        ids = [cases.start(session, first.clock, first.world.coordinator,
                           first.world.circuit.id, {"nom_menage": f"Ménage B{n}"}).id
               for n in range(len(first.steps))]
        steps = list(session.scalars(select(HumanTask.id).where(
            HumanTask.case_id.in_(ids), HumanTask.bpmn_id == "analyse")
            .order_by(HumanTask.id)))
    try:
        yield Db("postgresql synchronous_commit=on", engine, sessions, first.clock,
                 first.world, steps)
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
