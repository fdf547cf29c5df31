"""The ``aiguillage`` command: circuit tools that need no database."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from engine.core import timers
from engine.core.bundles import TerritoryError, forms_root_for, load_territory
from engine.core.loader import file_bundle, load_path
from engine.core.problems import Problem
from engine.core.simulate import ScenarioError, load_scenario, run
from engine.core.spiff.compiler import check, compile_circuit
from engine.core.spiff.runner import Instance
from engine.errors import EngineError, ProcessDefinitionError

PARIS = ZoneInfo("Europe/Paris")


@click.group()
def cli() -> None:
    """Aiguillage : circuits « Logement d'abord » en BPMN."""


@cli.group()
def circuits() -> None:
    """Vérifier et simuler des circuits (sans base de données)."""


@circuits.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.option("--forms", "forms_root", type=click.Path(path_type=Path, file_okay=False),
              help="Dossier des formulaires (par défaut : forms/ le plus proche).")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
def check_command(paths: tuple[Path, ...], lang: str, forms_root: Path | None,
                  as_json: bool) -> None:
    """Vérifier des circuits : dossiers de territoire ou fichiers .bpmn."""
    found: list[Problem] = []
    checked: list[str] = []
    for path in paths:
        loaded = load_path(path, forms_root)
        found += loaded.problems
        for label, bundle in loaded.bundles:
            checked.append(label)
            found += check(bundle)
    unique = list({p.format(): p for p in found}.values())
    errors = sum(p.is_error for p in unique)
    if as_json:
        click.echo(json.dumps({"checked": checked, "problems": [p.as_dict(lang) for p in unique]},
                              ensure_ascii=False, indent=2))
    else:
        for problem in unique:
            click.echo(problem.format(lang))
        warnings = len(unique) - errors
        label = "circuit(s) vérifié(s)" if lang == "fr" else "circuit(s) checked"
        summary = (f"{len(checked)} {label} : {errors} erreur(s), {warnings} avertissement(s)"
                   if lang == "fr" else
                   f"{len(checked)} {label}: {errors} error(s), {warnings} warning(s)")
        click.echo(summary)
    sys.exit(1 if errors or not checked else 0)


@circuits.command("simulate")
@click.argument("bpmn", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--answers", required=True, type=click.Path(exists=True, dir_okay=False,
                                                          path_type=Path),
              help="Scénario JSON : réponses par étape et sauts dans le temps.")
@click.option("--start", "start", help="Instant de départ ISO-8601 avec fuseau.")
@click.option("--forms", "forms_root", type=click.Path(path_type=Path, file_okay=False))
def simulate_command(bpmn: Path, answers: Path, start: str | None,
                     forms_root: Path | None) -> None:
    """Dérouler un circuit avec des réponses scriptées et un temps simulé."""
    bundle = file_bundle(bpmn, forms_root or forms_root_for(bpmn))
    try:
        circuit = compile_circuit(bundle)
    except ProcessDefinitionError as exc:
        for problem in exc.problems:
            click.echo(problem.format(), err=True)
        sys.exit(1)
    try:
        scenario = load_scenario(answers.read_bytes())
        begin = timers.parse_instant(start) if start else None
        walk = run(circuit, scenario, begin)
    except timers.TimerValueError:
        raise click.BadParameter("instant ISO-8601 avec fuseau attendu",
                                 param_hint="--start") from None
    except (ScenarioError, EngineError) as exc:
        click.echo(f"Arrêt : {exc}", err=True)
        sys.exit(1)
    for event in walk.events:
        click.echo(_line(event.at, event.kind, event.text, event.task))
    if walk.end is None and walk.case is not None:
        _waiting(walk.case)
    expected = scenario.get("expect", {}).get("end")
    if walk.end is None:
        ready = ", ".join(t.bpmn_id for t in walk.ready) or "aucune"
        click.echo(f"Circuit en cours ; étapes prêtes : {ready}")
    if expected and (walk.end is None or walk.end.bpmn_id != expected):
        click.echo(f"Fin attendue {expected}, obtenue {walk.end.bpmn_id if walk.end else 'aucune'}",
                   err=True)
        sys.exit(1)


def _waiting(case: Instance) -> None:
    """The timers a walk that stops midway still waits on, with what they count from."""
    for timer in case.waiting_timers():
        dated = f" ({timer.dated})" if timer.dated else ""
        click.echo(f"En attente : {timer.bpmn_id} « {timer.name} » — dû le "
                   f"{timer.due_at.astimezone(PARIS):%d/%m/%Y %H:%M}{dated}")
    for undated in case.undated_timers():
        click.echo(f"En attente : {undated.bpmn_id} « {undated.name} » — {undated.dated}")
    for message in case.waiting_messages():
        click.echo(f"En attente : message {message.name} ({message.bpmn_id} « {message.label} ») "
                   f"depuis le {message.since.astimezone(PARIS):%d/%m/%Y %H:%M}")


