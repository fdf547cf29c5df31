"""The WSGI entry point for a production server: ``gunicorn webapp.wsgi:app``.

Settings come from the environment (docs/configuration.md). The timers are not fired here:
run ``aiguillage scheduler`` as its own process (any number of them on PostgreSQL).
"""

from __future__ import annotations

from webapp import create_app

app = create_app()
