"""Operating from the command line (issue #17, item 2): ``territory create|list``,
``admin create``, ``user reset-password`` and ``db backup``, on SQLite and PostgreSQL, with
the bad input an operator types: a missing or malformed folder, a broken circuit, an unknown
territory, a bad address, a weak password, an existing account. Nothing is half-done."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.security import check_password_hash

from engine.clock import SystemClock
from engine.persistence.models import (
    AuditEvent,
    Circuit,
    CircuitVersion,
    Membership,
    Territory,
    User,
)
from engine.services import sessions as web_sessions
from engine.services import users
from webapp.cli import cli

MINI = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "mini"
STRONG = "un-mot-de-passe-solide"


@pytest.fixture
def run(db_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``aiguillage …`` on the test's database."""
    monkeypatch.setenv("AIGUILLAGE_DATABASE_URL", db_url)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:  # noqa: A002
        return runner.invoke(cli, list(args), input=input)
    return invoke


def _mini(run, extra: tuple[str, ...] = ()) -> Result:  # type: ignore[no-untyped-def]
    return run("territory", "create", str(MINI), "--forms", str(MINI / "forms"), *extra)


def _count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_territory_create_is_all_or_nothing_and_refuses_a_second_time(
        run, sessions: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    created = _mini(run, ("--prefix", "tst"))
    assert created.exit_code == 0, created.output
    assert "Territoire mini « Territoire d'essai » créé." in created.output
    assert "circuit mini : version 1" in created.output
    again = _mini(run)
    assert again.exit_code == 1
    assert "le territoire mini existe déjà (--update" in again.output
    updated = _mini(run, ("--update",))
    assert updated.exit_code == 0 and "mis à jour" in updated.output
    with sessions() as session:
        territory = session.scalar(select(Territory))
        assert territory is not None and territory.prefix == "TST"
        assert territory.periods == [] and territory.roles[0]["key"] == "coordination"
    assert _count(sessions, Territory) == 1 and _count(sessions, CircuitVersion) == 1
    listed = run("territory", "list")
    assert listed.exit_code == 0
    assert "mini" in listed.output and "1 circuit(s), aucun administrateur" in listed.output


def test_territory_create_refuses_bad_folders_and_stores_nothing(
        run, sessions: sessionmaker[Session], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = run("territory", "create", str(tmp_path / "absent"))
    assert missing.exit_code == 1 and "dossier introuvable" in missing.output
    a_file = run("territory", "create", str(MINI / "territory.json"))
    assert a_file.exit_code == 1 and "donnez le dossier qui contient" in a_file.output
    malformed = tmp_path / "malformed"
    malformed.mkdir()
    (malformed / "territory.json").write_text('{"code": "x", "name": ')
    bad_json = run("territory", "create", str(malformed), "--forms", str(MINI / "forms"))
    assert bad_json.exit_code == 1 and "territory.json" in bad_json.output
    assert "rien n'a été enregistré" in bad_json.output
    broken = tmp_path / "mini"
    broken.mkdir()
    for name in ("territory.json", "commission.bpmn"):
        (broken / name).write_bytes((MINI / name).read_bytes())
    (broken / "mini.bpmn").write_text((MINI / "mini.bpmn").read_text().replace(
        ' default="f_retour"', ""))
    failing = run("territory", "create", str(broken), "--forms", str(MINI / "forms"))
    assert failing.exit_code == 1
    assert "Passerelle exclusive sans flux par défaut" in failing.output
    bad_prefix = _mini(run, ("--prefix", "a b"))
    assert bad_prefix.exit_code == 1 and "préfixe des références invalide" in bad_prefix.output
    no_forms = run("territory", "create", str(MINI), "--forms", str(tmp_path / "nulle-part"))
    assert no_forms.exit_code == 1 and "formulaires introuvable" in no_forms.output
    assert _count(sessions, Territory) == 0 and _count(sessions, Circuit) == 0
    assert _count(sessions, AuditEvent) == 0


def test_admin_create_with_each_way_of_giving_the_password(
        run, sessions: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    assert _mini(run).exit_code == 0
    typed = run("admin", "create", "--territory", "mini", "--email", " Ana@Exemple.FR ",
                "--name", "Ana Admin", input=f"{STRONG}\n{STRONG}\n")
    assert typed.exit_code == 0, typed.output
    assert STRONG not in typed.output  # the prompt hides it
    piped = run("admin", "create", "--territory", "mini", "--email", "bob@exemple.fr",
                "--name", "Bob Admin", "--password-stdin", input=f"{STRONG}-2\n")
    assert piped.exit_code == 0, piped.output
    generated = run("admin", "create", "--territory", "mini", "--email", "cy@exemple.fr",
                    "--name", "Cy Admin", "--generate")
    assert generated.exit_code == 0, generated.output
    shown = generated.output.rsplit(" : ", 1)[1].strip()
    with sessions() as session:
        territory_id = session.scalar(select(Territory.id))
        found = {u.email: u for u in session.scalars(select(User))}
        assert set(found) == {"ana@exemple.fr", "bob@exemple.fr", "cy@exemple.fr"}
        assert check_password_hash(found["ana@exemple.fr"].password_hash, STRONG)
        assert check_password_hash(found["bob@exemple.fr"].password_hash, f"{STRONG}-2")
        assert check_password_hash(found["cy@exemple.fr"].password_hash, shown)
        assert not found["ana@exemple.fr"].must_change_password
        assert found["cy@exemple.fr"].must_change_password  # printed: someone else saw it
        roles = set(session.execute(select(Membership.user_id, Membership.role,
                                           Membership.territory_id)).all())
        assert roles == {(u.id, "admin", territory_id) for u in found.values()}
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.action.in_(["user.create", "membership.add"]))).all()
        assert len(events) == 6
        assert all(e.user_id is None and e.territory_id == territory_id
                   and e.detail["via"] == "ligne_de_commande" for e in events)
    listed = run("territory", "list")
    assert "3 administrateur(s)" in listed.output


def test_admin_create_refuses_bad_input_and_creates_nothing(
        run, sessions: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    assert _mini(run).exit_code == 0
    base = ("admin", "create", "--territory", "mini", "--name", "Ana Admin", "--email")
    unknown = run("admin", "create", "--territory", "nulle", "--email", "a@exemple.fr",
                  "--name", "Ana", "--generate")
    assert unknown.exit_code == 1 and "territoire nulle inconnu" in unknown.output
    bad_email = run(*base, "pas-une-adresse", "--generate")
    assert bad_email.exit_code == 1 and "adresse e-mail invalide" in bad_email.output
    weak = run(*base, "a@exemple.fr", "--password-stdin", input="court\n")
    assert weak.exit_code == 1 and "trop court (12 caractères au moins)" in weak.output
    differ = run(*base, "a@exemple.fr", input=f"{STRONG}\n{STRONG}x\n")
    short_typed = run(*base, "a@exemple.fr", input="court\n")
    assert short_typed.exit_code == 1 and "trop court" in short_typed.output
    assert differ.exit_code == 1 and "les deux saisies diffèrent" in differ.output
    empty = run(*base, "a@exemple.fr", "--password-stdin", input="")
    assert empty.exit_code == 1 and "aucun mot de passe reçu" in empty.output
    both = run(*base, "a@exemple.fr", "--password-stdin", "--generate")
    assert both.exit_code == 2
    blank_name = run("admin", "create", "--territory", "mini", "--email", "a@exemple.fr",
                     "--name", "  ", "--generate")
    assert blank_name.exit_code == 1
    assert _count(sessions, User) == 0
    assert run(*base, "a@exemple.fr", "--generate").exit_code == 0
    with sessions() as session:
        before = session.scalar(select(User.password_hash))
    taken = run(*base, "A@exemple.fr", "--password-stdin", input=f"{STRONG}\n")
    assert taken.exit_code == 1 and "un compte existe déjà pour a@exemple.fr" in taken.output
    with sessions() as session:
        assert session.scalar(select(User.password_hash)) == before
    assert _count(sessions, User) == 1 and _count(sessions, Membership) == 1


def test_reset_password_ends_sessions_and_is_audited(
        run, sessions: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    assert _mini(run).exit_code == 0
    assert run("admin", "create", "--territory", "mini", "--email", "ana@exemple.fr",
               "--name", "Ana", "--password-stdin", input=f"{STRONG}\n").exit_code == 0
    clock = SystemClock()
    life = web_sessions.Lifetimes(timedelta(minutes=30), timedelta(hours=12))
    with sessions() as session:
        user_id = session.scalar(select(User.id))
        for token in ("un", "deux"):
            web_sessions.open_session(session, clock, web_sessions.digest(token), user_id, {},
                                      life)
    weak = run("user", "reset-password", "ana@exemple.fr", "--password-stdin", input="court\n")
    assert weak.exit_code == 1 and "trop court" in weak.output
    unknown = run("user", "reset-password", "personne@exemple.fr", "--generate")
    assert unknown.exit_code == 1 and "aucun compte pour personne@exemple.fr" in unknown.output
    done = run("user", "reset-password", "ANA@exemple.fr", input="nouveau-mot-de-passe\n" * 2)
    assert done.exit_code == 0, done.output
    assert "2 session(s) fermée(s)" in done.output
    with sessions() as session:
        assert users.authenticate(session, "ana@exemple.fr", STRONG) is None
        account = users.authenticate(session, "ana@exemple.fr", "nouveau-mot-de-passe")
        assert account is not None and account.must_change_password
        states = [web_sessions.find(session, clock, web_sessions.digest(t), life)
                  for t in ("un", "deux")]
        assert [s.state for s in states if s] == ["revoked", "revoked"]
        [event] = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "user.password_reset")).all()
        assert event.user_id is None and event.detail == {
            "target_user_id": user_id, "via": "ligne_de_commande"}
        assert event.territory_id == session.scalar(select(Territory.id))
        session.execute(update(User).values(active=False))
        session.commit()
    inactive = run("user", "reset-password", "ana@exemple.fr", "--generate")
    assert inactive.exit_code == 0 and "Ce compte est désactivé" in inactive.output


def test_a_command_on_a_database_not_created_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIGUILLAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'vide.sqlite'}")
    result = CliRunner().invoke(cli, ["territory", "list"])
    assert result.exit_code == 1 and "aiguillage db upgrade" in result.output


def test_db_backup_copies_the_live_sqlite_database(
        run, db_url: str, sessions: sessionmaker[Session], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "sauvegarde.sqlite"
    if not db_url.startswith("sqlite"):
        refused = run("db", "backup", str(target))
        assert refused.exit_code == 1 and "pg_dump" in refused.output
        assert not target.exists()
        return
    assert _mini(run).exit_code == 0
    writer = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a write in progress: the backup neither waits nor sees it
    writer.execute("UPDATE territory SET name = 'pas encore validé'")
    try:
        done = run("db", "backup", str(target))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert done.exit_code == 0, done.output
    assert "vérifiée" in done.output
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("SELECT code, name FROM territory").fetchall() == [
            ("mini", "Territoire d'essai")]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert copy.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
    finally:
        copy.close()
    assert not target.with_name(target.name + ".partiel").exists()
    assert target.stat().st_mode & 0o777 == 0o600  # every household's data: owner only
    again = run("db", "backup", str(target))
    assert again.exit_code == 1 and "existe déjà" in again.output
    nowhere = run("db", "backup", str(tmp_path / "absent" / "b.sqlite"))
    assert nowhere.exit_code == 1 and "dossier introuvable" in nowhere.output
