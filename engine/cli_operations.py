"""Commands to operate a deployment: ``territory create|list``, ``admin create``,
``user reset-password`` and ``db backup``, registered on the ``aiguillage`` group.

Passwords are typed twice at a hidden prompt, read from one line of standard input
(``--password-stdin``, for scripts), or generated and printed once (``--generate``); they
follow the app's rule (``users.MIN_PASSWORD``). Every refusal is one French line on stderr and
exit status 1; nothing is half-done (each command is one unit of work).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from engine.cli import cli, db
from engine.core.bundles import forms_root_for
from engine.errors import EngineError, ProcessDefinitionError


def _fail(message: str) -> NoReturn:
    click.echo(f"Erreur : {message}", err=True)
    sys.exit(1)


@contextmanager
def _database() -> Iterator[Any]:
    """A session on ``AIGUILLAGE_DATABASE_URL``; a refusal of the engine, or a database that
    cannot be read (not created yet, unreachable), ends the command with one clear line."""
    # the database stack loads only for database commands: `circuits check` stays quick
    from sqlalchemy.exc import DBAPIError

    from engine.bootstrap import build
    try:
        engine = build()
    except ValueError as exc:  # a setting that cannot be used (AIGUILLAGE_SQLITE_SYNCHRONOUS)
        _fail(str(exc))
    try:
        with engine.sessions() as session:
            yield session, engine.clock
    except ProcessDefinitionError as exc:
        for problem in exc.problems:
            click.echo(problem.format(), err=True)
        _fail("rien n'a été enregistré")
    except EngineError as exc:
        _fail(str(exc))
    except DBAPIError as exc:
        first = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
        _fail(f"la base ne répond pas comme attendu ({first}) ; est-elle créée et à jour ? "
              "(aiguillage db upgrade)")
    finally:
        engine.database.dispose()


def _password(from_stdin: bool, generate: bool) -> tuple[str, bool]:
    """The new password and whether it was generated."""
    if from_stdin and generate:
        raise click.UsageError("--password-stdin ou --generate, pas les deux.")
    if generate:
        return secrets.token_urlsafe(15), True
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            _fail("aucun mot de passe reçu sur l'entrée standard")
        return line, False
    # the database stack loads only for database commands: `circuits check` stays quick
    from engine.services.operations import check_password
    from engine.services.users import MIN_PASSWORD
    first = click.prompt(f"Mot de passe ({MIN_PASSWORD} caractères au moins)", hide_input=True,
                         default="", show_default=False)
    try:  # refused before it is typed a second time
        check_password(first)
    except EngineError as exc:
        _fail(str(exc))
    if click.prompt("Confirmez le mot de passe", hide_input=True, default="",
                    show_default=False) != first:
        _fail("les deux saisies diffèrent ; rien n'a été changé")
    return first, False


def _password_options(command: Any) -> Any:
    command = click.option("--generate", is_flag=True,
                           help="Générer le mot de passe et l'afficher une fois.")(command)
    return click.option("--password-stdin", "from_stdin", is_flag=True,
                        help="Lire le mot de passe sur une ligne de l'entrée standard.")(command)


# --------------------------------------------------------------------------- territories

@cli.group()
def territory() -> None:
    """Territoires : créer depuis leur dossier, lister."""


@territory.command("create")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--forms", "forms_root", type=click.Path(path_type=Path),
              help="Dossier des formulaires (par défaut : forms/ le plus proche).")
@click.option("--update", is_flag=True,
              help="Territoire existant : recharger ses réglages, déployer ses circuits "
                   "modifiés.")
@click.option("--prefix", help="Préfixe des références de dossier (par défaut : tiré du code).")
@click.option("--note", default="", help="Note des versions déployées.")
def territory_create(folder: Path, forms_root: Path | None, update: bool, prefix: str | None,
                     note: str) -> None:
    """Créer un territoire depuis son dossier (territory.json, circuits, formulaires) et
    déployer ses circuits ; tout ou rien."""
    # the database stack loads only for database commands: `circuits check` stays quick
    from engine.services import operations
    if folder.is_file():
        _fail(f"{folder} est un fichier : donnez le dossier qui contient territory.json")
    if not folder.is_dir():
        _fail(f"dossier introuvable : {folder}")
    forms = forms_root or forms_root_for(folder)
    if not forms.is_dir():
        _fail(f"dossier des formulaires introuvable : {forms} (--forms)")
    with _database() as (session, clock):
        done = operations.create_territory(session, clock, folder, forms, update=update,
                                           prefix=prefix.upper() if prefix else None,
                                           note=note)
    verb = "créé" if done.created else "mis à jour"
    click.echo(f"Territoire {done.code} « {done.name} » {verb}.")
    for version in done.versions:
        click.echo(f"  circuit {version.process_id} : version {version.number}")
    if done.created:
        click.echo(f"Ensuite : aiguillage admin create --territory {done.code} "
                   "--email … --name « … »")


@territory.command("list")
def territory_list() -> None:
    """Lister les territoires, leurs circuits et leurs administrateurs actifs."""
    # the database stack loads only for database commands: `circuits check` stays quick
    from engine.services import operations
    with _database() as (session, _clock):
        rows = operations.territory_rows(session)
    if not rows:
        click.echo("Aucun territoire (aiguillage territory create <dossier>).")
    for row in rows:
        admins = "aucun administrateur" if not row.administrators else \
            f"{row.administrators} administrateur(s)"
        click.echo(f"{row.code:<16} {row.prefix:<8} {row.circuits} circuit(s), {admins} — "
                   f"{row.name}")


# --------------------------------------------------------------------------- accounts

@cli.group()
def admin() -> None:
    """Administrateurs d'un territoire."""


