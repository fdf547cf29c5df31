"""The aiguillage command, without any database."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from engine.cli import cli
from tests.conftest import MINI

FORMS = str(MINI / "forms")


def test_check_reports_success_and_exit_zero() -> None:
    result = CliRunner().invoke(cli, ["circuits", "check", str(MINI), "--forms", FORMS])
    assert result.exit_code == 0, result.output
    assert "1 circuit(s) vérifié(s) : 0 erreur(s)" in result.output


def test_check_prints_every_problem_and_exits_one(tmp_path: Path) -> None:
    text = (MINI / "mini.bpmn").read_text().replace(' default="f_retour"', "").replace(
        '>"P10D"<', ">P10D<")
    bad = tmp_path / "mini.bpmn"
    bad.write_text(text)
    (tmp_path / "commission.bpmn").write_bytes((MINI / "commission.bpmn").read_bytes())
    (tmp_path / "territory.json").write_bytes((MINI / "territory.json").read_bytes())
    result = CliRunner().invoke(cli, ["circuits", "check", str(bad), "--forms", FORMS])
    assert result.exit_code == 1
    assert "[gw « Décision ? »]: Passerelle exclusive sans flux par défaut" in result.output
    assert "mini.bpmn:" in result.output and "entre guillemets" in result.output
    english = CliRunner().invoke(cli, ["circuits", "check", str(bad), "--forms", FORMS,
                                       "--lang", "en", "--json"])
    problems = json.loads(english.output)["problems"]
    assert {p["code"] for p in problems} >= {"bpmn.no_default", "bpmn.timer_unquoted"}
    assert all(p["line"] for p in problems)


def test_check_of_a_missing_path_fails() -> None:
    result = CliRunner().invoke(cli, ["circuits", "check", "nowhere.bpmn"])
    assert result.exit_code == 1


def test_simulate_prints_steps_lanes_due_dates_and_the_end(tmp_path: Path) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({
        "start": "2026-01-09T15:00:00+01:00", "data": {"nom_menage": "Ménage Test"},
        "steps": [{"task": "analyse", "data": {"mesure": "avdl"}}, {"wait": "P16D"},
                  {"task": "escalade"}, {"task": "analyse", "data": {"mesure": "asll"}},
                  {"task": "decision", "data": {"decision": "acceptee"}}],
        "expect": {"end": "end_ok"}}))
    result = CliRunner().invoke(cli, ["circuits", "simulate", str(MINI / "mini.bpmn"),
                                      "--answers", str(answers), "--forms", FORMS])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == ("09/01/2026 15:00  Prête     analyse « Analyser la demande » — "
                        "Coordination de la plateforme — échéance 13/01/2026 23:59")
    assert any("Minuterie relance_timer" in line for line in lines)
    assert any("Relance envoyée → assignee (étape decision)" in line for line in lines)
    assert lines[-1].endswith("Fin       end_ok « Orientation acceptée »")


def test_simulate_stops_clearly_on_a_wrong_answer(tmp_path: Path) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"data": {"nom_menage": "x"},
                                   "steps": [{"task": "analyse", "data": {"mesure": "bogus"}}]}))
    result = CliRunner().invoke(cli, ["circuits", "simulate", str(MINI / "mini.bpmn"),
                                      "--answers", str(answers), "--forms", FORMS])
    assert result.exit_code == 1
    assert "Arrêt : mesure: Choisissez une des valeurs proposées." in result.output


def test_english_messages_are_english_all_the_way_down(tmp_path: Path) -> None:
    text = (MINI / "mini.bpmn").read_text().replace(">\"P10D\"<", ">\"P3X\"<")
    bad = tmp_path / "mini.bpmn"
    bad.write_text(text)
    for name in ("commission.bpmn", "territory.json"):
        (tmp_path / name).write_bytes((MINI / name).read_bytes())
    result = CliRunner().invoke(cli, ["circuits", "check", str(bad), "--forms", FORMS,
                                      "--lang", "en"])
    assert "Timer refused '\"P3X\"': invalid ISO-8601 duration" in result.output
