"""Equation strings of a run as sympy expressions, LaTeX and numbers.

Strings are parsed with :func:`discover.expressions.parse_expression` over the slot's
input names (never ``eval``); a string that does not parse is shown as plain text only.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

import numpy as np
import sympy

from discover.distill.postprocess import numpy_function
from discover.expressions import (
    MATH_CONSTANTS,
    MATH_FUNCTIONS,
    ExpressionError,
    parse_expression,
)

DIGITS = 4
"""Significant digits of the numbers shown in LaTeX (the plain text keeps them all)."""


def _symbol_names(expr: sympy.Expr) -> dict[sympy.Symbol, str]:
    """``soil_moisture`` → ``\\mathrm{soil\\_moisture}`` (sympy would subscript it)."""
    return {
        s: r"\mathrm{" + s.name.replace("_", r"\_") + "}"
        for s in expr.free_symbols
        if "_" in s.name
    }


def expression_latex(expr: sympy.Expr) -> str:
    """LaTeX of ``expr`` with its numbers rounded to :data:`DIGITS` significant digits."""
    rounded = expr.xreplace({f: sympy.Float(f, DIGITS) for f in expr.atoms(sympy.Float)})
    return sympy.latex(rounded, symbol_names=_symbol_names(rounded))


def to_latex(text: str, names: Sequence[str]) -> str | None:
    """LaTeX of the expression string ``text`` over ``names``; ``None`` if it does not parse."""
    try:
        return expression_latex(parse_expression(text, names))
    except ExpressionError:
        return None


def call_latex(function: str, names: Sequence[str]) -> str:
    """``F(x, y)`` in LaTeX, the left-hand side of a slot's equation."""
    arguments = [sympy.Symbol(n, real=True) for n in names]
    latex_args = [expression_latex(a) for a in arguments]
    name = function.replace("_", r"\_")
    head = name if len(function) == 1 else r"\mathrm{" + name + "}"
    return head + r"\left(" + ", ".join(latex_args) + r"\right)"


def evaluate(text: str, names: Sequence[str], X: np.ndarray) -> np.ndarray | None:
    """Values ``[sample]`` of ``text`` at ``X`` ``[sample, len(names)]``; ``None`` if it
    does not parse."""
    try:
        expr = parse_expression(text, names)
    except ExpressionError:
        return None
    return np.array(numpy_function(expr, names)(X), dtype=float)


def model_equation_latex(text: str, unknown_functions: dict[str, int]) -> str | None:
    """LaTeX of the right-hand side of an ``ode`` model's equation from its config.

    Every plain name in ``text`` counts as declared (states, parameters, forcings);
    calls to ``unknown_functions`` (the neural slots) stay as functions. ``None`` when
    the string does not parse.
    """
    try:
        tree = ast.parse(text.replace("^", "**"), mode="eval")
    except SyntaxError:
        return None
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names -= set(unknown_functions) | set(MATH_FUNCTIONS) | set(MATH_CONSTANTS)
    try:
        return expression_latex(parse_expression(text, sorted(names), unknown_functions))
    except ExpressionError:
        return None
