"""The database commands of ``aiguillage``: upgrade, deploy, timers status, scheduler --once."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from webapp.cli import cli

MINI = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "mini"


def test_upgrade_deploy_status_and_scheduler(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIGUILLAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite'}")
    runner = CliRunner()
    # a new database is created, not "already up to date" (issue #14, item 10)
    assert "Base créée au schéma 00" in runner.invoke(cli, ["db", "upgrade"]).output
    assert "Schéma déjà à jour (00" in runner.invoke(cli, ["db", "upgrade"]).output
    wrong = runner.invoke(cli, ["circuits", "deploy", str(MINI), "--territory", "autre"])
    assert wrong.exit_code == 2 and "décrit le territoire mini" in wrong.output
    deployed = runner.invoke(cli, ["circuits", "deploy", str(MINI), "--territory", "mini",
                                   "--forms", str(MINI / "forms"), "--note", "première"])
    assert deployed.exit_code == 0, deployed.output
    assert "mini: mini version 1" in deployed.output
    again = runner.invoke(cli, ["circuits", "deploy", str(MINI), "--forms", str(MINI / "forms")])
    assert "version 1" in again.output  # same files: no new version
    status = runner.invoke(cli, ["timers", "status"])
    assert status.exit_code == 0 and "en échec (incidents) : 0" in status.output
    once = runner.invoke(cli, ["scheduler", "--once"])
    assert once.exit_code == 0 and "0 minuterie(s) déclenchée(s)" in once.output


def test_deploy_refuses_a_broken_circuit_and_stores_nothing(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "mini"
    folder.mkdir()
    for name in ("territory.json", "commission.bpmn"):
        (folder / name).write_bytes((MINI / name).read_bytes())
    (folder / "mini.bpmn").write_text((MINI / "mini.bpmn").read_text().replace(
        ' default="f_retour"', ""))
    monkeypatch.setenv("AIGUILLAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite'}")
    runner = CliRunner()
    runner.invoke(cli, ["db", "upgrade"])
    result = runner.invoke(cli, ["circuits", "deploy", str(folder), "--forms",
                                 str(MINI / "forms")])
    assert result.exit_code == 1
    assert "Passerelle exclusive sans flux par défaut" in result.output
    from sqlalchemy import create_engine, text
    engine = create_engine(f"sqlite:///{tmp_path / 'cli.sqlite'}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM territory")).scalar() == 0
    engine.dispose()
