"""``aiguillage serve`` (issue #17): the app under gunicorn with N workers and one scheduler
process beside them, started as the operator starts it, on a free local port and SQLite.

- it answers /healthz and the sign-in page with 2 workers, and starts exactly one scheduler,
  which it restarts when it dies and stops when the server stops (SIGTERM: exit 0, no
  process left);
- SIGTERM while a request is in flight: no new connection is accepted, the request finishes,
  then the scheduler is stopped (a slow stand-in app: the product has no slow route);
- X-Forwarded-For/-Proto count only with AIGUILLAGE_TRUSTED_PROXIES ≥ 1 (gunicorn's own
  trust of 127.0.0.1 is off), for the rate limit of sign-in and HTTPS;
- the settings: workers by default and from the environment, bad values refused clearly,
  the loopback cookie rule, no query string in the access log.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from webapp import serve
from webapp.cli import cli

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 120.0  # a loaded machine (2 cores shared) may take long to boot the workers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid``: their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def get(port: int, path: str, headers: dict[str, str] | None = None,
        method: str = "GET", body: str | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(method, path, body=body, headers=headers or {})
    return conn.getresponse()


def wait_for(condition, seconds: float = START_SECONDS, what: str = "") -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"not within {seconds} s: {what}")


def answers(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:  # closed here: a gthread worker keeps the connection alive otherwise
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    port: int
    db: Path
    log: Path

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=90)


@pytest.fixture
def start(template_db: Path, tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    started: list[Running] = []

    def run(*args: str, **env: str) -> Running:
        db = tmp_path / f"serve{len(started)}.sqlite"
        shutil.copy(template_db, db)
        port, log = free_port(), tmp_path / f"serve{len(started)}.log"
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith("AIGUILLAGE_") and k != "PROMETHEUS_MULTIPROC_DIR"}
        environ |= {"AIGUILLAGE_DATABASE_URL": f"sqlite:///{db}",
                    "AIGUILLAGE_SECRET_KEY": "test-serve", **env}
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "webapp.cli", "serve", "--port",
                                     str(port), *args], cwd=ROOT, env=environ, stdout=out,
                                    stderr=subprocess.STDOUT)
        running = Running(proc, port, db, log)
        started.append(running)
        wait_for(lambda: answers(port) or proc.poll() is not None, what="serve answers")
        assert proc.poll() is None, log.read_text()
        return running

    yield run
    for running in started:
        if running.proc.poll() is None:
            for pid in children(running.proc.pid):
                os.kill(pid, signal.SIGKILL)
            running.proc.kill()
            running.proc.wait()


def test_serve_runs_two_workers_and_one_scheduler_then_stops_them_all(start) -> None:  # type: ignore[no-untyped-def]
    server = start("--workers", "2", "--scheduler", "--graceful-timeout", "20")
    page = get(server.port, "/connexion")
    assert page.status == 200
    assert 'name="password"' in page.read().decode()
    cookie = page.getheader("Set-Cookie") or ""
    assert cookie.startswith("aiguillage=") and "Secure" not in cookie  # 127.0.0.1 only

    def scheduler_pids() -> list[int]:
        return [pid for pid, cmd in children(server.proc.pid).items()
                if "engine.cli scheduler" in cmd]

    wait_for(lambda: len(children(server.proc.pid)) == 3, what="2 workers + 1 scheduler")
    [scheduler] = scheduler_pids()
    workers = set(children(server.proc.pid)) - {scheduler}
    assert len(workers) == 2

    os.kill(scheduler, signal.SIGKILL)  # it dies: the server starts another
    wait_for(lambda: scheduler_pids() not in ([], [scheduler]), 60, "a new scheduler")
    [again] = scheduler_pids()
    assert again != scheduler and "restarting it" in server.log.read_text()
    wait_for(lambda: f":{again}:" in server.log.read_text(), 60, "the new scheduler runs")

    assert server.stop() == 0
    text = server.log.read_text()
    for pid in (*workers, again):
        assert not alive(pid), text
    assert f"scheduler process {again} stopped" in text
    assert "Planificateur arrêté." in text  # it stopped on its own terms (SIGTERM handled)


def test_sigterm_lets_the_request_in_flight_finish_then_stops_the_scheduler(
        tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.web.serve_slow_child", str(port),
                             str(tmp_path)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: answers(port), what="the stand-in server answers")
        result: dict[str, object] = {}

        def slow_request() -> None:
            response = get(port, "/lent")
            result["status"], result["body"] = response.status, response.read()

        thread = threading.Thread(target=slow_request)
        thread.start()
        wait_for(lambda: (tmp_path / "started").exists(), 60, "the slow request started")
        proc.send_signal(signal.SIGTERM)

        def refused() -> bool:
            try:
                get(port, "/healthz")
            except OSError:
                return True
            return False

        wait_for(refused, 30, "new connections refused")
        thread.join(60)
        assert result == {"status": 200, "body": b"fini"}
        assert proc.wait(timeout=60) == 0
        assert (tmp_path / "scheduler-stopped").read_text() == "after"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_worker_killed_during_a_request_fails_it_at_once_and_is_replaced(
        tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.web.serve_slow_child", str(port),
                             str(tmp_path)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: answers(port), what="the stand-in server answers")
        failure: list[BaseException] = []

        def slow_request() -> None:
            try:
                get(port, "/lent").read()
            except (OSError, http.client.HTTPException) as exc:
                failure.append(exc)

        thread = threading.Thread(target=slow_request)
        thread.start()
        wait_for(lambda: (tmp_path / "started").exists(), 60, "the slow request started")
        worker = int((tmp_path / "started").read_text())
        os.kill(worker, signal.SIGKILL)
        thread.join(30)
        assert not thread.is_alive() and failure  # the connection dropped: no hang
        wait_for(lambda: len(children(proc.pid)) == 3, 60, "the worker replaced")
        assert worker not in children(proc.pid)
        assert get(port, "/").read() == b"ok"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def failed_sign_in(port: int, headers: dict[str, str],
                   site: str = "") -> http.client.HTTPResponse:
    page = get(port, "/connexion")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.read().decode())
    assert token is not None
    cookie = (page.getheader("Set-Cookie") or "").split(";")[0]
    body = f"csrf_token={token.group(1)}&email=x%40demo.test&password=faux"
    # over HTTPS the CSRF check wants a Referer of the same site as the request's host
    referer = f"https://{site or f'127.0.0.1:{port}'}/connexion"
    return get(port, "/connexion", {**headers, "Cookie": cookie, "Referer": referer,
                                    "Content-Type": "application/x-www-form-urlencoded"},
               "POST", body)


def throttled_addresses(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {key for (key,) in conn.execute("SELECT key FROM sign_in_throttle")
                if key.startswith("adresse:")}


FORWARDED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(start) -> None:  # type: ignore[no-untyped-def]
    server = start("--workers", "1", "--no-scheduler")
    answer = failed_sign_in(server.port, FORWARDED)
    assert answer.status == 200 and answer.getheader("Strict-Transport-Security") is None
    assert throttled_addresses(server.db) == {"adresse:127.0.0.1"}
    assert server.stop() == 0


def test_forwarded_headers_count_behind_a_trusted_proxy(start) -> None:  # type: ignore[no-untyped-def]
    server = start("--workers", "1", "--no-scheduler", AIGUILLAGE_TRUSTED_PROXIES="1",
                   AIGUILLAGE_SESSION_COOKIE_SECURE="0")
    answer = failed_sign_in(server.port, FORWARDED)
    assert answer.status == 200
    assert answer.getheader("Strict-Transport-Security") is not None  # HTTPS, as forwarded
    assert throttled_addresses(server.db) == {"adresse:203.0.113.9"}
    # the host as the proxy forwards it: the CSRF check compares the Referer with it
    site = {"X-Forwarded-Host": "aiguillage.example.fr"}
    assert failed_sign_in(server.port, FORWARDED | site, "aiguillage.example.fr").status == 200
    assert failed_sign_in(server.port, FORWARDED, "aiguillage.example.fr").status == 400
    assert server.stop() == 0


def test_with_gthread_a_slow_request_does_not_hold_a_fast_one(start) -> None:  # type: ignore[no-untyped-def]
    """One worker of 4 threads: a request stuck on a write (here: the sign-in page saving
    its new session while the test holds SQLite's write lock, as a long export or a busy
    database would hold it) does not keep /healthz waiting behind it, and finishes once
    the lock is let go. With one sync worker, /healthz would wait for it (the timeout)."""
    server = start("--workers", "1", "--worker-class", "gthread", "--threads", "4",
                   "--no-scheduler")
    assert "1 worker(s) de 4 fils" in server.log.read_text()
    lock = sqlite3.connect(server.db, isolation_level=None, timeout=30)
    lock.execute("BEGIN IMMEDIATE")  # the write lock: the slow request waits for it
    result: dict[str, object] = {}

    def slow_request() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.request("GET", "/connexion")
        response = conn.getresponse()
        response.read()
        conn.close()
        result["status"] = response.status
        result["cookie"] = response.getheader("Set-Cookie") or ""

    thread = threading.Thread(target=slow_request)
    try:
        thread.start()
        time.sleep(2)  # let it reach the worker and wait for the lock
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        conn.request("GET", "/healthz")
        fast = conn.getresponse()
        fast.read()
        conn.close()
        assert fast.status == 200
        assert thread.is_alive() and not result  # the slow one still waits, beside it
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    thread.join(60)
    assert result["status"] == 200 and str(result["cookie"]).startswith("aiguillage=")
    assert server.stop() == 0


def test_threads_go_with_gthread_only() -> None:
    assert serve.check_threads("sync", None) == 1
    assert serve.check_threads("gthread", None) == serve.DEFAULT_THREADS
    assert serve.check_threads("gthread", 8) == 8
    with pytest.raises(serve.ServeError, match="--threads va avec --worker-class gthread"):
        serve.check_threads("sync", 4)
    with pytest.raises(serve.ServeError, match="sync ou gthread"):
        serve.check_threads("gevent", None)
    settings = serve.gunicorn_settings(serve.Options(worker_class="gthread", threads=6))
    assert settings["worker_class"] == "gthread" and settings["threads"] == 6
    default = serve.gunicorn_settings(serve.Options())
    assert default["worker_class"] == "sync" and default["threads"] == 1
    before = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    result = CliRunner().invoke(cli, ["serve", "--threads", "4"])
    assert result.exit_code == 1 and "--threads va avec --worker-class gthread" in result.output
    # refused before the metrics' folder: this process is not left in multiprocess mode on a
    # folder the refusal deleted (later metrics would fail to write their files)
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") == before


# the settings, without starting a server ----------------------------------------------------

def test_default_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIGUILLAGE_WORKERS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert serve.default_workers("sqlite:///x.sqlite") == 1
    assert serve.default_workers("postgresql://h/db") == 5
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert serve.default_workers("postgresql://h/db") == serve.MAX_DEFAULT_WORKERS
    monkeypatch.setenv("AIGUILLAGE_WORKERS", "3")
    assert serve.default_workers("sqlite:///x.sqlite") == 3


@pytest.mark.parametrize("raw, message", [
    ("deux", "AIGUILLAGE_WORKERS : un nombre entier est attendu (reçu « deux »)"),
    ("0", "AIGUILLAGE_WORKERS : entre 1 et 64 (reçu 0)")])
def test_a_bad_worker_count_is_refused_clearly(monkeypatch: pytest.MonkeyPatch, raw: str,
                                               message: str) -> None:
    monkeypatch.setenv("AIGUILLAGE_WORKERS", raw)
    with pytest.raises(serve.ServeError, match=re.escape(message)):
        serve.default_workers("sqlite:///x.sqlite")


def test_the_command_says_what_is_wrong(monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    monkeypatch.setenv("AIGUILLAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite'}")
    monkeypatch.setenv("AIGUILLAGE_SECRET_KEY", "test")
    monkeypatch.setenv("AIGUILLAGE_GRACEFUL_TIMEOUT", "bientôt")
    result = CliRunner().invoke(cli, ["serve", "--port", str(free_port())])
    assert result.exit_code == 1
    assert "AIGUILLAGE_GRACEFUL_TIMEOUT : un nombre entier est attendu" in result.output
    result = CliRunner().invoke(cli, ["serve", "--workers", "0"])
    assert result.exit_code == 2 and "--workers" in result.output
    monkeypatch.delenv("AIGUILLAGE_GRACEFUL_TIMEOUT")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert f"le port {port} est déjà pris sur 127.0.0.1" in result.output
    result = CliRunner().invoke(cli, ["serve", "--host", "pas une adresse"])
    assert result.exit_code == 1 and "adresse d'écoute inconnue" in result.output


@pytest.mark.parametrize("host, secure_off", [("127.0.0.1", True), ("::1", True),
                                              ("localhost", True), ("0.0.0.0", False),
                                              ("192.0.2.4", False)])
def test_the_loopback_cookie_rule_applies_to_serve(monkeypatch: pytest.MonkeyPatch,
                                                   host: str, secure_off: bool) -> None:
    monkeypatch.delenv("AIGUILLAGE_SESSION_COOKIE_SECURE", raising=False)
    settings = serve.app_settings(host)
    assert settings["EMBEDDED_SCHEDULER"] is False
    assert ("SESSION_COOKIE_SECURE" in settings) is secure_off
    monkeypatch.setenv("AIGUILLAGE_SESSION_COOKIE_SECURE", "1")
    assert "SESSION_COOKIE_SECURE" not in serve.app_settings(host)


def test_gunicorn_settings_keep_personal_data_out_and_trust_no_forwarded_header() -> None:
    settings = serve.gunicorn_settings(serve.Options(host="::1", port=8000, workers=3))
    assert settings["bind"] == ["[::1]:8000"] and settings["workers"] == 3
    assert settings["accesslog"] is None  # off unless asked
    assert "%(r)s" not in settings["access_log_format"]  # request line: the query string
    assert "%(q)s" not in settings["access_log_format"]
    assert "%(h)s" not in settings["access_log_format"]  # the client's address
    assert settings["forwarded_allow_ips"] == "" and settings["preload_app"] is True
    assert serve.gunicorn_settings(serve.Options(access_log=True))["accesslog"] == "-"
