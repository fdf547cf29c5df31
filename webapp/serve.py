"""``aiguillage serve``: the app under gunicorn, N worker processes, and beside them ONE
``aiguillage scheduler`` process that the server starts, restarts if it dies, and stops last.

- Workers: ``--workers``, else ``AIGUILLAGE_WORKERS``, else 1 on SQLite (one writer at a time:
  more workers only add reads, and wait their turn to write) and 2×cores+1 (at most 8) on
  PostgreSQL. Sync workers: one request at a time each, behind a reverse proxy that buffers
  slow clients (docs/configuration.md). ``--worker-class gthread --threads N``: N requests at
  once per worker, so a slow one (a CSV export) does not hold the fast pages behind it; each
  request has its own database session (``webapp/db.py``, in Flask's ``g``) and connection.
- The app is loaded once in the server process before the workers are forked (shared memory,
  a configuration error shown once); each worker then drops the database connections it
  inherited (``dispose(close=False)``) and opens its own.
- SIGTERM: the server stops accepting, lets the requests in flight finish (up to
  ``--graceful-timeout``), then stops the scheduler (it finishes the timer in hand and
  releases its claims) and exits 0. SIGINT (Ctrl-C) stops at once.
- No access log by default (the app writes one line per request without personal data);
  ``--access-log`` writes gunicorn's, without the query string nor the client's address.
- Forwarded headers are read by the app only (``AIGUILLAGE_TRUSTED_PROXIES``, ProxyFix):
  gunicorn's own trust of X-Forwarded-Proto from 127.0.0.1 is turned off.
"""

from __future__ import annotations

import ctypes
import errno
import gc
import ipaddress
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from webapp import metrics

log = logging.getLogger("aiguillage.serve")

MAX_DEFAULT_WORKERS = 8
TIMEOUT = 60  # seconds a worker may spend on one request before it is replaced
GRACEFUL_TIMEOUT = 30  # seconds the requests in flight get to finish on SIGTERM
RESTART_EVERY = 10.0  # a scheduler that died is restarted, at most this often (seconds)
# gunicorn's access line without %(r)s / %(q)s (the query string: searches hold names) nor
# %(h)s (the client's address)
ACCESS_LOG_FORMAT = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
SCHEDULER_COMMAND = (sys.executable, "-m", "engine.cli", "scheduler")


class ServeError(ValueError):
    """A setting ``serve`` cannot use (the message is for the operator, in French)."""


@dataclass(frozen=True)
class Options:
    """What ``aiguillage serve`` was asked for."""

    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    scheduler: bool = True
    timeout: int = TIMEOUT
    graceful_timeout: int = GRACEFUL_TIMEOUT
    access_log: bool = False
    worker_class: str = "sync"  # or "gthread": ``threads`` requests at once per worker
    threads: int = 1


def env_int(name: str, default: int, low: int = 1, high: int = 3600) -> int:
    """``AIGUILLAGE_<name>`` as a whole number within [low, high], else ``default``."""
    raw = os.environ.get(f"AIGUILLAGE_{name}")
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ServeError(f"AIGUILLAGE_{name} : un nombre entier est attendu "
                         f"(reçu « {raw} »)") from None
    if not low <= value <= high:
        raise ServeError(f"AIGUILLAGE_{name} : entre {low} et {high} (reçu {value})")
    return value


def check_environment() -> None:
    """Refuse a bad ``AIGUILLAGE_WORKERS``, ``_TIMEOUT`` or ``_GRACEFUL_TIMEOUT`` before
    anything starts (``ServeError`` says which and why)."""
    env_int("WORKERS", 1, high=64)
    env_int("TIMEOUT", TIMEOUT)
    env_int("GRACEFUL_TIMEOUT", GRACEFUL_TIMEOUT)


