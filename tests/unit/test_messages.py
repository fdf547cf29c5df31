"""The engine's message catalogue: every code the engine raises or reports exists, in French
and in English, with the same parameters in both."""

from __future__ import annotations

import re
import string
from pathlib import Path

from engine.core.messages import CATALOGUE, render
from engine.errors import Conflict, NotFound

ENGINE = Path(__file__).resolve().parents[2] / "engine"


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_both_languages_take_the_same_parameters() -> None:
    for code, (fr, en) in CATALOGUE.items():
        assert fr and en, code
        assert _fields(fr) == _fields(en), code


def test_every_refusal_code_raised_by_the_engine_is_in_the_catalogue() -> None:
    raised = {code for path in ENGINE.rglob("*.py")
              for code in re.findall(r'\(code="([a-z_]+\.[a-z_.]+)"',
                                     path.read_text(encoding="utf-8"))}
    assert raised, "no coded refusal found: has the convention changed?"
    assert raised - set(CATALOGUE) == set()


def test_a_refusal_says_itself_in_both_languages() -> None:
    refused = Conflict(code="svc.account_exists", email="ts@demo.test")
    assert str(refused) == "un compte existe déjà pour ts@demo.test"
    assert refused.message_in("en") == "an account already exists for ts@demo.test"
    assert refused.message_in("fr") == str(refused)
    assert NotFound("texte libre").message_in("en") == "texte libre"  # no code: as it is
    assert render("svc.step_done", "en", {}) == "this step is already completed"
