"""The real server as a process, for the tests that start ``aiguillage serve``
(tests/load/, tests/web/test_serve_database_restart.py): a free port, start-up, stop, and
the PostgreSQL database dropped afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.persistence.db import make_engine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(process: subprocess.Popen[bytes], base: str, log: Path, seconds: float) -> None:
    """Until the sign-in page answers 200; fails with the server's log if it stops or
    takes longer than ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server stopped at start-up:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/connexion", timeout=10) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"the server did not answer within {seconds} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a process started in its own group: SIGTERM, then SIGKILL after 30 s."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    except ProcessLookupError:
        pass


def drop(url: str) -> None:
    """Drop the run's PostgreSQL database (nobody needs it afterwards)."""
    server, name = url.rsplit("/", 1)
    admin = make_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