def check_address(host: str, port: int) -> None:
    """Refuse, with a French message, an address this machine cannot listen on or a port
    already taken (gunicorn would retry for 5 s, then fail in English)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise ServeError(f"adresse d'écoute inconnue : « {host} »") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServeError(f"le port {port} est déjà pris sur {host} : arrêtez l'autre "
                                 "serveur ou choisissez un autre port (--port ou "
                                 "AIGUILLAGE_PORT)") from None
            raise ServeError(f"impossible d'écouter sur {host}:{port} ({exc.strerror})"
                             ) from None


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def default_workers(database_url: str) -> int:
    """``AIGUILLAGE_WORKERS``, else 1 on SQLite, else 2×cores+1 capped at 8."""
    if is_sqlite(database_url):
        return env_int("WORKERS", 1, high=64)
    return env_int("WORKERS", min(2 * (os.cpu_count() or 1) + 1, MAX_DEFAULT_WORKERS),
                   high=64)


def loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``: no one else can connect."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def cookie_settings(host: str) -> dict[str, object]:
    """On a loopback address only (plain http://127.0.0.1, no one else can listen), a
    cookie without Secure unless AIGUILLAGE_SESSION_COOKIE_SECURE says otherwise. Any other
    address keeps the Secure flag as configured (on by default)."""
    if loopback(host) and "AIGUILLAGE_SESSION_COOKIE_SECURE" not in os.environ:
        return {"SESSION_COOKIE_SECURE": False}
    return {}


def app_settings(host: str) -> dict[str, object]:
    """The settings ``serve`` imposes: the cookie rule above, and never the embedded
    scheduler (a thread in every worker; the scheduler is its own process here)."""
    return {**cookie_settings(host), "EMBEDDED_SCHEDULER": False}


WORKER_CLASSES = ("sync", "gthread")
DEFAULT_THREADS = 4  # gthread's requests at once per worker, unless --threads says
MAX_THREADS = 32


def check_threads(worker_class: str, threads: int | None) -> int:
    """The threads per worker for ``worker_class``: 1 for sync, ``threads`` (default 4) for
    gthread. More threads than the connections a worker's pool lends (``AIGUILLAGE_DB_POOL_
    SIZE`` + ``AIGUILLAGE_DB_MAX_OVERFLOW``, 15 by default) would only wait for one.

    :raises ServeError: an unknown worker class, threads with sync workers, a count out of
        1..``MAX_THREADS``."""
    if worker_class not in WORKER_CLASSES:
        raise ServeError(f"--worker-class : sync ou gthread, pas « {worker_class} »")
    if worker_class == "sync":
        if threads not in (None, 1):
            raise ServeError("--threads va avec --worker-class gthread (un worker sync "
                             "traite une requête à la fois)")
        return 1
    chosen = DEFAULT_THREADS if threads is None else threads
    if not 1 <= chosen <= MAX_THREADS:
        raise ServeError(f"--threads : de 1 à {MAX_THREADS}, pas {chosen}")
    return chosen


def gunicorn_settings(options: Options) -> dict[str, Any]:
    """gunicorn's configuration for ``options``."""
    settings: dict[str, Any] = {
        "bind": [f"[{options.host}]:{options.port}" if ":" in options.host
                 else f"{options.host}:{options.port}"],
        "workers": options.workers,
        "worker_class": options.worker_class,
        "threads": options.threads,
        "timeout": options.timeout,
        "graceful_timeout": options.graceful_timeout,
        "preload_app": True,
        "accesslog": "-" if options.access_log else None,
        "access_log_format": ACCESS_LOG_FORMAT,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "aiguillage",
        # the app reads X-Forwarded-* itself, from AIGUILLAGE_TRUSTED_PROXIES proxies only
        "forwarded_allow_ips": "",
        "control_socket_disable": True,  # one fixed path per user: two servers would clash
    }
    if os.path.isdir("/dev/shm"):  # the workers' heartbeat files: in memory, never blocked
        settings["worker_tmp_dir"] = "/dev/shm"  # by a slow disk (gunicorn's advice)
    return settings


