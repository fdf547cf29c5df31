"""``/metrics`` in Prometheus text format, right with any number of server workers.

Several gunicorn workers each count their own requests: prometheus_client's multiprocess
mode has each process write its values to files in ``PROMETHEUS_MULTIPROC_DIR`` and the
worker that answers a scrape sums them. The server must choose that folder before it starts
its workers and tell prometheus_client when a worker dies:

- ``prepare_multiprocess_dir()``: call it in the server process before the workers start
  (``aiguillage serve``); it empties the folder, sets ``PROMETHEUS_MULTIPROC_DIR`` and
  switches prometheus_client to the multiprocess mode even if it was imported already;
- ``child_exit``: gunicorn's hook of that name (``child_exit = webapp.metrics.child_exit``
  in its configuration), so a dead worker's gauges (connections in use) are dropped.

Without that folder (one process, the tests), the process's own registry is read.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# seconds: the targets are 50 ms (a completion) and 100 ms (a page) at the 95th percentile
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_lock = threading.Lock()
_latency: Histogram | None = None


def latency() -> Histogram:
    """The request latency histogram, created on first use (after the server's choice)."""
    global _latency
    with _lock:
        if _latency is None:
            _latency = Histogram("aiguillage_http_request_duration_seconds",
                                 "Durée des requêtes par route, méthode et classe de statut",
                                 ["route", "method", "status"], buckets=LATENCY_BUCKETS)
        return _latency


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one request: ``route`` is the URL rule (bounded), never the path itself."""
    latency().labels(route=route, method=method if method in METHODS else "other",
                     status=f"{status // 100}xx").observe(seconds)


def render() -> tuple[bytes, str]:
    """The metrics of every live worker (multiprocess mode) or of this process."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def prepare_multiprocess_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Before a server starts its workers: use ``path`` (else ``PROMETHEUS_MULTIPROC_DIR``,
    else a new temporary folder) for the workers' metric files, emptied of an earlier run's,
    and switch prometheus_client to the multiprocess mode. Returns the folder."""
    chosen = path or os.environ.get(MULTIPROC_ENV)
    folder = Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="aiguillage-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(folder)
    # metrics created from now on write to the folder's files
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return folder


def child_exit(_server: Any, worker: Any) -> None:
    """gunicorn's ``child_exit`` hook: drop a dead worker's live gauges."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
