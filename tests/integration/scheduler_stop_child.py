"""A dedicated scheduler (``engine.scheduler.main``) for the graceful-stop test (not a test
module).

    python -m tests.integration.scheduler_stop_child URL INSTANT

Runs the real loop of ``aiguillage scheduler`` on the database at URL, its clock fixed at
INSTANT (ISO 8601), each firing slowed down (0.1 s) so that a SIGTERM lands in the middle of
a batch. Prints ``fired ID`` after each timer it fired, ``stopped`` when ``main`` returned.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import datetime
from typing import Any

from engine import scheduler
from engine.clock import FixedClock
from engine.persistence.db import make_engine, session_factory
from engine.services import timers


def main(argv: list[str]) -> int:
    url, instant = argv[0], datetime.fromisoformat(argv[1])
    logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
    fire = timers._fire_in  # each timer, alone or in a group (printed before its commit)

    def slow_fire(session: Any, clock: Any, worker: str, timer_id: int) -> float | None:
        time.sleep(0.1)
        done = fire(session, clock, worker, timer_id)
        print(f"fired {timer_id}", flush=True)
        return done

    timers._fire_in = slow_fire
    scheduler.SystemClock = lambda: FixedClock(instant)  # type: ignore[assignment,misc]
    engine = make_engine(url)
    scheduler.main(session_factory(engine), seconds=0.5)
    print("stopped", flush=True)
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