class Server(BaseApplication):  # type: ignore[misc]
    """gunicorn running ``factory()``'s WSGI app, with the scheduler process beside it."""

    def __init__(self, factory: Callable[[], Any], options: Options,
                 scheduler_env: Mapping[str, str] | None = None,
                 scheduler_command: tuple[str, ...] = SCHEDULER_COMMAND) -> None:
        self.factory = factory
        self.options = options
        self.application: Any = None
        self.scheduler_env = dict(scheduler_env or {})
        self.scheduler_command = scheduler_command
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.scheduler_started = 0.0
        super().__init__()

    def load_config(self) -> None:
        for name, value in gunicorn_settings(self.options).items():
            self.cfg.set(name, value)
        self.cfg.set("post_fork", _post_fork)
        self.cfg.set("when_ready", _when_ready)
        self.cfg.set("on_exit", _on_exit)
        self.cfg.set("child_exit", _child_exit)

    def load(self) -> Any:
        if self.application is None:
            self.application = self.factory()
            built = getattr(self.application, "extensions", {}).get("aiguillage")
            if built is not None:  # a check at start may have connected: the server process
                built.database.dispose()  # itself never queries, its workers connect anew
            # the loaded app is shared by the forked workers: keep the collector of each
            # worker off these objects (it would write to, hence copy, their pages)
            gc.freeze()
        return self.application

    def run(self) -> None:
        try:
            _Arbiter(self).run()
        except RuntimeError as exc:
            print(f"\nErreur : {exc}\n", file=sys.stderr)
            sys.exit(1)

    # the scheduler process -------------------------------------------------------------

    def start_scheduler(self) -> None:
        env = {**os.environ, **self.scheduler_env}
        self.scheduler = subprocess.Popen(  # noqa: S603 (our own command, no shell)
            self.scheduler_command, env=env, preexec_fn=_die_with_parent)
        self.scheduler_started = time.monotonic()
        log.info("scheduler process started (pid %s)", self.scheduler.pid)

    def watch_scheduler(self) -> None:
        """Restart the scheduler if it died (at most every ``RESTART_EVERY`` seconds)."""
        if self.scheduler is None or self.scheduler.poll() is None:
            return
        if time.monotonic() - self.scheduler_started < RESTART_EVERY:
            return
        log.warning("scheduler process %s ended (code %s): restarting it",
                    self.scheduler.pid, self.scheduler.returncode)
        metrics.child_exit(self, self.scheduler)
        self.start_scheduler()

    def stop_scheduler(self) -> None:
        """SIGTERM, then wait up to the graceful timeout (it finishes the timer in hand and
        releases its claims); SIGKILL after that (its leases then expire)."""
        proc, self.scheduler = self.scheduler, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=self.options.graceful_timeout)
        except subprocess.TimeoutExpired:
            log.warning("scheduler process %s did not stop in %s s: killed", proc.pid,
                        self.options.graceful_timeout)
            proc.kill()
            proc.wait()
        except ChildProcessError:  # gunicorn's waitpid(-1) reaped it first
            pass
        metrics.child_exit(self, proc)
        log.info("scheduler process %s stopped", proc.pid)


class _Arbiter(Arbiter):  # type: ignore[misc]
    """gunicorn's master loop, also watching the scheduler process (every second)."""

    def manage_workers(self) -> None:
        super().manage_workers()
        self.app.watch_scheduler()


def _post_fork(server: Any, _worker: Any) -> None:
    """In each new worker: forget the pooled connections inherited from the server process
    (never closing them: they are not this process's) so the worker opens its own."""
    built = getattr(server.app.application, "extensions", {}).get("aiguillage")
    if built is not None:
        built.database.dispose(close=False)


def _when_ready(server: Any) -> None:
    if server.app.options.scheduler:
        server.app.start_scheduler()


def _on_exit(server: Any) -> None:
    """After the workers stopped (their requests finished): stop the scheduler."""
    server.app.stop_scheduler()


def _child_exit(server: Any, worker: Any) -> None:
    """A worker ended: drop its live gauges from the shared metrics (multiprocess mode)."""
    metrics.child_exit(server, worker)


def _die_with_parent() -> None:
    """In the scheduler process, before it runs: Linux sends it SIGTERM if the server
    process dies without stopping it (SIGKILL, a crash), so no scheduler is left behind."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # not Linux's libc: the server stops it on exit
            pass
