"""Long lists: past 1,000 results the count stops, the pages do not."""

from __future__ import annotations

from flask import Flask
from werkzeug.datastructures import MultiDict

from engine.services.results import COUNT_CAP, Page


def _nav(app: Flask, page: Page[int]) -> str:
    with app.test_request_context("/taches/"):
        macro = app.jinja_env.get_template("macros/ui.html").module.pagination  # type: ignore[attr-defined]
        return str(macro(page, "tasks.index", MultiDict({"page": str(page.page)})))


def test_a_counted_list_names_its_last_page(app: Flask) -> None:
    last = Page(list(range(10)), 60, 3, 25)
    assert not last.has_next
    nav = _nav(app, last)
    assert "Page 3 sur 3" in nav and 'rel="next"' not in nav and 'rel="prev"' in nav


def test_a_list_past_the_count_goes_on_while_its_pages_are_full(app: Flask) -> None:
    beyond = Page(list(range(25)), COUNT_CAP + 1, 42, 25)  # 41 pages counted, more exist
    assert beyond.capped and beyond.has_next
    nav = _nav(app, beyond)
    assert "Page 42 (" in nav and "sur" not in nav and "plus de 1 000 résultats" in nav
    assert 'href="/taches/?page=43"' in nav
    end = Page(list(range(7)), COUNT_CAP + 1, 57, 25)  # a short page: the real end
    assert not end.has_next and 'rel="next"' not in _nav(app, end)
