"""``aiguillage serve`` as a process: start-up, memory per process, graceful stop.

Run: ``.venv/bin/python bench/serve.py [--workers 2] [--url sqlite:///…|postgresql://…]``.
On a fresh migrated SQLite database in a temporary folder (or the database at ``--url``, which
must be migrated), it starts ``aiguillage serve --workers N --scheduler`` on a free loopback
port and prints: seconds until ``/healthz`` answers 200; each process's resident (RSS) and
proportional (PSS: shared pages split between the processes that share them) memory, from
/proc (Linux); then seconds from SIGTERM to exit, idle and with one request in flight (a
sign-in page requested just before the signal). Figures to read, never asserted.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.persistence.db import make_engine  # noqa: E402
from engine.persistence.migrate import upgrade  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    return response.status


def memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name] = int(rest.split()[0]) // 1024
    return values["Rss"], values["Pss"]


def children(pid: int) -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found[int(entry.name)] = "scheduler" if "engine.cli scheduler" in cmd else "worker"
    return found


def start(url: str, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], int, float]:
    port = free_port()
    env = {**os.environ, "AIGUILLAGE_DATABASE_URL": url, "AIGUILLAGE_SECRET_KEY": "bench"}
    command = [sys.executable, "-m", "webapp.cli", "serve", "--port", str(port), "--workers",
               str(workers), "--scheduler"]
    print(f"  command: aiguillage {' '.join(command[3:])}", flush=True)
    began = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    while True:
        try:
            if status(port, "/healthz") == 200:
                return proc, port, time.monotonic() - began
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"serve stopped:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> float:
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--url")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    url = args.url or f"sqlite:///{folder / 'serve.sqlite'}"
    if not args.url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
    print(f"aiguillage serve, {args.workers} worker(s), {url.split(':')[0]}, "
          f"{os.cpu_count()} core(s)")
    proc, port, ready = start(url, args.workers, folder / "serve.log")
    print(f"  first /healthz 200 after {ready:.2f} s")
    time.sleep(5)  # the scheduler has imported and ticked
    status(port, "/connexion")
    for pid, role in sorted(children(proc.pid).items(), key=lambda c: c[1]):
        rss, pss = memory(pid)
        print(f"  {role:<9} pid {pid}: RSS {rss} MiB, PSS {pss} MiB")
    rss, pss = memory(proc.pid)
    print(f"  master    pid {proc.pid}: RSS {rss} MiB, PSS {pss} MiB")
    print(f"  SIGTERM, idle: exit {stop(proc):.2f} s later")

    proc, port, _ = start(url, args.workers, folder / "serve2.log")
    thread = threading.Thread(target=status, args=(port, "/connexion"))
    thread.start()
    print(f"  SIGTERM, one request in flight: exit {stop(proc):.2f} s later, "
          f"code {proc.returncode}")
    thread.join()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
