"""A webhook sender process for the restart test (not a test module).

    python -m tests.integration.webhook_child URL OFFSET_SECONDS

Delivers the due webhooks of the database at URL with the real delivery loop
(``engine.scheduler.send_webhooks`` and ``HttpSender``), its clock ``OFFSET_SECONDS`` ahead
of the wall clock (a second sender starts past the first one's leases), until none is
pending; prints ``ready`` once connected and ``done`` at the end.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta

from sqlalchemy import func, select

from engine import scheduler
from engine.clock import SystemClock
from engine.persistence.db import make_engine, session_factory
from engine.persistence.models import OutboxMessage
from engine.persistence.models.outbox import OutboxStatus
from engine.webhook_sender import HttpSender


class AheadClock(SystemClock):
    def __init__(self, seconds: float) -> None:
        self.ahead = timedelta(seconds=seconds)

    def now(self) -> datetime:
        return super().now() + self.ahead


def main(argv: list[str]) -> int:
    engine = make_engine(argv[0])
    sessions = session_factory(engine)
    clock = AheadClock(float(argv[1]))
    with sessions() as session:
        session.scalar(select(func.count()).select_from(OutboxMessage))
    print("ready", flush=True)
    while True:
        scheduler.send_webhooks(sessions, clock, HttpSender(timeout=10))
        with sessions() as session:
            left = session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.kind == "webhook", OutboxMessage.status == OutboxStatus.PENDING))
        if not left:
            break
        time.sleep(0.05)
    print("done", flush=True)
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
