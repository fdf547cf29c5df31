"""The semantic diff of two circuit versions, in plain French."""

from __future__ import annotations

import json
from pathlib import Path

from engine.core.diff import describe_due, diff_files, diff_forms

MINI = Path(__file__).resolve().parent / "fixtures" / "mini"


def _mini() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in MINI.glob("*.bpmn")}


def _edit(old: str, new: str) -> dict[str, bytes]:
    files = _mini()
    text = files["mini.bpmn"].decode()
    assert old in text
    files["mini.bpmn"] = text.replace(old, new).encode()
    return files


def test_same_files_no_change() -> None:
    assert diff_files(_mini(), _mini()) == []


def test_deadline_in_words() -> None:
    assert describe_due({"dueIn": "P15D"}) == "15 j"
    assert describe_due({"dueIn": "'PT48H'"}) == "48 h"
    assert describe_due({"dueInWorkingDays": "10"}) == "10 j ouvrés"
    assert describe_due({}) is None


def test_deadline_from_a_date_in_words() -> None:
    assert describe_due({"dueRelative": "-7D:date_audience"}) == "7 j avant date_audience"
    assert describe_due({"dueRelative": "+2M:date_commandement", "dueIn": "P30D"}) == \
        "2 mois après date_commandement (sinon 30 j)"
    assert describe_due({"dueRelative": "-5WD:date_audience"}) == \
        "5 j ouvrés avant date_audience"
    assert describe_due({"dueRelative": "bientôt"}) == "bientôt"


def test_deadline_change_reads_plainly() -> None:
    new = _edit('name="dueInWorkingDays" value="2"', 'name="dueIn" value="P15D"')
    [change] = diff_files(_mini(), new)
    assert change.kind == "changed" and change.element_id == "analyse"
    assert change.text() == "Étape « Analyser la demande » : délai 2 j ouvrés → 15 j"


def test_timer_condition_name_and_lane() -> None:
    new = _edit('"P15D"', '"P7D"')
    new["mini.bpmn"] = new["mini.bpmn"].replace(b"decision == 'acceptee'",
                                                b"decision in ['acceptee']")
    new["mini.bpmn"] = new["mini.bpmn"].replace(b'name="Analyser la demande"',
                                                b'name="Analyser la saisine"')
    texts = [c.text() for c in diff_files(_mini(), new)]
    assert "Minuterie « Sans réponse à 15 jours » : minuterie 15 j → 7 j" in texts
    assert ("Flux « acceptée » : condition decision == 'acceptee' → "
            "decision in ['acceptee']") in texts
    assert "Étape « Analyser la saisine » : nom Analyser la demande → Analyser la saisine" \
        in texts


def test_added_and_removed_elements() -> None:
    new = _mini()
    new["mini.bpmn"] = new["mini.bpmn"].replace(b'"end_refus"', b'"end_refus2"').replace(
        b">end_refus<", b">end_refus2<")
    kinds = {(c.kind, c.element_id) for c in diff_files(_mini(), new)}
    assert ("added", "end_refus2") in kinds and ("removed", "end_refus") in kinds
    [added] = [c for c in diff_files(_mini(), new) if c.kind == "added"]
    assert added.text() == "Fin « Refus de la personne » ajoutée (couloir " \
        "Coordination de la plateforme)"


def test_form_fields_compared() -> None:
    old = {"f.json": json.dumps({"type": "object", "required": ["a"], "properties": {
        "a": {"type": "string", "title": "Nom"}, "b": {"type": "string", "title": "B"}}}).encode()}
    new = {"f.json": json.dumps({"type": "object", "required": [], "properties": {
        "a": {"type": "string", "title": "Nom"}, "c": {"type": "integer", "title": "Âge"}}}).encode(),
        "g.json": b"{}"}
    changes = diff_forms(old, new)
    assert [c.kind for c in changes] == ["changed", "added"]
    assert changes[0].text() == ("Formulaire « f.json » : champ « Nom » devenu facultatif ; "
                                 "champ « Âge » ajouté ; champ « B » supprimé")
