"""A scheduler process for the anonymisation kill test (not a test module).

    python -m tests.integration.retention_child URL INSTANT BATCH

Sweeps the database at URL with ``engine.scheduler.sweep_retention`` and a ``FixedClock`` at
INSTANT (ISO 8601), BATCH cases at a time, until nothing is due. Prints ``ready`` once
imported and connected, then one JSON line: the number of cases it anonymised.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

from sqlalchemy import text

from engine import scheduler
from engine.clock import FixedClock
from engine.persistence.db import make_engine, session_factory


def main(argv: list[str]) -> int:
    url, instant, batch = argv[0], datetime.fromisoformat(argv[1]), int(argv[2])
    engine = make_engine(url)
    sessions = session_factory(engine)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    print("ready", flush=True)
    clock, done = FixedClock(instant), 0
    while True:
        swept = scheduler.sweep_retention(sessions, clock, batch)
        done += swept
        if not swept:
            break
    print(json.dumps({"anonymised": done}), flush=True)
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