_KINDS = {"start": "Début", "ready": "Prête", "complete": "Faite", "timer": "Minuterie",
          "notice": "Relance", "end": "Fin", "message": "Message"}


def _line(at: datetime, kind: str, text: str, task: object) -> str:
    stamp = at.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")
    extra = ""
    if kind == "ready" and task is not None:
        lane = getattr(task, "lane", None) or "sans couloir"
        due = getattr(task, "due_at", None)
        dated = getattr(task, "dated", None)
        extra = f" — {lane}" + (f" — échéance {due.astimezone(PARIS):%d/%m/%Y %H:%M}"
                                 if due else " — sans échéance")
        extra += f" ({dated})" if dated else ""
    return f"{stamp}  {_KINDS.get(kind, kind):<9} {text}{extra}"


# --------------------------------------------------------------------------- database commands

def _sessions() -> Any:
    # the database stack loads only for database commands: `circuits check` stays quick
    from engine.persistence.db import default_url, make_engine, session_factory
    return session_factory(make_engine(default_url()))


@cli.group()
def db() -> None:
    """Base de données (AIGUILLAGE_DATABASE_URL, par défaut instance/aiguillage.sqlite)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Créer ou mettre à jour le schéma (migrations Alembic)."""
    # the database stack loads only for database commands: `circuits check` stays quick
    from engine.persistence.db import default_url, make_engine
    from engine.persistence.migrate import current_revision, upgrade
    engine = make_engine(default_url())
    where = engine.url.render_as_string(hide_password=True)
    before = current_revision(engine)
    upgrade(engine)
    after = current_revision(engine)
    if before is None:
        click.echo(f"Base créée au schéma {after} : {where}")
    elif before != after:
        click.echo(f"Schéma mis à jour de {before} à {after} : {where}")
    else:
        click.echo(f"Schéma déjà à jour ({after}) : {where}")


@circuits.command("deploy")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--territory", "territory_code", help="Code attendu du territoire (vérification).")
@click.option("--note", default="", help="Note de version.")
@click.option("--forms", "forms_root", type=click.Path(path_type=Path, file_okay=False))
def deploy_command(path: Path, territory_code: str | None, note: str,
                   forms_root: Path | None) -> None:
    """Déployer les circuits d'un dossier de territoire comme nouvelles versions."""
    # the database stack loads only for database commands: `circuits check` stays quick
    from engine.clock import SystemClock
    from engine.services import circuits as circuit_service
    from engine.services.access import SYSTEM
    try:
        settings = load_territory(path)
    except TerritoryError as exc:
        click.echo(circuit_service.territory_problem(path, exc).format(), err=True)
        sys.exit(1)
    if territory_code and territory_code != settings.code:
        raise click.BadParameter(f"le dossier décrit le territoire {settings.code}",
                                 param_hint="--territory")
    with _sessions()() as session:
        try:
            versions = circuit_service.deploy_folder(session, SystemClock(), SYSTEM, path,
                                                     forms_root or forms_root_for(path), note)
        except ProcessDefinitionError as exc:
            for problem in exc.problems:
                click.echo(problem.format(), err=True)
            sys.exit(1)
    for version in versions:
        click.echo(f"{settings.code}: {version.process_id} version {version.number}")


@cli.command("scheduler")
@click.option("--once", is_flag=True, help="Traiter les minuteries dues puis s'arrêter.")
@click.option("--metrics-port", type=click.IntRange(1, 65535),
              help="Publier les métriques Prometheus de ce processus sur ce port.")
@click.option("--metrics-address", default="127.0.0.1", show_default=True,
              help="Adresse d'écoute des métriques (0.0.0.0 : toutes).")
def scheduler_command(once: bool, metrics_port: int | None, metrics_address: str) -> None:
    """Processus des minuteries (relances, escalades). SIGTERM ou Ctrl-C : la minuterie en
    cours se termine, celles réservées et pas encore déclenchées sont rendues aux autres
    planificateurs, puis le processus s'arrête (code 0)."""
    # the database stack loads only for database commands: `circuits check` stays quick
    from engine import scheduler
    from engine.bootstrap import build
    from engine.clock import SystemClock
    from engine.logs import FORMATS, configure_logging
    log_format = os.environ.get("AIGUILLAGE_LOG_FORMAT", "text")
    if log_format not in FORMATS:
        raise click.UsageError("AIGUILLAGE_LOG_FORMAT : text ou json est attendu")
    configure_logging(log_format)
    sessions = build().sessions  # its pool's connections in use are counted
    if once:
        from engine.mail import sender_from_environment  # SMTP settings read only here
        stop = threading.Event()  # SIGTERM (a cron's timeout): release the claims, stop
        scheduler.stop_on_signals(stop)
        tick = scheduler.run_once(sessions, SystemClock(), scheduler.worker_name(),
                                  sender=sender_from_environment(), stop=stop)
        click.echo(f"{tick.fired} minuterie(s) déclenchée(s), {tick.failed} en échec, "
                   f"{tick.notices} avis envoyé(s)")
        return
    if metrics_port is not None:
        _serve_metrics(metrics_port, metrics_address)
    scheduler.main(sessions)
    click.echo("Planificateur arrêté.")


