"""``webapp.serve.Server`` around a slow WSGI app, for the graceful-stop test (not a test
module; the product has no slow route and gets none).

    python -m tests.web.serve_slow_child PORT FOLDER

``/lent`` writes FOLDER/started (the worker's pid), waits 2 s, writes FOLDER/done and answers « fini »; any
other path answers « ok ». The scheduler beside the workers is a stand-in that, on SIGTERM,
writes FOLDER/scheduler-stopped holding « after » when FOLDER/done already exists (the
request in flight had finished), else « before », then exits 0.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from webapp import serve

STAND_IN = """
import pathlib, signal, sys, time
folder = pathlib.Path(sys.argv[1])
def stop(*_):
    (folder / "scheduler-stopped").write_text(
        "after" if (folder / "done").exists() else "before")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    time.sleep(0.2)
"""


def slow_app(folder: Path) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = b"ok"
        if environ["PATH_INFO"] == "/lent":
            (folder / "started").write_text(str(os.getpid()))
            time.sleep(2)
            (folder / "done").write_text("1")
            body = b"fini"
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return app


def main(argv: list[str]) -> int:
    port, folder = int(argv[0]), Path(argv[1])
    options = serve.Options(port=port, workers=2, scheduler=True, graceful_timeout=20)
    serve.Server(lambda: slow_app(folder), options,
                 scheduler_command=(sys.executable, "-c", STAND_IN, str(folder))).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
