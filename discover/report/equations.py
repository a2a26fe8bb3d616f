"""Equation strings of a run as sympy expressions, MathML, LaTeX and numbers.

Strings are parsed with :func:`discover.expressions.parse_expression` over the slot's
input names (never ``eval``); a string that does not parse is shown as plain text only.
MathML (presentation markup, rendered by browsers without any script) goes into the HTML
page, LaTeX into the Markdown and beside the MathML for copying.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

import numpy as np
import sympy
from sympy.printing.mathml import MathMLPresentationPrinter

from discover.distill.postprocess import numpy_function
from discover.expressions import (
    MATH_CONSTANTS,
    MATH_FUNCTIONS,
    ExpressionError,
    parse_expression,
)
from discover.report.document import Math

DIGITS = 4
"""Significant digits of the numbers shown in LaTeX (the plain text keeps them all)."""


def _symbol_names(expr: sympy.Expr) -> dict[sympy.Symbol, str]:
    """``soil_moisture`` → ``\\mathrm{soil\\_moisture}`` (sympy would subscript it)."""
    return {
        s: r"\mathrm{" + s.name.replace("_", r"\_") + "}"
        for s in expr.free_symbols
        if "_" in s.name
    }


def _rounded(expr: sympy.Expr) -> sympy.Expr:
    return expr.xreplace({f: sympy.Float(f, DIGITS) for f in expr.atoms(sympy.Float)})


def expression_latex(expr: sympy.Expr) -> str:
    """LaTeX of ``expr`` with its numbers rounded to :data:`DIGITS` significant digits."""
    rounded = _rounded(expr)
    return sympy.latex(rounded, symbol_names=_symbol_names(rounded))


PRINTER_SETTINGS = {"mul_symbol": "dot"}
"""Products written with a centred dot: ``1.08·pet·soil_wetness``, not ``1.08petsoil_wetness``."""


class _Printer(MathMLPresentationPrinter):
    """sympy's presentation MathML, but a name such as ``soil_wetness`` stays whole (sympy
    would print ``soil`` with the subscript ``wetness``)."""

    def _print_Symbol(self, sym: sympy.Symbol, style: str = "plain") -> object:
        element = self.dom.createElement("mi")
        element.appendChild(self.dom.createTextNode(sym.name))
        return element


def expression_mathml(expr: sympy.Expr) -> str:
    """Presentation MathML (an ``<mrow>``, without the ``<math>`` element) of ``expr``,
    numbers rounded to :data:`DIGITS` significant digits."""
    return _Printer(PRINTER_SETTINGS).doprint(_rounded(expr))


def expression_math(expr: sympy.Expr, text: str) -> Math:
    """``expr`` as a :class:`Math` cell: LaTeX, MathML and the plain ``text``."""
    return Math(expression_latex(expr), text, expression_mathml(expr))


def math_of(text: str, names: Sequence[str]) -> Math:
    """The expression string ``text`` over ``names`` as a :class:`Math` cell (plain text
    only when it does not parse)."""
    try:
        return expression_math(parse_expression(text, names), text)
    except ExpressionError:
        return Math(None, text)


def to_latex(text: str, names: Sequence[str]) -> str | None:
    """LaTeX of the expression string ``text`` over ``names``; ``None`` if it does not parse."""
    return math_of(text, names).latex


def call_latex(function: str, names: Sequence[str]) -> str:
    """``F(x, y)`` in LaTeX, the left-hand side of a slot's equation."""
    arguments = [sympy.Symbol(n, real=True) for n in names]
    latex_args = [expression_latex(a) for a in arguments]
    name = function.replace("_", r"\_")
    head = name if len(function) == 1 else r"\mathrm{" + name + "}"
    return head + r"\left(" + ", ".join(latex_args) + r"\right)"


def call_math(function: str, names: Sequence[str]) -> Math:
    """``F(x, y)`` as a :class:`Math` cell, the left-hand side of a slot's equation."""
    arguments = [sympy.Symbol(n, real=True) for n in names]
    call = sympy.Function(function)(*arguments) if arguments else sympy.Symbol(function)
    return Math(
        call_latex(function, names),
        f"{function}({', '.join(names)})",
        _Printer(PRINTER_SETTINGS).doprint(call),
    )


def rate_math(state: str) -> Math:
    """``dx/dt`` of the state ``state`` as a :class:`Math` cell."""
    mi = _Printer(PRINTER_SETTINGS).doprint(sympy.Symbol(state))
    return Math(
        r"\frac{d" + state.replace("_", r"\_") + "}{dt}",
        f"d{state}/dt",
        f"<mfrac><mrow><mi>d</mi>{mi}</mrow><mrow><mi>d</mi><mi>t</mi></mrow></mfrac>",
    )


def evaluate(text: str, names: Sequence[str], X: np.ndarray) -> np.ndarray | None:
    """Values ``[sample]`` of ``text`` at ``X`` ``[sample, len(names)]``; ``None`` if it
    does not parse."""
    try:
        expr = parse_expression(text, names)
    except ExpressionError:
        return None
    return np.array(numpy_function(expr, names)(X), dtype=float)


def model_equation_math(text: str, unknown_functions: dict[str, int]) -> Math:
    """The right-hand side of an ``ode`` model's equation from its config as :class:`Math`.

    Every plain name in ``text`` counts as declared (states, parameters, forcings);
    calls to ``unknown_functions`` (the neural slots) stay as functions. Plain text only
    when the string does not parse.
    """
    try:
        tree = ast.parse(text.replace("^", "**"), mode="eval")
    except SyntaxError:
        return Math(None, text)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names -= set(unknown_functions) | set(MATH_FUNCTIONS) | set(MATH_CONSTANTS)
    try:
        return expression_math(parse_expression(text, sorted(names), unknown_functions), text)
    except ExpressionError:
        return Math(None, text)


def model_equation_latex(text: str, unknown_functions: dict[str, int]) -> str | None:
    """LaTeX of :func:`model_equation_math` (``None`` when ``text`` does not parse)."""
    return model_equation_math(text, unknown_functions).latex
