"""The full ``aiguillage`` command: the engine's commands plus the web app's (run, demo)."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import sys
from pathlib import Path

import click

from engine.bootstrap import build
from engine.cli import cli
from engine.services import demo as demo_service
from webapp import create_app

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
    address only (plain http://127.0.0.1, no one else can listen), a cookie without Secure
    unless AIGUILLAGE_SESSION_COOKIE_SECURE says otherwise. Listening on any other address
    keeps the Secure flag as configured (on by default)."""
    settings: dict[str, object] = {"EMBEDDED_SCHEDULER": True}
    if _loopback(host) and "AIGUILLAGE_SESSION_COOKIE_SECURE" not in os.environ:
        settings["SESSION_COOKIE_SECURE"] = False
    return settings


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


def _loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


@cli.command("run")
@click.option("--port", type=int, default=lambda: int(os.environ.get("AIGUILLAGE_PORT", "5000")))
@click.option("--host", default="127.0.0.1")
def run_command(port: int, host: str) -> None:
    """Démarrer l'application (avec le planificateur intégré) sur http://127.0.0.1:5000."""
    show_notices_in_terminal()
    app = create_app(run_settings(host))
    click.echo(f"Aiguillage : http://{host}:{port}")
    app.run(host=host, port=port, debug=False, use_reloader=False)
