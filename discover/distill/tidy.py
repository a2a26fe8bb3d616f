"""Readable forms of a distilled expression: integer exponents, ``sympy.simplify`` within
a time limit, ``-Max(-a, -b)`` as ``Min(a, b)``."""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sympy

from discover.distill.constants import parametrise, substitute
from discover.distill.pareto import expression_complexity

SIMPLIFY_MAX_COMPLEXITY = 40
"""Larger expressions skip ``sympy.simplify`` (it can take minutes on them)."""

SYMPY_TIMEOUT_S = 2.0
"""Longest a single sympy simplification may take before it is abandoned."""

TIDIED_FORMS = 4096
"""Most templates whose simplification is remembered (:func:`_transformed`): candidates
of one form, from several engines, restarts or fits, are simplified once."""


def integer_exponents(expr: sympy.Expr) -> sympy.Expr:
    """Integer-valued float exponents become integers (``x**2.0`` → ``x**2``): an integer
    exponent belongs to the form. Every other float was fitted and stays a float, whatever
    its value (``1.0*x`` keeps its scale, which stays trainable when reinserted)."""
    return expr.replace(
        lambda node: (
            isinstance(node, sympy.Pow)
            and isinstance(node.exp, sympy.Float)
            and float(node.exp).is_integer()
        ),
        lambda node: sympy.Pow(node.base, sympy.Integer(int(node.exp))),
    )


def tidy(expr: sympy.Expr) -> sympy.Expr:
    """:func:`integer_exponents`, then ``sympy.simplify`` for expressions of moderate size
    (kept only when it does not grow the expression).

    Simplification works on the expression with its floats replaced by placeholder
    symbols (sympy's polynomial algorithms can take minutes on float coefficients).
    """
    expr = integer_exponents(expr)
    if expression_complexity(expr) <= SIMPLIFY_MAX_COMPLEXITY:
        simpler = _symbolically(sympy.simplify, expr)
        if expression_complexity(simpler) <= expression_complexity(expr):
            expr = simpler
    return expr.replace(_negated_extremum, _flip_extremum)


def _negated_extremum(expr: sympy.Basic) -> bool:
    """``-Max(a, b)`` or ``-Min(a, b)``."""
    return (
        isinstance(expr, sympy.Mul)
        and len(expr.args) == 2
        and expr.args[0] == -1
        and isinstance(expr.args[1], sympy.Min | sympy.Max)
    )


def _flip_extremum(expr: sympy.Mul) -> sympy.Expr:
    """``-Max(a, b)`` → ``Min(-a, -b)`` (and ``-Min`` → ``Max``) when that is shorter, as
    it is when the arguments are themselves negated."""
    inner = expr.args[1]
    other = sympy.Max if isinstance(inner, sympy.Min) else sympy.Min
    flipped = other(*(-arg for arg in inner.args))
    return flipped if expression_complexity(flipped) < expression_complexity(expr) else expr


def _symbolically(transform: Callable[[sympy.Expr], sympy.Expr], expr: sympy.Expr) -> sympy.Expr:
    """Apply ``transform`` to ``expr`` with its floats held as placeholder symbols; give up
    (return ``expr``) after :data:`SYMPY_TIMEOUT_S` seconds, or when the result writes a
    fitted constant more often than ``expr`` does: each copy would be refitted on its own,
    a constant the form does not have (``a*x - b*x**2 - c*x/(x + K)`` simplified to
    ``x*((a - b*x)*(x + K) - c)/(x + K)`` comes back from a refit with two values of
    ``K``)."""
    template, placeholders, values = parametrise(expr)
    transformed = _transformed(transform, template)
    if transformed is None:
        return expr
    return substitute(transformed, placeholders, values)


@functools.lru_cache(maxsize=TIDIED_FORMS)
def _transformed(
    transform: Callable[[sympy.Expr], sympy.Expr], template: sympy.Expr
) -> sympy.Expr | None:
    """``transform(template)`` for a :func:`~discover.distill.constants.parametrise`
    template, or ``None`` when it times out or writes a placeholder more often than
    ``template`` does (see :func:`_symbolically`). It depends on the template alone, so
    it is remembered."""
    try:
        with time_limit(SYMPY_TIMEOUT_S):
            transformed = transform(template)
    except SympyTimeout:
        return None
    if any(transformed.count(p) > template.count(p) for p in template.atoms(sympy.Dummy)):
        return None
    return transformed


class SympyTimeout(Exception):
    """A sympy transformation ran out of its :func:`time_limit`."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (a SIGALRM timer; only possible in the main
    thread, elsewhere the block runs unlimited)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise SympyTimeout

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
