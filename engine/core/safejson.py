"""The one door for JSON that people send us: form files, territory files, draft saves,
dry-run data, the form editor's hidden fields.

Size and nesting depth are bounded *before* the parser runs (Python's parser and
``jsonschema`` both recurse, so a document nested a few thousand levels deep would otherwise
end in a ``RecursionError`` on every page that reads it); bytes must be UTF-8; ``NaN`` and
``Infinity`` are refused. Every refusal is a ``JsonError`` with a catalogue code.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

MAX_DEPTH = 64
MAX_BYTES = 2 * 1024 * 1024
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class JsonError(ValueError):
    """JSON refused; ``code`` keys the message catalogue, ``detail`` fills it."""

    def __init__(self, code: str, detail: str = "", line: int | None = None) -> None:
        self.code = code
        self.detail = detail
        self.line = line
        super().__init__(f"{code}: {detail}" if detail else code)


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES) -> Any:
    """The JSON value of ``raw``, or ``JsonError`` (too big, not UTF-8, too deep, invalid)."""
    text = _text(raw, max_bytes)
    _check_depth(text, max_depth)
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # no lone surrogate (\ud800)
    except json.JSONDecodeError as exc:
        raise JsonError("json.syntax", str(exc.lineno), exc.lineno) from None
    except (ValueError, RecursionError):  # huge integers, NaN; depth is checked above
        raise JsonError("json.invalid") from None
    return value


def depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects (iteratively: any depth is measured)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        todo.extend((child, level + 1) for child in children)
    return deepest


def _text(raw: bytes | str, max_bytes: int) -> str:
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise JsonError("json.too_big", str(-(-max_bytes // 1024)))
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff")
    body = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise JsonError("json.encoding", str(line), line) from None


def _check_depth(text: str, max_depth: int) -> None:
    level = 0
    for token in _TOKENS.finditer(text):
        char = token.group()
        if char in "[{":
            level += 1
            if level > max_depth:
                line = text.count("\n", 0, token.start()) + 1
                raise JsonError("json.too_deep", str(max_depth), line)
        elif char in "]}":
            level -= 1


def _refuse_constant(name: str) -> Any:
    raise JsonError("json.invalid", name)
