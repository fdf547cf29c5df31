"""The expression language of circuits: a small, interpreted subset of Python.

Gateway conditions and timer values written by coordinators are parsed with ``ast`` and
*interpreted* node by node; nothing is passed to ``eval``. Only the nodes listed in
``_ALLOWED`` exist: no attributes, no ``_names``, no comprehensions, no lambdas, no ``**``,
calls only to a short table of pure functions. Run-time guards stop sequence repetition
and oversized results.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

MAX_LENGTH = 500
MAX_INT = 10**15
MAX_SIZE = 10_000

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len, "min": min, "max": max, "abs": abs, "int": int, "str": str, "bool": bool,
}

_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.FloorDiv, ast.Compare,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
    ast.Constant, ast.Name, ast.Load, ast.Subscript, ast.List, ast.Tuple, ast.Dict, ast.IfExp,
    ast.Call,
)

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Mod: operator.mod, ast.FloorDiv: operator.floordiv,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not,
}


class ExpressionError(Exception):
    """An expression was refused (``code`` names the reason) or failed while evaluated."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


def parse(expression: str) -> ast.Expression:
    """Parse and vet ``expression``; raise ``ExpressionError`` naming the first refusal."""
    if not isinstance(expression, str) or not expression.strip():
        raise ExpressionError("expr.empty")
    if len(expression) > MAX_LENGTH:
        raise ExpressionError("expr.too_long", str(len(expression)))
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError("expr.syntax", exc.msg) from None
    for node in ast.walk(tree):
        _vet(node)
    return tree


def _vet(node: ast.AST) -> None:
    if not isinstance(node, _ALLOWED):
        raise ExpressionError("expr.node", type(node).__name__)
    if isinstance(node, ast.Name) and node.id.startswith("_"):
        raise ExpressionError("expr.private_name", node.id)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bytes | complex) or node.value is Ellipsis:
            raise ExpressionError("expr.node", type(node.value).__name__)
        if isinstance(node.value, int) and not isinstance(node.value, bool) \
                and abs(node.value) > MAX_INT:
            raise ExpressionError("expr.big_number", str(node.value)[:20])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and any(
            isinstance(side, ast.List | ast.Tuple) or
            (isinstance(side, ast.Constant) and isinstance(side.value, str))
            for side in (node.left, node.right)):
        raise ExpressionError("expr.repetition")
    if isinstance(node, ast.Call):
        func = node.func
        if not (isinstance(func, ast.Name) and func.id in FUNCTIONS):
            raise ExpressionError("expr.call", ast.unparse(func)[:40])
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionError("expr.call", ast.unparse(func)[:40])


def check(expression: str) -> None:
    """Raise ``ExpressionError`` if ``expression`` is not in the allowed subset."""
    parse(expression)


def names(expression: str) -> set[str]:
    """The variable names an (allowed) expression reads, functions excluded."""
    tree = parse(expression)
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)
              and isinstance(n.func, ast.Name)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - called


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """Evaluate ``expression`` over ``context`` (the case data) without ``eval``."""
    return _Interpreter(context).run(parse(expression).body)


class _Interpreter:
    def __init__(self, context: Mapping[str, Any]) -> None:
        self.context = context

    def run(self, node: ast.expr) -> Any:  # noqa: C901 - one branch per node kind
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.BoolOp):
            return self._boolop(node)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.BinOp):
            return self._binary(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.IfExp):
            return self.run(node.body) if self.run(node.test) else self.run(node.orelse)
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.List | ast.Tuple):
            return [self.run(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return {self.run(k) if k is not None else None: self.run(v)
                    for k, v in zip(node.keys, node.values, strict=True)}
        if isinstance(node, ast.Call):
            return self._call(node)
        raise ExpressionError("expr.node", type(node).__name__)

    def _name(self, name: str) -> Any:
        if name in self.context:
            return self.context[name]
        if name in FUNCTIONS:
            raise ExpressionError("expr.call", name)
        return None  # a form field left empty is absent from the data: it reads as None

    def _boolop(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for operand in node.values:
            value = self.run(operand)
            if isinstance(node.op, ast.And) and not value:
                return value
            if isinstance(node.op, ast.Or) and value:
                return value
        return value

    def _unary(self, node: ast.UnaryOp) -> Any:
        value = self.run(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        _need_number(value)
        return -value if isinstance(node.op, ast.USub) else +value

    def _binary(self, node: ast.BinOp) -> Any:
        left, right = self.run(node.left), self.run(node.right)
        if isinstance(node.op, ast.Mult) and (
                isinstance(left, str | list | tuple) or isinstance(right, str | list | tuple)):
            raise ExpressionError("expr.repetition")
        try:
            result = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ExpressionError("expr.zero_division") from None
        except TypeError as exc:
            raise ExpressionError("expr.type", str(exc)) from None
        _bounded(result)
        return result

    def _compare(self, node: ast.Compare) -> bool:
        left = self.run(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.run(comparator)
            try:
                if not _COMPARE[type(op)](left, right):
                    return False
            except TypeError as exc:
                raise ExpressionError("expr.type", str(exc)) from None
            left = right
        return True

    def _subscript(self, node: ast.Subscript) -> Any:
        container, key = self.run(node.value), self.run(node.slice)
        if not isinstance(container, dict | list | tuple | str):
            raise ExpressionError("expr.type", type(container).__name__)
        try:
            return container[key]
        except (KeyError, IndexError):
            if isinstance(container, dict):
                return None  # a field left empty reads as None, as in a form
            raise ExpressionError("expr.index", repr(key)[:40]) from None
        except TypeError as exc:
            raise ExpressionError("expr.type", str(exc)) from None

    def _call(self, node: ast.Call) -> Any:
        assert isinstance(node.func, ast.Name)
        args = [self.run(a) for a in node.args]
        try:
            result = FUNCTIONS[node.func.id](*args)
        except (TypeError, ValueError) as exc:
            raise ExpressionError("expr.type", str(exc)) from None
        _bounded(result)
        return result


def _need_number(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExpressionError("expr.type", type(value).__name__)


def _bounded(value: Any) -> None:
    if isinstance(value, str | list | tuple) and len(value) > MAX_SIZE:
        raise ExpressionError("expr.too_big", str(len(value)))
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT * MAX_INT:
        raise ExpressionError("expr.too_big", "int")
