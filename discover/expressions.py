"""Safe parsing of equation strings into sympy expressions.

Equation strings come from users' configs and from symbolic-regression engines. They are
parsed with Python's own parser (``ast.parse``, which never executes anything) and then
walked against a whitelist: only declared names, numbers, arithmetic operators and the
functions in :data:`MATH_FUNCTIONS` (plus any declared unknown functions such as ``F`` in
a universal differential equation) are accepted. The sympy expression is built node by
node; ``eval`` is never called.

Before sympy sees anything, :func:`vet_expression` bounds what could make sympy hang or
Python's parser fail: the string's length and bracket nesting, the syntax tree's size and
depth, the magnitude of numbers and of constant exponents, and the nesting of powers; it
evaluates every constant sub-expression in float64, so ``9**9**9`` (which sympy would
compute exactly), ``1/0`` or ``log(0)`` is refused, naming the token, instead of hanging
or quietly turning the equation into infinity.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable

import sympy

from discover.errors import UserError

MAX_LENGTH = 20_000
"""Longest equation string, in characters."""
MAX_DEPTH = 64
"""Deepest nesting of brackets."""
MAX_NODES = 2_000
"""Most nodes (names, numbers, operators, calls) in an equation's syntax tree."""
MAX_TREE_DEPTH = 200
"""Deepest syntax tree (a chain ``x*x*...*x`` of n factors is n deep)."""
MAX_LITERAL = 1e30
"""Largest magnitude of a number written in an equation."""
MAX_EXPONENT = 100
"""Largest magnitude of a constant exponent (``x**100``)."""
MAX_POWER_NESTING = 4
"""Most powers nested in one another (``((x**a)**b)**c`` nests 3)."""


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
_CONSTANT_VALUES = {"pi": math.pi, "E": math.e}

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
    body = vet_expression(text)
    names = list(names)
    functions = dict(unknown_functions or {})
    clash = (set(names) | set(functions)) & (set(MATH_FUNCTIONS) | set(MATH_CONSTANTS))
    if clash:
        raise ExpressionError(f"declared name(s) {sorted(clash)} clash with built-in functions")
    symbols = {name: sympy.Symbol(name, real=True) for name in names}
    expression = _Builder(symbols, functions, text, exact_numbers).build(body)
    if expression.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan):
        raise ExpressionError(
            f"{text!r} is not finite (it simplifies to {expression}): division by zero or a "
            "non-finite constant"
        )
    return expression


def expression_names(text: str) -> set[str]:
    """Names an equation string uses as variables (not called functions, not ``pi``/``E``).

    Nothing is evaluated; :func:`parse_expression` still vets the names afterwards.

    Raises:
        ExpressionError: the string is not a Python-style expression within the bounds of
            :func:`vet_expression`.
    """
    tree = vet_expression(text)
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {
        n.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and id(n) not in called and n.id not in MATH_CONSTANTS
    }


def vet_expression(text: str) -> ast.expr:
    """The syntax tree of an equation string, checked before sympy sees anything.

    Checks the string's length, bracket nesting, the tree's size and depth, the magnitude
    of every number, constant exponents (at most :data:`MAX_EXPONENT`), the nesting of
    powers, division by a constant zero, and that every constant sub-expression (``1/0``,
    ``log(0)``, ``9**9**9``) is a finite real number in float64. Names are not checked here
    (:func:`parse_expression` does that).

    Raises:
        ExpressionError: the first bound broken, naming the offending token.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expected an equation string, got {type(text).__name__}")
    _check_nesting(text)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"equation string is {len(text)} characters long (max {MAX_LENGTH})")
    source = text.replace("^", "**").strip()
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        raise ExpressionError(f"cannot parse {_short(text)}: {err.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(
            f"{_short(text)} chains too many operators to parse (at most {MAX_TREE_DEPTH})"
        ) from None
    _check_size(tree, text)
    _Vetter(source, text).value(tree.body)
    return tree.body


def _short(text: str, limit: int = 80) -> str:
    """``text`` quoted, cut to ``limit`` characters for a one-line message."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


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


