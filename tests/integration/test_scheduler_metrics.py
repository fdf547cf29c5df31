"""``aiguillage scheduler --metrics-port``: a scheduler publishes its own metrics (it shares
no folder with the web workers), writes its heartbeat at each tick, and logs JSON lines with
``AIGUILLAGE_LOG_FORMAT=json`` (issue #17, item 3). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.persistence.models import SchedulerHeartbeat

ROOT = Path(__file__).resolve().parents[2]
RUN = "from engine.cli import cli; cli(prog_name='aiguillage')"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _ticks(port: int) -> float:
    """The scheduler's tick count, 0 while its server is not listening yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            body = answer.read().decode()
    except OSError:
        return 0.0
    return sum(s.value for family in text_string_to_metric_families(body)
               for s in family.samples if s.name == "aiguillage_scheduler_ticks_total")


def test_a_scheduler_publishes_its_metrics_and_beats(db_url: str,
                                                     sessions: sessionmaker[Session],
                                                     tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "AIGUILLAGE_DATABASE_URL": db_url, "AIGUILLAGE_LOG_FORMAT": "json",
           "PYTHONPATH": str(ROOT)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "scheduler.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", RUN, "scheduler", "--metrics-port",
                                 str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=stderr)
        try:
            ticked = 0.0
            for _ in range(600):  # until two ticks are counted (or the bound: a failure)
                ticked = _ticks(port)
                if ticked >= 2 or proc.poll() is not None:
                    break
                time.sleep(0.1)
            assert ticked >= 2, log.read_text()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    with sessions() as session:
        beats = list(session.scalars(select(SchedulerHeartbeat)))
    assert len(beats) == 1 and beats[0].beat_at >= beats[0].started_at
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert any(line["logger"] == "aiguillage.scheduler" and "started" in line["message"]
               for line in lines)
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
