"""The script engine every workflow runs with: expressions only, interpreted, clock-aware.

SpiffWorkflow's default engine hands diagram text to ``eval``/``exec`` with full builtins
(SPIFFWORKFLOW.md §6). Ours evaluates the whitelisted expression language of
``engine.core.expressions`` and refuses scripts and service calls outright. It also carries
the clock that timers read, so simulated time and the scheduler's time are one input.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from engine.clock import Clock, SystemClock
from engine.core import expressions


class ScriptsDisabled(PermissionError):
    """A script or service task reached the engine (the check should have refused it)."""


class ExpressionEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]
    """Evaluates conditions and timer values with our interpreter; never executes code."""

    def __init__(self) -> None:
        super().__init__({})

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: dict[str, Any] | None = None) -> Any:
        """Evaluate ``expression`` over the task data."""
        return expressions.evaluate(expression, {**(external_context or {}), **context})

    def execute(self, script: str, context: dict[str, Any],
                external_context: dict[str, Any] | None = None) -> None:
        """Refuse: circuits contain no scripts."""
        raise ScriptsDisabled("scripts are disabled in Aiguillage")

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> None:
        """Refuse: circuits call no services."""
        raise ScriptsDisabled("service tasks are disabled in Aiguillage")


class SafeScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    """The script engine of every Aiguillage workflow, with the clock timers read."""

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(environment=ExpressionEnvironment())
        self.clock: Clock = clock or SystemClock()

    def validate(self, expression: str) -> None:
        """Check ``expression`` against the whitelist (raises ``ExpressionError``)."""
        expressions.check(expression)
