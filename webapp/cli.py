"""The full ``aiguillage`` command: the engine's commands plus the web app's (run, demo)."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sys
from pathlib import Path

import click

# imported for its commands: territory, admin, user, db backup register on cli
import engine.cli_operations  # noqa: F401
from engine.bootstrap import build
from engine.cli import cli
from engine.services import demo as demo_service
from webapp import create_app, metrics, serve

ROOT = Path(__file__).resolve().parent.parent


def _demo_password() -> tuple[str, bool]:
    """``AIGUILLAGE_DEMO_PASSWORD`` or a generated one (then printed)."""
    given = os.environ.get("AIGUILLAGE_DEMO_PASSWORD")
    return (given, False) if given else (secrets.token_urlsafe(12), True)


@cli.group()
def demo() -> None:
    """Données de démonstration (fictives)."""


@demo.command("load")
def demo_load() -> None:
    """Créer le territoire de démonstration, ses comptes et des dossiers fictifs."""
    engine = build()
    password, generated = _demo_password()
    with engine.sessions() as session:
        if demo_service.demo_territory(session) is not None:
            click.echo("Territoire de démonstration déjà chargé.")
            return
        demo_service.load(session, engine.clock, ROOT, password)
    accounts = demo_service.DemoAccounts()
    click.echo("Comptes de démonstration :")
    for email, role in accounts.listing():
        click.echo(f"  {email:<22} ({role})")
    click.echo(f"Mot de passe : {password}" + (" (généré ; fixez AIGUILLAGE_DEMO_PASSWORD "
                                                "pour le choisir)" if generated else ""))


@demo.command("generate")
@click.option("--cases", "count", type=click.IntRange(1, 1_000_000), required=True)
def demo_generate(count: int) -> None:
    """Ajouter N dossiers fictifs (copies des dossiers de démonstration)."""
    engine = build()
    with engine.sessions() as session:
        territory_id = demo_service.demo_territory(session)
        if territory_id is None:
            raise click.ClickException("chargez d'abord la démonstration : aiguillage demo load")
        added = demo_service.generate(session, engine.clock, territory_id, count)
    click.echo(f"{added} dossiers ajoutés.")


def run_settings(host: str) -> dict[str, object]:
    """What ``run`` changes in the settings: the embedded scheduler and, on a loopback
    address only, a cookie without Secure (``serve.cookie_settings``, as ``serve``)."""
    return {"EMBEDDED_SCHEDULER": True, **serve.cookie_settings(host)}


def show_notices_in_terminal() -> None:
    """Print the app's own messages (``aiguillage.*``: notices written to the log by the
    embedded scheduler, timer failures) in the terminal that runs ``run``. Without this only
    warnings reach it, and the overdue notices the README promises never show. The root
    logger is left alone: APScheduler would print every two-second tick."""
    log = logging.getLogger("aiguillage")
    if not any(getattr(h, "aiguillage_terminal", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s",
                                               "%H:%M:%S"))
        handler.aiguillage_terminal = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(logging.INFO)


def _port() -> int:
    return serve.env_int("PORT", 5000, high=65535)


@cli.command("run")
@click.option("--port", type=click.IntRange(1, 65535), default=_port)
@click.option("--host", default="127.0.0.1")
def run_command(port: int, host: str) -> None:
    """Serveur de développement (Werkzeug, un seul processus, planificateur intégré) sur
    http://127.0.0.1:5000. En production : aiguillage serve."""
    show_notices_in_terminal()
    app = create_app(run_settings(host))
    click.echo(f"Aiguillage (serveur de développement) : http://{host}:{port}")
    app.run(host=host, port=port, debug=False, use_reloader=False)


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Adresse d'écoute (0.0.0.0 : toutes).")
@click.option("--port", type=click.IntRange(1, 65535), default=_port,
              help="Port (AIGUILLAGE_PORT, par défaut 5000).")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Processus web (AIGUILLAGE_WORKERS ; par défaut 1 sur SQLite, "
                   "2×cœurs+1 au plus 8 sur PostgreSQL).")
@click.option("--scheduler/--no-scheduler", default=True, show_default=True,
              help="Lancer un processus « aiguillage scheduler » à côté des workers.")
