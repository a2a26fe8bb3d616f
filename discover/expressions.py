"""Safe parsing of equation strings into sympy expressions.

Equation strings come from users' configs and from symbolic-regression engines. They are
parsed with Python's own parser (``ast.parse``, which never executes anything) and then
walked against a whitelist: only declared names, numbers, arithmetic operators and the
functions in :data:`MATH_FUNCTIONS` (plus any declared unknown functions such as ``F`` in
a universal differential equation) are accepted. The sympy expression is built node by
node; ``eval`` is never called.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

import sympy

from discover.errors import UserError

MAX_LENGTH = 20_000
MAX_DEPTH = 64


def _sym_min(*args: sympy.Expr) -> sympy.Expr:
    return sympy.Min(*args)


def _sym_max(*args: sympy.Expr) -> sympy.Expr:
    return sympy.Max(*args)


MATH_FUNCTIONS: dict[str, Callable[..., sympy.Expr]] = {
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "abs": sympy.Abs,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "tanh": sympy.tanh,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "min": _sym_min,
    "max": _sym_max,
    "Min": _sym_min,
    "Max": _sym_max,
    "Abs": sympy.Abs,
}
"""Functions an equation string may call, by the name it uses."""

MATH_CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "E": sympy.E}

_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


class ExpressionError(UserError):
    """An equation string was refused; the message names the offending token."""


def parse_expression(
    text: str,
    names: Iterable[str],
    unknown_functions: dict[str, int] | None = None,
    exact_numbers: bool = False,
) -> sympy.Expr:
    """Parse ``text`` into a sympy expression over the declared ``names``.

    Args:
        text: the equation string, e.g. ``"alpha*x - F(x, y)"``; ``^`` is read as power.
        names: every symbol the string may use (states, parameters, forcings, inputs).
        unknown_functions: declared unknown functions and their number of arguments,
            e.g. ``{"F": 2}``; calls to them become ``sympy.Function("F")(...)``.
        exact_numbers: read decimals as exact rationals (``0.7`` → ``7/10``), so that
            they compile as fixed structure rather than trainable constants.

    Returns:
        The expression, with real-valued symbols named as in ``names``.

    Raises:
        ExpressionError: on anything outside the whitelist, naming the offending token.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expected an equation string, got {type(text).__name__}")
    _check_nesting(text)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"equation string is {len(text)} characters long (max {MAX_LENGTH})")
    names = list(names)
    functions = dict(unknown_functions or {})
    clash = (set(names) | set(functions)) & (set(MATH_FUNCTIONS) | set(MATH_CONSTANTS))
    if clash:
        raise ExpressionError(f"declared name(s) {sorted(clash)} clash with built-in functions")
    symbols = {name: sympy.Symbol(name, real=True) for name in names}
    try:
        tree = ast.parse(text.replace("^", "**").strip(), mode="eval")
    except SyntaxError as err:
        raise ExpressionError(f"cannot parse {text!r}: {err.msg}") from None
    return _Builder(symbols, functions, text, exact_numbers).build(tree.body)


def expression_names(text: str) -> set[str]:
    """Names an equation string uses as variables (not called functions, not ``pi``/``E``).

    Nothing is evaluated; :func:`parse_expression` still vets the string afterwards.

    Raises:
        ExpressionError: the string is not a Python-style expression.
    """
    _check_nesting(text)
    try:
        tree = ast.parse(text.replace("^", "**").strip(), mode="eval")
    except SyntaxError as err:
        raise ExpressionError(f"cannot parse {text!r}: {err.msg}") from None
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {
        n.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and id(n) not in called and n.id not in MATH_CONSTANTS
    }


def _check_nesting(text: str) -> None:
    depth = 0
    for char in text:
        if char in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExpressionError(
                    f"equation string nests brackets deeper than {MAX_DEPTH} levels"
                )
        elif char in ")]}":
            depth -= 1


class _Builder:
    def __init__(
        self, symbols: dict[str, sympy.Symbol], functions: dict[str, int], text: str, exact: bool
    ):
        self.symbols = symbols
        self.functions = functions
        self.text = text
        self.exact = exact

    def refuse(self, node: ast.AST, what: str) -> ExpressionError:
        segment = ast.get_source_segment(self.text.replace("^", "**"), node) or what
        return ExpressionError(f"{what} {segment!r} is not allowed in {self.text!r}")

    def build(self, node: ast.AST) -> sympy.Expr:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise self.refuse(node, "constant")
            if isinstance(node.value, int):
                return sympy.Integer(node.value)
            return sympy.Rational(repr(node.value)) if self.exact else sympy.Float(node.value)
        if isinstance(node, ast.Name):
            if node.id in self.symbols:
                return self.symbols[node.id]
            if node.id in MATH_CONSTANTS:
                return MATH_CONSTANTS[node.id]
            raise ExpressionError(
                f"undeclared name {node.id!r} in {self.text!r}; declared: {sorted(self.symbols)}"
            )
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](self.build(node.left), self.build(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = self.build(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Call):
            return self.build_call(node)
        if isinstance(node, ast.Attribute):
            raise self.refuse(node, "attribute access")
        if isinstance(node, ast.Lambda):
            raise self.refuse(node, "lambda")
        if isinstance(node, ast.BinOp):
            raise self.refuse(node, f"operator {type(node.op).__name__}")
        raise self.refuse(node, f"{type(node).__name__} expression")

    def build_call(self, node: ast.Call) -> sympy.Expr:
        if not isinstance(node.func, ast.Name):
            raise self.refuse(node.func, "call of")
        if node.keywords:
            raise self.refuse(node, "keyword argument in")
        name = node.func.id
        if name not in self.functions and name not in MATH_FUNCTIONS:
            raise ExpressionError(
                f"unknown function {name!r} in {self.text!r}; allowed: "
                f"{sorted(set(MATH_FUNCTIONS) | set(self.functions))}"
            )
        args = [self.build(arg) for arg in node.args]
        if name in self.functions:
            expected = self.functions[name]
            if len(args) != expected:
                raise ExpressionError(
                    f"{name} takes {expected} argument(s), got {len(args)} in {self.text!r}"
                )
            return sympy.Function(name, real=True)(*args)
        try:
            return MATH_FUNCTIONS[name](*args)
        except TypeError:
            raise self.refuse(node, "wrong number of arguments in") from None
