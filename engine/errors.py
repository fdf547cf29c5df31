"""The engine's one error hierarchy. Nothing here knows about HTTP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine.core.messages import render

if TYPE_CHECKING:
    from engine.core.problems import Problem


class EngineError(Exception):
    """Base of every error the engine raises on purpose.

    Raised with a ``code`` of engine/core/messages.py (and its parameters), the error can be
    shown in the reader's language (``message_in``); ``str()`` is the French text.
    """

    def __init__(self, message: str = "", *, code: str | None = None, **params: Any) -> None:
        self.code, self.params = code, params
        super().__init__(message or (render(code, "fr", params) if code else ""))

    def message_in(self, lang: str) -> str:
        """The message in ``lang`` (``fr`` or ``en``); a message without code as it is."""
        return render(self.code, lang, self.params) if self.code else str(self)


class NotFound(EngineError):
    """The thing asked for does not exist (or is not visible to the caller)."""


class Unauthenticated(EngineError):
    """No credentials, or credentials that do not open (unknown, malformed or revoked API
    key): the same message for every cause (no oracle)."""


class PermissionDenied(EngineError):
    """The caller may not do this."""


class Conflict(EngineError):
    """The request clashes with the current state."""


class ConcurrentUpdate(Conflict):
    """Someone else changed the same case first."""


class InvalidTransition(Conflict):
    """The step is not in a state that allows this (already done, not ready yet...)."""


class InvalidInput(EngineError):
    """A value sent cannot be used as it is (longer than its column, out of range...)."""


class Unavailable(EngineError):
    """The database cannot be reached or did not answer: nothing was saved, retry later."""


class TooManyAttempts(EngineError):
    """Refused for a while after repeated failures (sign-in, per account or per address)."""


class FormInvalid(EngineError):
    """Submitted form data failed validation; ``errors`` maps field path to messages."""

    def __init__(self, errors: Mapping[str, Sequence[str]]) -> None:
        self.errors = {k: list(v) for k, v in errors.items()}
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in self.errors.items()))


class ProcessDefinitionError(EngineError):
    """A circuit cannot be used: it failed the check. ``problems`` lists every finding."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(p.format() for p in self.problems))


class WorkflowError(EngineError):
    """The engine could not advance a case (a run-time fault in the circuit or its data)."""

    def __init__(self, message: str = "", *, element_id: str | None = None,
                 code: str | None = None, **params: Any) -> None:
        self.element_id = element_id
        super().__init__(message, code=code, **params)
