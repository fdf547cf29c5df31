"""The CI load run's verdict (tests/load/test_load_smoke.py ``problems``), on made-up
results: what locust's users saw, by request name."""

from __future__ import annotations

from typing import Any

from tests.load.test_load_smoke import BUDGETS, median, problems


def _entry(statements: dict[int, int], statuses: dict[str, int] | None = None,
           no_header: int = 0) -> dict[str, Any]:
    statuses = statuses or {"200": sum(statements.values()) + no_header}
    return {"count": sum(statuses.values()), "no_header": no_header, "statuses": statuses,
            "5xx": sum(n for code, n in statuses.items() if code.startswith("5")),
            "statements": {str(n): times for n, times in statements.items()}}


def _within() -> dict[str, dict[str, Any]]:
    """Every page requested, each at its typical budget, one request at its most."""
    expected = {"sign in": "302", "complete a step": "302"}
    return {name: _entry({typical: 9, most: 1}, {expected.get(name, "200"): 10})
            for name, (typical, most) in BUDGETS.items()}


def test_a_run_within_every_budget_passes() -> None:
    assert problems(_within()) == []


def test_one_statement_more_on_every_request_fails() -> None:
    seen = _within()
    typical, most = BUDGETS["my tasks"]
    seen["my tasks"] = _entry({typical + 1: 9, most: 1})
    assert [p.split(":")[0] for p in problems(seen)] == ["my tasks"]


def test_one_request_past_the_most_fails_even_if_the_rest_are_fine() -> None:
    seen = _within()
    typical, most = BUDGETS["case page"]
    seen["case page"] = _entry({typical: 50, most + 1: 1})
    assert "case page: median" in problems(seen)[0]


def test_server_errors_missing_counts_unknown_and_missing_pages_fail() -> None:
    seen = _within()
    seen["cases search"] = _entry({10: 3}, {"200": 3, "500": 1})
    seen["task page"] = _entry({10: 3}, no_header=2)
    seen["a new page"] = _entry({1: 1})
    del seen["CSV export"]
    seen["complete a step"] = _entry({19: 2}, {"302": 1, "200": 1})  # one did not go through
    found = "\n".join(problems(seen))
    for expected in ("cases search: 1 server error", "task page: 2 response(s) without",
                     "a new page: no budget", "CSV export: never requested",
                     "complete a step: statuses"):
        assert expected in found, found


def test_the_median_of_the_requests() -> None:
    assert median({10: 3, 19: 1}) == 10
    assert median({10: 1, 19: 1}) == 19
    assert median({}) == 0
