"""Author-written instructions made safe to show: sandboxed placeholders with a hard bound on
work and output, sanitised HTML, and the check that refuses templates whose cost cannot be
bounded.

Instructions are rendered on every view of a step, so a template may not loop without end,
build a huge text, or recurse. ``check_template`` refuses at the circuit check what it can
see statically (``range`` with a non-literal or large bound, loops nested beyond a product
limit, repetition of texts or lists, powers, macros, includes). Rendering then counts every
loop turn, every call and every ``range`` item against ``MAX_STEPS``, caps every text built
by an operator at ``MAX_OUTPUT`` characters, and shows ``OVERRUN`` instead of the
instructions when a limit is reached.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import nh3
from jinja2 import TemplateError, TemplateSyntaxError, nodes, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import do_replace
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

ALLOWED_TAGS = {"p", "br", "strong", "em", "b", "i", "ul", "ol", "li", "a"}
MAX_INSTRUCTIONS = 20_000
MAX_OUTPUT = 20_000
MAX_STEPS = 10_000
MAX_RANGE = 1_000
DATA_LIST = 100  # a form's lists hold at most 100 items (``forms._with_limits``)
OVERRUN = ("<p><em>Consignes trop longues à afficher : signalez-le à la coordination "
           "du territoire.</em></p>")
_WIDTH_METHODS = {"center", "ljust", "rjust", "zfill", "expandtabs"}
_RISKY_FILTERS = ("center", "indent", "wordwrap", "format", "batch", "slice")
_BIG_FORMAT = re.compile(r"%[^a-zA-Z%]*\d{4,}|\{[^{}]*\d{4,}[^{}]*\}")
_COUNTER = "aiguillage_counted"


class Overrun(TemplateError):
    """A template went over its work or output bound while rendering."""


class TemplateRefused(Exception):
    """A template the check refuses; ``code`` keys the message catalogue."""

    def __init__(self, code: str, detail: str = "", line: int | None = None,
                 warning: bool = False) -> None:
        self.code = code
        self.detail = detail
        self.line = line
        self.warning = warning
        super().__init__(f"{code}: {detail}" if detail else code)


class _Generator(CodeGenerator):
    """Jinja's code generator, with each loop's items counted and ``~`` joins bounded."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):
            if not (isinstance(loop.iter, nodes.Filter) and loop.iter.name == _COUNTER):
                loop.iter = nodes.Filter(loop.iter, _COUNTER, [], [], None, None,
                                         lineno=loop.lineno)
        super().visit_Template(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded(")
        super().visit_Concat(node, frame)
        self.write(")")


class _Sandbox(ImmutableSandboxedEnvironment):
    """A sandbox for one rendering, holding its own work counter."""

    code_generator_class = _Generator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        super().__init__(autoescape=True)
        self.steps = 0
        self.globals = {"range": self._range, "dict": dict}
        for name in _RISKY_FILTERS:
            self.filters.pop(name, None)
        self.filters[_COUNTER] = self._counted
        self.filters["replace"] = _replace_filter

    def spend(self, steps: int) -> None:
        """Count ``steps`` units of work; raise ``Overrun`` past ``MAX_STEPS``."""
        self.steps += steps
        if self.steps > MAX_STEPS:
            raise Overrun("work")

    def bounded(self, value: Any) -> Any:
        """``value`` if it is not a text or list longer than ``MAX_OUTPUT``."""
        if isinstance(value, str | list | tuple) and len(value) > MAX_OUTPUT:
            raise Overrun("size")
        return value

    def concat(self, parts: Any) -> str:
        """Join the output of a macro, block or loop, bounded."""
        return str(self.bounded("".join(parts)))

    def _range(self, *args: Any) -> range:
        found = range(*args)
        if len(found) > MAX_RANGE:
            raise Overrun("range")
        self.spend(len(found))
        return found

    def _counted(self, items: Any) -> Iterator[Any]:
        for item in items:
            self.spend(1)
            yield item

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Operators on texts, lists and big numbers, bounded."""
        if operator == "*" and any(isinstance(v, str | list | tuple) for v in (left, right)):
            raise Overrun("repeat")
        if operator == "**" and not (_small(left, 10**6) and _small(right, 64)):
            raise Overrun("power")
        if operator == "%" and isinstance(left, str) and _BIG_FORMAT.search(left):
            raise Overrun("format")
        result = self.bounded(super().call_binop(context, operator, left, right))
        if isinstance(result, int) and not isinstance(result, bool) and abs(result) > 10**30:
            raise Overrun("number")
        return result

    def call(__self, __context: Context, __obj: Any,  # noqa: N805 - Jinja's own signature
             *args: Any, **kwargs: Any) -> Any:
        """Every call costs a step; text methods that pad or repeat are bounded."""
        __self.spend(1)
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        if isinstance(owner, str) and name in _WIDTH_METHODS and any(
                isinstance(a, int) and a > MAX_OUTPUT for a in (*args, *kwargs.values())):
            raise Overrun("width")
        if isinstance(owner, str) and name == "replace" and len(args) >= 2:
            _check_growth(owner, args[0], args[1])
        return __self.bounded(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Any:
        """``str.format`` with no large width or precision, and a bounded result."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        pattern = value.__self__

        def bounded_format(*args: Any, **kwargs: Any) -> Any:
            if _BIG_FORMAT.search(pattern) or any(
                    isinstance(a, int) and a > MAX_OUTPUT for a in (*args, *kwargs.values())):
                raise Overrun("format")
            return self.bounded(wrapped(*args, **kwargs))
        return bounded_format


def _check_growth(text: Any, old: Any, new: Any) -> None:
    """Refuse a replacement whose result would pass ``MAX_OUTPUT`` (before building it)."""
    source, before, after = str(text), str(old), str(new)
    grows = source.count(before) * (len(after) - len(before)) if before else \
        (len(source) + 1) * len(after)
    if len(source) + grows > MAX_OUTPUT:
        raise Overrun("size")


@pass_eval_context
def _replace_filter(eval_ctx: EvalContext, text: Any, old: Any, new: Any,
                    count: int | None = None) -> Any:
    _check_growth(text, old, new)
    return do_replace(eval_ctx, text, old, new, count)


def _small(value: Any, limit: int) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) <= limit


def sanitise(html: str) -> str:
    """Keep a few formatting tags and safe links; drop everything else (scripts, styles)."""
    return str(nh3.clean(html[:MAX_INSTRUCTIONS], tags=ALLOWED_TAGS,
                         attributes={"a": {"href", "title"}}, url_schemes={"https", "mailto"},
                         link_rel="noopener noreferrer"))


def render_instructions(documentation: str | None, template: str | None,
                        data: Mapping[str, Any]) -> str:
    """The instructions of a step: documentation, then the end-user template rendered in a
    sandbox with the case data (a broken template is shown as written, not raised; one that
    goes over its work or output bound is replaced by ``OVERRUN``)."""
    try:
        parts = [_fill(t, data) for t in (documentation, template) if t and t.strip()]
    except Overrun:
        return OVERRUN
    text = "\n\n".join(parts)
    if "<" not in text:
        paragraphs = [p.replace("\n", "<br>") for p in text.split("\n\n") if p.strip()]
        text = "".join(f"<p>{p}</p>" for p in _escape_all(paragraphs))
    return sanitise(text)


def _fill(template: str, data: Mapping[str, Any]) -> str:
    if "{" not in template:
        return template.strip()
    sandbox = _Sandbox()
    try:
        compiled = sandbox.from_string(template[:MAX_INSTRUCTIONS])
        out: list[str] = []
        size = 0
        for chunk in compiled.generate(dict(data)):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise Overrun("size")
            out.append(chunk)
    except Overrun:
        raise
    except RecursionError:  # a macro calling itself
        raise Overrun("recursion") from None
    except Exception:  # noqa: BLE001 - author text never breaks a page: shown as written
        return template.strip()
    return "".join(out).strip()


def _escape_all(items: list[str]) -> list[str]:
    return [i.replace("&", "&amp;").replace("<br>", "\0").replace("<", "&lt;")
            .replace(">", "&gt;").replace("\0", "<br>") for i in items]


# --------------------------------------------------------------------------- the check

def check_template(source: str) -> list[TemplateRefused]:
    """What the circuit check says about an instructions template: refusals (its cost cannot
    be bounded) and warnings (it will be shown as written); empty when it is fine."""
    if "{" not in source:
        return []
    if len(source) > MAX_INSTRUCTIONS:
        return [TemplateRefused("template.too_long", str(MAX_INSTRUCTIONS))]
    sandbox = _Sandbox()
    try:
        tree = sandbox.parse(source)
    except TemplateSyntaxError as exc:
        return [TemplateRefused("template.syntax", str(exc.lineno), exc.lineno, warning=True)]
    except RecursionError:
        return [TemplateRefused("template.too_nested")]
    found = _refusals(tree)
    if not found:
        try:
            sandbox.compile(source)
        except TemplateError as exc:  # an unknown or removed filter
            line = getattr(exc, "lineno", None)
            return [TemplateRefused("template.syntax", str(line or 1), line, warning=True)]
    return found


_FORBIDDEN: dict[type[nodes.Node], str] = {
    nodes.Macro: "template.macro", nodes.CallBlock: "template.macro",
    nodes.Include: "template.include", nodes.Import: "template.include",
    nodes.FromImport: "template.include", nodes.Extends: "template.include",
    nodes.Pow: "template.power",
}


def _refusals(tree: nodes.Node) -> list[TemplateRefused]:
    """Walk the template (iteratively) with the product of the enclosing loops' sizes."""
    found: dict[str, TemplateRefused] = {}
    todo: list[tuple[nodes.Node, int]] = [(tree, 1)]
    while todo:
        node, product = todo.pop()
        code, detail = _refusal(node)
        if isinstance(node, nodes.For):
            product *= _loop_size(node.iter)
            if product > MAX_STEPS:
                code, detail = "template.loops", str(MAX_STEPS)
        if code and code not in found:
            found[code] = TemplateRefused(code, detail, getattr(node, "lineno", None))
        todo.extend((child, product) for child in node.iter_child_nodes())
    return list(found.values())


def _refusal(node: nodes.Node) -> tuple[str | None, str]:
    for kind, code in _FORBIDDEN.items():
        if isinstance(node, kind):
            return code, ""
    if isinstance(node, nodes.Mul) and any(_is_sequence(side) for side in (node.left, node.right)):
        return "template.repeat", ""
    if isinstance(node, nodes.For) and node.recursive:
        return "template.recursive", ""
    if _is_range(node) and _range_size(node) is None:
        return "template.range", str(MAX_RANGE)
    return None, ""


def _is_sequence(node: nodes.Node) -> bool:
    return isinstance(node, nodes.List | nodes.Tuple) or (
        isinstance(node, nodes.Const) and isinstance(node.value, str))


def _is_range(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) \
        and node.node.name == "range"


def _range_size(node: nodes.Node) -> int | None:
    """The length of a ``range`` written with literal bounds, if it is within ``MAX_RANGE``."""
    assert isinstance(node, nodes.Call)
    if node.kwargs or node.dyn_args or node.dyn_kwargs or not all(
            isinstance(a, nodes.Const) and type(a.value) is int for a in node.args):
        return None
    try:
        size = len(range(*(a.value for a in node.args)))  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    return size if size <= MAX_RANGE else None


def _loop_size(iterable: nodes.Node) -> int:
    if _is_range(iterable):
        return max(1, _range_size(iterable) or MAX_RANGE)
    return DATA_LIST