@admin.command("create")
@click.option("--territory", "territory_code", required=True, help="Code du territoire.")
@click.option("--email", required=True)
@click.option("--name", required=True, help="Nom affiché (« Prénom Nom »).")
@_password_options
def admin_create(territory_code: str, email: str, name: str, from_stdin: bool,
                 generate: bool) -> None:
    """Créer le premier administrateur d'un territoire (audité : ligne de commande)."""
    # the database stack loads only for database commands: `circuits check` stays quick
    from engine.services import operations, users
    try:  # refuse a bad address before asking for a password
        email, name = users.valid_email(email), users.valid_name(name)
    except EngineError as exc:
        _fail(str(exc))
    password, generated = _password(from_stdin, generate)
    with _database() as (session, clock):
        operations.create_admin(session, clock, territory_code, email, name, password,
                                temporary=generated)
    click.echo(f"Administrateur {email} créé pour le territoire {territory_code}.")
    if generated:
        click.echo(f"Mot de passe (affiché une seule fois, à changer à la première "
                   f"connexion) : {password}")


@cli.group()
def user() -> None:
    """Comptes."""


@user.command("reset-password")
@click.argument("email")
@_password_options
def user_reset_password(email: str, from_stdin: bool, generate: bool) -> None:
    """Donner un nouveau mot de passe (à changer à la connexion suivante) et fermer les
    sessions du compte (audité : ligne de commande)."""
    # the database stack loads only for database commands: `circuits check` stays quick
    from engine.services import operations
    password, generated = _password(from_stdin, generate)
    with _database() as (session, clock):
        reset = operations.set_password(session, clock, email, password)
    click.echo(f"Mot de passe de {email.strip().lower()} changé ; "
               f"{reset.sessions_ended} session(s) fermée(s) ; à changer à la prochaine "
               "connexion.")
    if not reset.active:
        click.echo("Ce compte est désactivé : un administrateur le réactive dans l'application "
                   "(Supervision → Utilisateurs et organisations).")
    if generated:
        click.echo(f"Mot de passe (affiché une seule fois) : {password}")


# --------------------------------------------------------------------------- backups

@db.command("backup")
@click.argument("target", type=click.Path(path_type=Path, dir_okay=False))
def db_backup(target: Path) -> None:
    """Copier la base SQLite en marche dans un fichier (API de sauvegarde de SQLite) ;
    PostgreSQL : pg_dump."""
    # the database stack loads only for database commands: `circuits check` stays quick
    from sqlalchemy.engine import make_url

    from engine.persistence.db import default_url
    url = make_url(default_url())
    if not url.drivername.startswith("sqlite"):
        _fail("base PostgreSQL : sauvegardez-la avec pg_dump (docs/deployment.md)")
    source = Path(url.database or "")
    if not url.database or url.database == ":memory:" or not source.is_file():
        _fail(f"base SQLite introuvable : {url.database or '(en mémoire)'}")
    if target.exists():
        _fail(f"{target} existe déjà ; choisissez un autre nom")
    if not target.parent.is_dir():
        _fail(f"dossier introuvable : {target.parent}")
    pages = _backup(source, target)
    click.echo(f"Sauvegarde : {target} ({pages} pages, vérifiée)")


def _backup(source: Path, target: Path) -> int:
    """Copy ``source`` into a temporary file next to ``target`` in one step (one read
    snapshot: in WAL mode writers go on meanwhile, and the copy never restarts because of
    them), check it, then move it into place. Returns the number of pages."""
    partial = target.with_name(target.name + ".partiel")
    partial.unlink(missing_ok=True)
    # the copy holds every household's data: readable by the service user only, from the
    # first byte (SQLite would create it with the umask's mode, usually world-readable)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    src = sqlite3.connect(source, timeout=30)  # read only by the backup
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        check = dst.execute("PRAGMA integrity_check").fetchone()
        pages = dst.execute("PRAGMA page_count").fetchone()[0]
    except sqlite3.Error as exc:
        dst.close()
        partial.unlink(missing_ok=True)
        _fail(f"sauvegarde impossible : {exc}")
    finally:
        src.close()
    dst.close()
    if not check or check[0] != "ok":
        partial.unlink(missing_ok=True)
        _fail(f"la copie ne passe pas la vérification d'intégrité : {check}")
    partial.replace(target)
    return int(pages)
