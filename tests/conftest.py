"""Shared fixtures: a clock, the small test circuit, and circuit loading helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.clock import FixedClock
from engine.core.bundles import CircuitBundle
from engine.core.loader import load_path
from engine.core.spiff.compiler import CompiledCircuit, compile_circuit
from engine.services import api_keys

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "tests" / "unit" / "fixtures" / "mini"


@pytest.fixture(autouse=True)
def _fresh_api_rates() -> None:
    """Each test's API keys start with full buckets: the rate limit counts per key id in the
    process's memory, and every test database numbers its keys from 1 again."""
    api_keys.reset_rates()


@pytest.fixture
def clock() -> FixedClock:
    """Friday 9 January 2026, 15:00 Paris time."""
    return FixedClock(datetime(2026, 1, 9, 14, 0, tzinfo=UTC))


def mini_bundle() -> CircuitBundle:
    """The small test circuit (two lanes, timers, a call activity, a bounded loop)."""
    loaded = load_path(MINI, MINI / "forms")
    return loaded.bundles[0][1]


@pytest.fixture(scope="session")
def mini() -> CompiledCircuit:
    """The small test circuit, compiled once."""
    return compile_circuit(mini_bundle())
