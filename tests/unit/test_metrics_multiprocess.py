"""Several server workers, one ``/metrics``: each process writes its own metric files in
the folder the server prepared, and the scrape sums them (issue #17, item 3)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from webapp import metrics as web_metrics

ROOT = Path(__file__).resolve().parents[2]

# A worker: prometheus_client and the engine's metrics are imported before the server's
# choice (as when the app is preloaded), then the folder is prepared, then it counts.
WORKER = """
import sys
import prometheus_client
from engine import metrics
from webapp import metrics as web_metrics
web_metrics.prepare_multiprocess_dir(sys.argv[1]) if sys.argv[2] == "first" else None
metrics.step_completed("coordination")
metrics.step_completed("coordination")
metrics.timer_fired(3.0)
metrics.instruments().db_connections.inc()
web_metrics.observe_request("/taches/<int:task_id>", "POST", 302, 0.02)
print("ok")
"""


def _worker(folder: Path, role: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if role != "first":  # a worker forked after the choice inherits the variable
        env["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    else:
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    done = subprocess.run([sys.executable, "-c", WORKER, str(folder), role], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    return done


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_two_worker_processes_are_summed(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "metrics"
    (folder).mkdir()
    (folder / "counter_999999.db").write_bytes(b"stale")  # an earlier run's: emptied
    _worker(folder, "first")
    _worker(folder, "second")
    assert not (folder / "counter_999999.db").exists()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    body, content_type = web_metrics.render()
    assert content_type.startswith("text/plain")
    found = _samples(body.decode())
    assert found[("aiguillage_steps_completed_total", (("circuit", "coordination"),))] == 4
    assert found[("aiguillage_timers_fired_total", ())] == 2
    assert found[("aiguillage_timer_lateness_seconds_count", ())] == 2
    assert found[("aiguillage_timer_lateness_seconds_bucket", (("le", "5.0"),))] == 2
    assert found[("aiguillage_http_request_duration_seconds_count",
                  (("method", "POST"), ("route", "/taches/<int:task_id>"),
                   ("status", "3xx")))] == 2
    assert found[("aiguillage_db_connections_in_use", ())] == 2  # live sum of both


def test_a_dead_worker_leaves_the_live_gauges(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    _worker(folder, "first")
    _worker(folder, "second")
    pids = sorted({int(p.stem.rsplit("_", 1)[1]) for p in folder.glob("gauge_livesum_*.db")})
    assert len(pids) == 2
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    web_metrics.child_exit(None, SimpleNamespace(pid=pids[0]))  # gunicorn's hook
    found = _samples(web_metrics.render()[0].decode())
    assert found[("aiguillage_db_connections_in_use", ())] == 1
    assert found[("aiguillage_steps_completed_total", (("circuit", "coordination"),))] == 4
