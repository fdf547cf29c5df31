"""Problems found in a circuit: where (file, line, element) and what, in French or English."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from engine.core.messages import render

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One finding of the circuit check; ``code`` keys the message catalogue."""

    code: str
    severity: Severity = "error"
    file: str | None = None
    line: int | None = None
    element_id: str | None = None
    element_name: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        """True when the problem blocks deployment."""
        return self.severity == "error"

    def message(self, lang: str = "fr") -> str:
        """The plain-language message in ``lang`` (``fr`` or ``en``)."""
        return render(self.code, lang, self.params)

    def location(self) -> str:
        """``file:line`` (either part may be missing)."""
        where = self.file or "?"
        return f"{where}:{self.line}" if self.line else where

    def format(self, lang: str = "fr") -> str:
        """One line for a terminal: location, severity, element, message."""
        label = {"fr": {"error": "erreur", "warning": "avertissement"},
                 "en": {"error": "error", "warning": "warning"}}[lang if lang == "en" else "fr"]
        element = ""
        if self.element_id or self.element_name:
            name = f" « {self.element_name} »" if self.element_name else ""
            element = f" [{self.element_id or '?'}{name}]"
        return f"{self.location()}: {label[self.severity]}{element}: {self.message(lang)}"

    def as_dict(self, lang: str = "fr") -> dict[str, Any]:
        """A JSON-ready view (for the modeler's problem list)."""
        return {
            "code": self.code, "severity": self.severity, "file": self.file, "line": self.line,
            "element_id": self.element_id, "element_name": self.element_name,
            "message": self.message(lang),
        }


def has_errors(problems: list[Problem]) -> bool:
    """True if any problem is an error."""
    return any(p.is_error for p in problems)
