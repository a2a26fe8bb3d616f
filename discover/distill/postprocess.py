"""Make engine output readable (:func:`polish`: refit the constants, merge and round them
with :mod:`discover.distill.constants`, tidy with :mod:`discover.distill.tidy`), and
evaluate expressions on samples (:func:`numpy_function`, :func:`mse`, :func:`blows_up`).

Every function here takes the samples an expression was fitted to: ``X`` of shape
``[samples, len(names)]`` and ``y`` of shape ``[samples]``; losses are mean squared errors
in squared output units.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import sympy

from discover.distill.constants import merge_constants, refit_constants, round_constants
from discover.distill.pareto import expression_complexity
from discover.distill.tidy import SYMPY_TIMEOUT_S, SympyTimeout, tidy, time_limit

__all__ = [
    "blows_up",
    "merge_constants",
    "mse",
    "numpy_function",
    "polish",
    "refit_constants",
    "round_constants",
    "tidy",
]


POLISH_SAMPLES = 500
"""Merging and rounding decisions use at most this many (evenly spaced) samples."""


COMPILED_EXPRESSIONS = 1024
"""Most expressions whose compiled functions :func:`numpy_function` keeps."""

BLOW_UP_WIDEN = 0.25
"""The box checked by :func:`blows_up` is the samples' box widened by this share of each
input's span on each side (not below 0 for an input never negative)."""

BLOW_UP_FACTOR = 10.0
"""A candidate blows up when it leaves the target's range by more than this many times
the range's width somewhere on the widened box."""

BLOW_UP_POINTS = 4000
"""Random points (fixed seed) at which :func:`blows_up` evaluates a candidate."""


def blows_up(expr: sympy.Expr, names: Sequence[str], X: np.ndarray, y: np.ndarray) -> bool:
    """Whether ``expr`` has a pole or a blow-up just outside the samples.

    ``expr`` is evaluated at :data:`BLOW_UP_POINTS` random points of the samples' box widened
    by :data:`BLOW_UP_WIDEN` (clipped at 0 for inputs that are never negative); it blows up
    when a value is not finite or lies further than :data:`BLOW_UP_FACTOR` x the width of
    the range of ``y`` outside that range (``1/(x - 0.5)`` fitted on ``x`` in ``[1, 10]``).
    Applied to every engine's candidates before the Pareto front is built.
    """
    low, high = X.min(axis=0), X.max(axis=0)
    span = high - low
    wide_low = np.where(
        low >= 0, np.maximum(low - BLOW_UP_WIDEN * span, 0), low - BLOW_UP_WIDEN * span
    )
    wide_high = high + BLOW_UP_WIDEN * span
    points = np.random.default_rng(0).uniform(wide_low, wide_high, (BLOW_UP_POINTS, X.shape[1]))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # judged below
        pred = numpy_function(expr, names)(points)
    if not np.all(np.isfinite(pred)):
        return True
    width = float(np.ptp(y))
    if width == 0:
        return False
    limit = BLOW_UP_FACTOR * width
    return bool(np.any(pred < y.min() - limit) or np.any(pred > y.max() + limit))


def numpy_function(expr: sympy.Expr, names: Sequence[str]) -> Callable[[np.ndarray], np.ndarray]:
    """Compile ``expr`` to ``f(X) -> [samples]`` for ``X`` of shape ``[samples, len(names)]``
    (once per expression: a candidate is evaluated by several checks)."""
    raw = _lambdified(expr, tuple(names))

    def evaluate(X: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = raw(*(X[:, j] for j in range(X.shape[1])))
        return np.broadcast_to(np.asarray(out, dtype=float), (X.shape[0],))

    return evaluate


@functools.lru_cache(maxsize=COMPILED_EXPRESSIONS)
def _lambdified(expr: sympy.Expr, names: tuple[str, ...]) -> Callable:
    symbols = [sympy.Symbol(n, real=True) for n in names]
    return sympy.lambdify(symbols, expr, modules="numpy")


def mse(expr: sympy.Expr, names: Sequence[str], X: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of ``expr`` on the samples; ``inf`` when not finite or not real."""
    pred = numpy_function(expr, names)(X)
    with np.errstate(all="ignore"):
        loss = float(np.mean((pred - y) ** 2))
    return loss if np.isfinite(loss) else float("inf")


def polish(
    expr: sympy.Expr,
    names: Sequence[str],
    X: np.ndarray,
    y: np.ndarray,
    tolerance: float = 0.01,
) -> tuple[sympy.Expr, float] | None:
    """Simplify, refit, merge redundant constants, round and tidy one candidate.

    A rational function is also tried in the form ``N/D`` (``sympy.cancel``, which also
    removes a scale common to ``N`` and ``D``) and the simpler result is kept; one already
    in that form is polished once.

    Args:
        expr: the engine's expression over ``names``.
        tolerance: relative loss increase allowed for merging and rounding constants,
            measured against the refitted loss (the final loss stays within it).

    Returns:
        ``(expression, loss)``, or ``None`` when the expression cannot be evaluated.
    """
    results = [_polish_one(expr, names, X, y, tolerance)]
    symbols = [sympy.Symbol(n, real=True) for n in names]
    if expr.is_rational_function(*symbols) and len(expr.free_symbols) > 0:
        try:  # with its float coefficients, so that sympy normalises away a common scale
            with time_limit(SYMPY_TIMEOUT_S):
                fraction = sympy.cancel(sympy.together(expr))
            if fraction != expr:
                results.append(_polish_one(fraction, names, X, y, tolerance))
        except SympyTimeout:
            pass
    results = [r for r in results if r is not None]
    if not results:
        return None
    return min(results, key=lambda r: (expression_complexity(r[0]), r[1]))


def _polish_one(
    expr: sympy.Expr, names: Sequence[str], X: np.ndarray, y: np.ndarray, tolerance: float
) -> tuple[sympy.Expr, float] | None:
    if _broken(expr):
        return None
    expr, loss = refit_constants(expr, names, X, y)
    if not np.isfinite(loss):
        return None
    step = max(1, len(y) // POLISH_SAMPLES)
    Xs, ys = X[::step], y[::step]
    loss = mse(expr, names, Xs, ys)
    expr, _ = merge_constants(expr, names, Xs, ys, loss, tolerance)
    expr, _ = round_constants(expr, names, Xs, ys, loss, tolerance)
    expr = tidy(expr)
    if _broken(expr):
        return None
    final = mse(expr, names, X, y)
    return (expr, final) if np.isfinite(final) else None


def _broken(expr: sympy.Expr) -> bool:
    return bool(expr.has(sympy.zoo, sympy.nan, sympy.I, sympy.oo, -sympy.oo))