def _serve_metrics(port: int, address: str) -> None:
    """This scheduler's own metrics (it shares no folder with the web workers)."""
    # prometheus_client's HTTP server is only needed by a scheduler asked to publish
    from prometheus_client import start_http_server
    try:
        start_http_server(port, addr=address)
    except OSError as exc:
        raise click.UsageError(f"métriques : impossible d'écouter sur {address}:{port} "
                               f"({exc.strerror or exc})") from None
    logging.getLogger("aiguillage.scheduler").info("metrics on http://%s:%d/metrics",
                                                   address, port)


@cli.group()
def timers_group() -> None:
    """Minuteries."""


cli.add_command(timers_group, name="timers")


@timers_group.command("status")
def timers_status() -> None:
    """Minuteries en attente, dues, en retard, en échec."""
    # the database stack loads only for database commands: `circuits check` stays quick
    from engine.clock import SystemClock
    from engine.services import timers as timer_service
    with _sessions()() as session:
        s = timer_service.status(session, SystemClock())
    oldest = s.oldest_due.astimezone(PARIS).strftime("%d/%m/%Y %H:%M") if s.oldest_due else "—"
    click.echo(f"en attente : {s.waiting}\ndues : {s.due}\nen retard : {s.late}\n"
               f"en cours : {s.claimed}\nen échec (incidents) : {s.failed}\n"
               f"plus ancienne échéance : {oldest}")


@cli.group()
def retention_group() -> None:
    """Conservation des dossiers clos et anonymisation (règles des fichiers du territoire)."""


cli.add_command(retention_group, name="retention")


def _day(instant: datetime) -> str:
    return instant.astimezone(PARIS).strftime("%d/%m/%Y")


@retention_group.command("run")
@click.option("--dry-run", is_flag=True, help="Dire ce qui serait fait, sans rien changer.")
def retention_run(dry_run: bool) -> None:
    """Anonymiser les dossiers clos dont la durée de conservation est échue."""
    # the database stack loads only for database commands: `circuits check` stays quick
    from engine.clock import SystemClock
    from engine.services import retention as retention_service
    clock, sessions = SystemClock(), _sessions()
    with sessions() as session:
        planned = retention_service.plan(session, clock)
    due = [p for p in planned if p.held is None]
    for p in planned:
        until = f" (au plus tard jusqu'au {_day(p.held_until)})" if p.held_until else ""
        what = f"gardé : {p.held}{until}" if p.held else (
            "serait anonymisé" if dry_run else "à anonymiser")
        click.echo(f"{p.reference} ({p.circuit}, clos le {_day(p.closed_at)}, conservation "
                   f"échue le {_day(p.due_at)}) — {what}")
    if dry_run:
        click.echo(f"{len(due)} dossier(s) seraient anonymisés, "
                   f"{len(planned) - len(due)} gardé(s) (motif légal)")
        return
    done = 0
    for p in due:
        with sessions() as session:
            if retention_service.anonymise(session, clock, p.case_id):
                done += 1
                click.echo(f"{p.reference} — anonymisé")
    click.echo(f"{done} dossier(s) anonymisé(s), {len(planned) - len(due)} gardé(s) "
               "(motif légal)")


@retention_group.command("hold")
@click.argument("reference")
@click.option("--motif", help="Ce qui oblige à garder le dossier (procédure, recours…).")
@click.option("--lever", is_flag=True, help="Lever le maintien du dossier.")
def retention_hold(reference: str, motif: str | None, lever: bool) -> None:
    """Garder un dossier au-delà de sa durée de conservation (motif légal), ou lever ce
    maintien."""
    # the database stack loads only for database commands: `circuits check` stays quick
    from engine.clock import SystemClock
    from engine.services import retention as retention_service
    from engine.services.access import SYSTEM
    if lever == bool(motif):
        raise click.UsageError("Indiquez soit --motif, soit --lever.")
    try:
        with _sessions()() as session:
            retention_service.hold(session, SystemClock(), SYSTEM, reference,
                                   None if lever else motif)
    except EngineError as exc:
        click.echo(f"{reference} : {exc}", err=True)
        sys.exit(1)
    click.echo(f"{reference} : maintien levé" if lever else f"{reference} : dossier gardé")


if __name__ == "__main__":  # ``python -m engine.cli scheduler``: the child ``serve`` starts
    cli(prog_name="aiguillage")