@click.option("--timeout", type=click.IntRange(1, 3600), default=None,
              help="Secondes au plus par requête (AIGUILLAGE_TIMEOUT, par défaut 60).")
@click.option("--graceful-timeout", type=click.IntRange(1, 3600), default=None,
              help="À l'arrêt (SIGTERM), secondes laissées aux requêtes en cours "
                   "(AIGUILLAGE_GRACEFUL_TIMEOUT, par défaut 30).")
@click.option("--access-log", is_flag=True,
              help="Journal d'accès de gunicorn (sans paramètres d'URL ni adresse).")
@click.option("--worker-class", type=click.Choice(serve.WORKER_CLASSES), default="sync",
              show_default=True,
              help="sync : une requête à la fois par worker ; gthread : --threads requêtes "
                   "à la fois (un export lent ne bloque pas les pages rapides).")
@click.option("--threads", type=click.IntRange(1, serve.MAX_THREADS), default=None,
              help=f"Avec --worker-class gthread : requêtes à la fois par worker (par "
                   f"défaut {serve.DEFAULT_THREADS}).")
def serve_command(host: str, port: int, workers: int | None, scheduler: bool,
                  timeout: int | None, graceful_timeout: int | None, access_log: bool,
                  worker_class: str, threads: int | None) -> None:
    """Serveur de production (gunicorn) : N workers et un planificateur ; SIGTERM termine
    les requêtes en cours puis arrête le planificateur."""
    try:  # every refusal before the metrics' folder: a refused start leaves no trace
        serve.check_environment()
        serve.check_address(host, port)
        serve.check_threads(worker_class, threads)
    except serve.ServeError as exc:
        raise click.ClickException(str(exc)) from None
    chosen = os.environ.get(metrics.MULTIPROC_ENV)
    folder = metrics.prepare_multiprocess_dir()  # before any metric exists: workers share it
    try:
        _serve(host, port, workers, scheduler, timeout, graceful_timeout, access_log,
               worker_class, threads)
    finally:
        if not chosen:  # the temporary folder made for this run
            shutil.rmtree(folder, ignore_errors=True)


def _serve(host: str, port: int, workers: int | None, scheduler: bool,
           timeout: int | None, graceful_timeout: int | None, access_log: bool,
           worker_class: str = "sync", threads: int | None = None) -> None:
    try:
        threads = serve.check_threads(worker_class, threads)
    except serve.ServeError as exc:
        raise click.ClickException(str(exc)) from None
    app = create_app(serve.app_settings(host))  # here: a configuration error shows once
    url = app.config["DATABASE_URL"]
    try:
        options = _serve_options(url, host, port, workers, scheduler, timeout,
                                 graceful_timeout, access_log, worker_class, threads)
    except serve.ServeError as exc:
        raise click.ClickException(str(exc)) from None
    if serve.is_sqlite(url) and options.workers > 1:
        click.echo(f"Attention : SQLite n'écrit qu'une requête à la fois ; les "
                   f"{options.workers} workers attendront leur tour pour écrire. Plusieurs "
                   "workers en production : PostgreSQL.", err=True)
    click.echo(f"Aiguillage : http://{host}:{port} ({options.workers} worker(s)"
               + (f" de {options.threads} fils" if options.worker_class == "gthread" else "")
               + (", planificateur" if options.scheduler else "") + ")")
    serve.Server(lambda: app, options, {"AIGUILLAGE_DATABASE_URL": url}).run()


def _serve_options(url: str, host: str, port: int, workers: int | None,
                   scheduler: bool, timeout: int | None, graceful_timeout: int | None,
                   access_log: bool, worker_class: str = "sync",
                   threads: int = 1) -> serve.Options:
    """The options of ``serve``, the environment's defaults filled in (checked)."""
    return serve.Options(
        host=host, port=port, workers=workers or serve.default_workers(url),
        scheduler=scheduler, timeout=timeout or serve.env_int("TIMEOUT", serve.TIMEOUT),
        graceful_timeout=graceful_timeout or serve.env_int("GRACEFUL_TIMEOUT",
                                                           serve.GRACEFUL_TIMEOUT),
        access_log=access_log, worker_class=worker_class, threads=threads)


if __name__ == "__main__":  # ``python -m webapp.cli serve …`` (the tests start it so)
    cli(prog_name="aiguillage")
