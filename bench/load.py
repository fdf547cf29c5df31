"""The app as a server under concurrent users (issue #17, item 4): a world of N cases (default
100,000, a tenth of them with an overdue step), the real server (``aiguillage serve``:
gunicorn) with W workers on loopback, and locust, headless, with U users mixing the three
roles (bench/locustfile.py: my tasks, a task page, completing a step, a case page, a cases
search, the overdue dashboard, its CSV export), each signed in once. Bounded in time: the
world's build, the sign-ins (at most two minutes), then ``--duration`` seconds measured.

Run: ``.venv/bin/python bench/load.py [--cases 100000] [--users 32] [--duration 60]
[--workers 1] [--sqlite | --pg-database NAME] [--keep FILE]``. It prints its command, then
p50/p95/p99 per request name (ms), throughput (requests/s), failures, the count of 5xx, and
the resident memory of each web worker after start and at the end (from /proc).
``--keep FILE`` builds a SQLite world once in FILE and reuses it on the next runs (with
``--pg-database``, FILE keeps the accounts and the database is reused while FILE exists;
completed steps stay completed: a few hundred a run, against 100,000 cases).
``--think MIN,MAX`` sets each user's pause between actions (default 1 to 3 s; ``0,0`` for
throughput at saturation). Figures are read, never asserted;
targets (issue #17): p95 ≤ 100 ms for every page, ≤ 50 ms for completing a step.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import world  # noqa: E402

BIN = Path(sys.executable).parent
SHOWN = ("my tasks", "task page", "complete a step (form)", "complete a step", "case page",
         "cases search", "overdue dashboard", "CSV export", "sign in", "Aggregated")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(url: str, workers: int, port: int, log: Path,
                 scheduler: bool) -> subprocess.Popen[bytes]:
    """``aiguillage serve`` (gunicorn, sync workers) on loopback, settings from the
    environment; its scheduler only when asked (it would fire the world's overdue timers
    during the run)."""
    env = {**os.environ, "AIGUILLAGE_DATABASE_URL": url, "AIGUILLAGE_SECRET_KEY": "b" * 48,
           "AIGUILLAGE_SESSION_COOKIE_SECURE": "false",
           "AIGUILLAGE_STATEMENT_COUNT_HEADER": "true"}
    command = [str(BIN / "aiguillage"), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--timeout", "120",
               "--scheduler" if scheduler else "--no-scheduler"]
    print(f"  server: {shlex.join(command)}", flush=True)
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def wait_healthy(port: int, server: subprocess.Popen[bytes], limit: float = 120) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if server.poll() is not None:
            raise SystemExit("the server stopped before answering /healthz (see its log)")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("no answer from /healthz in time")


def workers(master: int) -> list[Path]:
    """The /proc folders of the server's web workers (its children but the scheduler)."""
    out = []
    for folder in Path("/proc").glob("[0-9]*"):
        try:
            if folder.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1] == str(master) \
                    and b"engine.cli\x00scheduler" not in folder.joinpath("cmdline").read_bytes():
                out.append(folder)
        except (OSError, IndexError):
            continue
    return out


