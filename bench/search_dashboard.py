"""The cases search and the overdue dashboard on a load database: figures to read, never
asserted anywhere (issue #17, item 5).

Run, on the database ``bench/load.py --pg-database NAME --keep …`` built and left (100k
cases, 10,000 overdue steps, the ``@bench.test`` accounts):

    .venv/bin/python bench/search_dashboard.py --pg-database aiguillage_load

It calls the services in-process, one request's work at a time, each in its own session:
``cases.search`` with a surname (as locust's « cases search ») for a social worker of each
operator and of the referrer and for a coordinator, with and without a status filter, and
the dashboard's ``oversight.counts`` + ``steps`` + ``history`` for an administrator; then
prints p50 and p95 (ms) and the slowest statement of the last call. It only reads.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.clock import SystemClock  # noqa: E402
from engine.persistence.db import make_engine  # noqa: E402
from engine.persistence.models import Territory, User  # noqa: E402
from engine.services import access, cases, oversight  # noqa: E402

SURNAMES = ("martin", "bernard", "thomas", "petit", "robert", "durand", "dubois", "moreau")
ACCOUNTS = {"operator's social worker": "social-worker-operator-0@bench.test",
            "operator B's social worker": "social-worker-operator_b-0@bench.test",
            "referrer's social worker": "social-worker-referrer-0@bench.test",
            "coordinator": "coordinator-territoire-0@bench.test"}
ADMIN = "administrator-territoire-0@bench.test"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-database", default="aiguillage_load")
    parser.add_argument("--host", default="127.0.0.1:5432")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    engine = make_engine(f"postgresql://{args.host}/{args.pg_database}")
    statements: list[tuple[float, str]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn: Any, *_: Any) -> None:
        conn.info["h13_started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _end(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(((time.perf_counter() - conn.info["h13_started"]) * 1000,
                           " ".join(statement.split())[:90]))

    clock = SystemClock()
    print(f"command: .venv/bin/python bench/search_dashboard.py --pg-database {args.pg_database}"
          f" --rounds {args.rounds}")
    with Session(engine) as session:
        territory_id = session.scalar(select(Territory.id).order_by(Territory.id))
        assert territory_id is not None

        def actor(email: str) -> access.Actor:
            user_id = session.scalar(select(User.id).where(User.email == email))
            if user_id is None:
                sys.exit(f"{email}: no such account (build the world with bench/load.py)")
            return access.load_actor(session, user_id)
        actors = {name: actor(email) for name, email in ACCOUNTS.items()}
        admin = actor(ADMIN)

    def measure(label: str, call: Callable[[Session, int], object]) -> None:
        times = []
        for n in range(args.rounds * len(SURNAMES)):
            statements.clear()
            with Session(engine) as session:
                started = time.perf_counter()
                call(session, n)
                times.append((time.perf_counter() - started) * 1000)
        times.sort()
        slowest = max(statements)
        print(f"{label:<48}{statistics.median(times):>8.1f}{times[int(len(times) * .95)]:>8.1f}"
              f"{len(statements):>6}  {slowest[0]:5.1f} ms {slowest[1]}")

    print(f"{'':<48}{'p50 ms':>8}{'p95 ms':>8}{'stmts':>6}  slowest statement")
    for name, who in actors.items():
        for extra in ({}, {"status": "open"}):
            measure(f"search, {name}{', open' if extra else ''}",
                    lambda s, n, who=who, extra=extra: cases.search(  # type: ignore[misc]
                        s, clock, who, territory_id, text=SURNAMES[n % len(SURNAMES)], **extra))

    def dashboard(session: Session, _: int) -> None:
        counts = oversight.counts(session, clock, admin)
        oversight.steps(session, clock, admin, counted=counts)
        oversight.history(session, admin)
    measure("overdue dashboard (counts, steps, history)", dashboard)


if __name__ == "__main__":
    main()
