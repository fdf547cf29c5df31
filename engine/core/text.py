"""Author-written instructions made safe to show: sandboxed placeholders, sanitised HTML."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import nh3
from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

ALLOWED_TAGS = {"p", "br", "strong", "em", "b", "i", "ul", "ol", "li", "a"}
_SANDBOX = ImmutableSandboxedEnvironment(autoescape=True)
MAX_INSTRUCTIONS = 20_000


def sanitise(html: str) -> str:
    """Keep a few formatting tags and safe links; drop everything else (scripts, styles)."""
    return str(nh3.clean(html[:MAX_INSTRUCTIONS], tags=ALLOWED_TAGS,
                         attributes={"a": {"href", "title"}}, url_schemes={"https", "mailto"},
                         link_rel="noopener noreferrer"))


def render_instructions(documentation: str | None, template: str | None,
                        data: Mapping[str, Any]) -> str:
    """The instructions of a step: documentation, then the end-user template rendered in a
    sandbox with the case data (a broken template is shown as written, not raised)."""
    parts = [_fill(t, data) for t in (documentation, template) if t and t.strip()]
    text = "\n\n".join(parts)
    if "<" not in text:
        paragraphs = [p.replace("\n", "<br>") for p in text.split("\n\n") if p.strip()]
        text = "".join(f"<p>{p}</p>" for p in _escape_all(paragraphs))
    return sanitise(text)


def _fill(template: str, data: Mapping[str, Any]) -> str:
    if "{" not in template:
        return template.strip()
    try:
        return _SANDBOX.from_string(template[:MAX_INSTRUCTIONS]).render(dict(data)).strip()
    except TemplateError:
        return template.strip()


def _escape_all(items: list[str]) -> list[str]:
    return [i.replace("&", "&amp;").replace("<br>", "\0").replace("<", "&lt;")
            .replace(">", "&gt;").replace("\0", "<br>") for i in items]