def workers_rss(master: int) -> list[float]:
    """Resident memory (MB) of each worker, from /proc."""
    out = []
    for folder in workers(master):
        for line in folder.joinpath("status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out.append(int(line.split()[1]) / 1024)
    return sorted(out)


def cpu_of(folders: list[Path]) -> float:
    """CPU seconds (user + system) these processes have used so far."""
    ticks = 0
    for folder in folders:
        try:
            fields = folder.joinpath("stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def backends(database: str | None) -> list[Path]:
    """The /proc folders of the PostgreSQL backends serving ``database`` on this machine."""
    if not database:
        return []
    out = []
    for folder in Path("/proc").glob("[0-9]*"):
        try:
            words = folder.joinpath("cmdline").read_bytes().split(b" ")
        except OSError:
            continue
        if words[0] == b"postgres:" and database.encode() in words:
            out.append(folder)
    return out


def workers_cpu(master: int, database: str | None) -> tuple[float, float]:
    """CPU seconds the workers, and the database's backends, have used so far."""
    return cpu_of(workers(master)), cpu_of(backends(database))


def run_locust(host: str, users: int, duration: int, think: str, folder: Path,  # noqa: PLR0913
               accounts: list[tuple[str, str]], master: int,
               database: str | None) -> dict[str, Any]:
    """Run locust to its end; what it counted, with the workers' CPU seconds from the moment
    every user had signed in."""
    (folder / "accounts.json").write_text(json.dumps(accounts[:users]))
    env = {**os.environ, "AIGUILLAGE_BENCH_ACCOUNTS": str(folder / "accounts.json"),
           "AIGUILLAGE_BENCH_PASSWORD": world.PASSWORD, "AIGUILLAGE_BENCH_USERS": str(users),
           "AIGUILLAGE_BENCH_THINK": think, "AIGUILLAGE_BENCH_MEASURE": str(duration),
           "AIGUILLAGE_BENCH_STATUS": str(folder / "status.json")}
    command = [str(BIN / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
               "-u", str(users), "-r", str(min(users, 8)), "-t", f"{duration + 120}s",
               "--stop-timeout", "10", "--host", host, "--csv", str(folder / "load"),
               "--only-summary", "--loglevel", "WARNING"]
    print(f"  load: {shlex.join(command)}", flush=True)
    cpu, before = None, resource.getrusage(resource.RUSAGE_CHILDREN)
    with (folder / "locust.log").open("wb") as out:
        locust = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
        while locust.poll() is None:
            if cpu is None and (folder / "status.json.start").exists():
                cpu = workers_cpu(master, database)
            time.sleep(0.2)
        cpu_end = workers_cpu(master, database)
    path = folder / "status.json"
    outcome = json.loads(path.read_text()) if path.exists() else {}
    outcome["cpu_s"] = cpu_end[0] - cpu[0] if cpu is not None else None
    outcome["db_cpu_s"] = cpu_end[1] - cpu[1] if cpu is not None else None
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # locust, the one child reaped
    outcome["locust_cpu_s"] = (after.ru_utime + after.ru_stime - before.ru_utime
                               - before.ru_stime)
    return outcome


def report(folder: Path, outcome: dict[str, Any], duration: int) -> None:
    with (folder / "load_stats.csv").open() as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    statements = outcome.get("statements", {})
    print(f"\n  {'request':<24}{'count':>7}{'fail':>6}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
          f"{'req/s':>8}{'SQL mean/max':>14}")
    for name in SHOWN:
        row = rows.get(name)
        counts = statements.get(name) or [0]
        if row:
            print(f"  {name:<24}{row['Request Count']:>7}{row['Failure Count']:>6}"
                  f"{row['50%']:>8}{row['95%']:>8}{row['99%']:>8}"
                  f"{float(row['Requests/s']):>8.1f}"
                  f"{f'{sum(counts) / len(counts):.1f}/{max(counts)}':>14}")
    status: dict[str, int] = outcome.get("status", {})
    start = status.pop("measured from|s", None)
    signed = sorted(outcome.get("sign_in_ms", [])) or [0.0]
    print(f"  sign in (scrypt, before the figures above): {len(signed)} in all, "
          f"p50 {signed[len(signed) // 2]:.0f} ms, max {signed[-1]:.0f} ms")
    window = f"{duration} s after everyone signed in" if start else \
        f"{duration + 120} s (not everyone signed in: the figures include the sign-ins)"
    cpu, served = outcome.get("cpu_s"), int(rows.get("Aggregated", {}).get("Request Count", 0))
    if cpu is not None and served:
        print(f"  server CPU: {cpu:.1f} s over the window, {1000 * cpu / served:.1f} ms per request"
              " (the workers' own time: readable on a loaded machine); locust itself "
              f"{outcome.get('locust_cpu_s', 0):.1f} s over the whole run, on the same cores")
    if outcome.get("db_cpu_s"):
        print(f"  PostgreSQL CPU (this database's backends): {outcome['db_cpu_s']:.1f} s over "
              f"the window, {1000 * outcome['db_cpu_s'] / max(served, 1):.1f} ms per request")
    server_errors = sum(n for key, n in status.items()
                        if key.rsplit("|", 1)[1].isdigit() and int(key.rsplit("|", 1)[1]) >= 500)
    refused = status.get("complete a step|refused answer", 0)
    done = sum(n for key, n in status.items() if key in ("complete a step|302",
                                                         "complete a step|303"))
    total = rows.get("Aggregated", {})
    print(f"  throughput {float(total.get('Requests/s', 0)):.1f} req/s over {window}, "
          f"failures {total.get('Failure Count', '?')}, 5xx {server_errors}, "
          f"steps completed {done} (answers refused by a form: {refused})")
    codes: dict[str, int] = {}
    for key, n in status.items():
        codes[key.rsplit("|", 1)[1]] = codes.get(key.rsplit("|", 1)[1], 0) + n
    print(f"  status codes: {dict(sorted(codes.items()))}")


def world_for(args: argparse.Namespace, overdue: int,
              folder: Path) -> tuple[str, list[tuple[str, str]]]:
    """The database URL and the accounts: a world built now, or the one ``--keep`` names."""
    if args.pg_database:
        # a bench-only dependency: the test suite's server address and database creation
        from tests.integration.conftest import PG_SERVER, create_pg_database
        kept = Path(args.keep) if args.keep else None
        if kept and kept.exists():
            url = f"{PG_SERVER}/{args.pg_database}"
            accounts = json.loads(kept.read_text())
            print(f"  world: reused database {args.pg_database}")
        else:
            url = create_pg_database(args.pg_database)
            accounts = world.build(url, args.cases, overdue, args.users)
            if kept:
                kept.write_text(json.dumps(accounts))
    elif args.keep and Path(args.keep).exists():
        url = f"sqlite:///{Path(args.keep).resolve()}"
        accounts = json.loads(Path(f"{args.keep}.accounts.json").read_text())
        print(f"  world: reused {args.keep}")
    else:
        path = Path(args.keep).resolve() if args.keep else folder / "load.sqlite"
        url = f"sqlite:///{path}"
        accounts = world.build(url, args.cases, overdue, args.users)
        Path(f"{path}.accounts.json").write_text(json.dumps(accounts))
    return url, accounts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--overdue", type=int, help="overdue steps (default: a tenth)")
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--scheduler", action="store_true",
                        help="run the server's scheduler too (it fires the overdue timers)")
    parser.add_argument("--think", default="1,3",
                        help="seconds each user waits between actions: MIN,MAX (0,0: none)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--sqlite", action="store_true", help="a SQLite file (the default)")
    where.add_argument("--pg-database", help="the PostgreSQL database to re-create")
    parser.add_argument("--keep", help="SQLite: a file to build once and load again; with "
                        "--pg-database: a file keeping its accounts, to load it again")
    args = parser.parse_args()
    overdue = args.overdue if args.overdue is not None else args.cases // 10
    print(f"command: .venv/bin/python bench/load.py {shlex.join(sys.argv[1:])}")
    print(f"  machine: {os.cpu_count()} cores, {platform.machine()}, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f} at start",
          flush=True)
    folder = Path(tempfile.mkdtemp(prefix="aiguillage-load-"))
    url, accounts = world_for(args, overdue, folder)
    port = free_port()
    server = start_server(url, args.workers, port, folder / "server.log", args.scheduler)
    try:
        wait_healthy(port, server)
        started = workers_rss(server.pid)
        outcome = run_locust(f"http://127.0.0.1:{port}", args.users, args.duration,
                             args.think, folder, accounts, server.pid, args.pg_database)
        ended = workers_rss(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    report(folder, outcome, args.duration)
    print(f"  memory per worker (RSS, MB): after start {[round(m) for m in started]}, at the "
          f"end {[round(m) for m in ended]} (sum {sum(ended):.0f})")
    print(f"  load average {os.getloadavg()[0]:.2f} at the end; files in {folder}")


if __name__ == "__main__":
    main()