def _check_size(tree: ast.AST, text: str) -> None:
    """Bound the node count and depth of ``tree``, without recursion."""
    count = 0
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ExpressionError(f"{_short(text)} has more than {MAX_NODES} terms and operators")
        if depth > MAX_TREE_DEPTH:
            raise ExpressionError(
                f"{_short(text)} nests operators deeper than {MAX_TREE_DEPTH} levels"
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


_FLOAT_FUNCTIONS: dict[str, Callable[..., float]] = {
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "abs": abs,
    "Abs": abs,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "tanh": math.tanh,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "min": min,
    "max": max,
    "Min": min,
    "Max": max,
}
"""Float64 twins of :data:`MATH_FUNCTIONS`, to evaluate constant sub-expressions."""

_FLOAT_BINARY: dict[type, Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


class _Vetter:
    """Walks a size-checked tree: bounds numbers and powers, evaluates constants in floats."""

    def __init__(self, source: str, text: str):
        self.source = source
        self.text = text

    def segment(self, node: ast.AST) -> str:
        return _short(ast.get_source_segment(self.source, node) or "?", 60)

    def value(self, node: ast.AST, powers: int = 0) -> float | None:
        """The float64 value of ``node`` if it is constant, else ``None``; ``powers``: how
        many powers enclose it."""
        if isinstance(node, ast.Constant):
            if isinstance(node.value, int | float) and not isinstance(node.value, bool):
                if not abs(node.value) <= MAX_LITERAL:  # also refuses nan
                    raise ExpressionError(
                        f"number {self.segment(node)} in {_short(self.text)} is larger than "
                        f"{MAX_LITERAL:g} in magnitude"
                    )
                return float(node.value)
            return None  # the builder refuses it, naming it
        if isinstance(node, ast.Name):
            return _CONSTANT_VALUES.get(node.id)
        if isinstance(node, ast.UnaryOp):
            operand = self.value(node.operand, powers)
            if operand is None or not isinstance(node.op, ast.USub | ast.UAdd):
                return None
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            return self.binary(node, powers)
        if isinstance(node, ast.Call):
            args = [self.value(arg, powers) for arg in node.args]
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name not in _FLOAT_FUNCTIONS or not args or any(a is None for a in args):
                return None
            return self.finite(node, lambda: _FLOAT_FUNCTIONS[name](*args))
        for child in ast.iter_child_nodes(node):  # the builder refuses these nodes
            self.value(child, powers)
        return None

    def binary(self, node: ast.BinOp, powers: int) -> float | None:
        is_power = isinstance(node.op, ast.Pow)
        if is_power and powers >= MAX_POWER_NESTING:
            raise ExpressionError(
                f"{_short(self.text)} nests powers deeper than {MAX_POWER_NESTING} levels"
            )
        inner = powers + is_power
        left, right = self.value(node.left, inner), self.value(node.right, inner)
        if is_power and right is not None and abs(right) > MAX_EXPONENT:
            raise ExpressionError(
                f"exponent {self.segment(node.right)} in {_short(self.text)} is larger than "
                f"{MAX_EXPONENT} in magnitude"
            )
        if isinstance(node.op, ast.Div) and right == 0:
            raise ExpressionError(
                f"division by zero in {self.segment(node)} of {_short(self.text)}"
            )
        if left is None or right is None or type(node.op) not in _FLOAT_BINARY:
            return None
        return self.finite(node, lambda: _FLOAT_BINARY[type(node.op)](left, right))

    def finite(self, node: ast.AST, compute: Callable[[], float]) -> float:
        """``compute()``, refused unless it is a finite real number in float64."""
        try:
            result = compute()
        except (ArithmeticError, ValueError, TypeError):
            result = math.nan
        if not isinstance(result, float | int) or not math.isfinite(result):
            raise ExpressionError(
                f"constant {self.segment(node)} in {_short(self.text)} is not a finite real "
                "number (division by zero, overflow or outside the function's domain)"
            )
        return float(result)


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
