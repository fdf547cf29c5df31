"""A scheduler process for the fault-injection tests (not a test module).

    python -m tests.integration.scheduler_child URL INSTANT WORKER [BATCH] [--wait-go]

Sweeps the database at URL once with ``engine.scheduler.run_once`` and a ``FixedClock`` at
INSTANT (ISO 8601), as WORKER. Prints ``ready`` once imported and connected; with
``--wait-go`` it then waits for a line on stdin, so that two of them start together. At the
end it prints one JSON line: the tick, and the timer ids it claimed and fired.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from sqlalchemy import text

from engine import scheduler
from engine.clock import FixedClock
from engine.persistence.db import make_engine, session_factory
from engine.services import timers


def main(argv: list[str]) -> int:
    url, instant, worker = argv[0], datetime.fromisoformat(argv[1]), argv[2]
    batch = int(argv[3]) if len(argv) > 3 and argv[3].isdigit() else 50
    engine = make_engine(url)
    sessions = session_factory(engine)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    claimed: list[int] = []
    fired: list[int] = []
    claim_due, fire, fire_together = timers.claim_due, timers.fire, timers.fire_together

    def recording_claim(*args: Any, **kwargs: Any) -> list[int]:
        ids = claim_due(*args, **kwargs)
        claimed.extend(ids)
        return ids

    def recording_fire(session: Any, clock: Any, worker_: str, timer_id: int) -> bool:
        done = fire(session, clock, worker_, timer_id)
        if done:
            fired.append(timer_id)
        return done

    def recording_group(*args: Any, **kwargs: Any) -> timers.Together:
        group = fire_together(*args, **kwargs)
        fired.extend(group.fired)
        return group

    timers.claim_due, timers.fire = recording_claim, recording_fire  # type: ignore[assignment]
    timers.fire_together = recording_group
    print("ready", flush=True)
    if "--wait-go" in argv:
        sys.stdin.readline()
    tick = scheduler.run_once(sessions, FixedClock(instant), worker, batch=batch)
    print(json.dumps({"worker": worker, "claimed": claimed, "fired": fired,
                      "tick": [tick.claimed, tick.fired, tick.failed]}), flush=True)
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
