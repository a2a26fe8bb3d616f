"""Make engine output readable: simplify, merge constants, refit them, round them.

Every function here takes the samples an expression was fitted to: ``X`` of shape
``[samples, len(names)]`` and ``y`` of shape ``[samples]``; losses are mean squared errors
in squared output units.
"""

from __future__ import annotations

import signal
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import sympy
from scipy.optimize import least_squares

from discover.distill.pareto import expression_complexity

SIMPLIFY_MAX_COMPLEXITY = 40
"""Larger expressions skip ``sympy.simplify`` (it can take minutes on them)."""

MAX_DIGITS = 6

SYMPY_TIMEOUT_S = 2.0
"""Longest a single sympy simplification may take before it is abandoned."""

TRIAL_EVALUATIONS = 40
"""Function evaluations allowed to refit the other constants after fixing or rounding one."""

POLISH_SAMPLES = 500
"""Merging and rounding decisions use at most this many (evenly spaced) samples."""

REDUNDANCY_TOLERANCE = 1e-6
"""A constant is redundant when the part of its sensitivity that the other constants'
sensitivities cannot reproduce is at most this share (relative norm, see
:func:`merge_constants`)."""


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
    pred = numpy_function(expr, names)(points)
    if not np.all(np.isfinite(pred)):
        return True
    width = float(np.ptp(y))
    if width == 0:
        return False
    limit = BLOW_UP_FACTOR * width
    return bool(np.any(pred < y.min() - limit) or np.any(pred > y.max() + limit))


def numpy_function(expr: sympy.Expr, names: Sequence[str]) -> Callable[[np.ndarray], np.ndarray]:
    """Compile ``expr`` to ``f(X) -> [samples]`` for ``X`` of shape ``[samples, len(names)]``."""
    symbols = [sympy.Symbol(n, real=True) for n in names]
    raw = sympy.lambdify(symbols, expr, modules="numpy")

    def evaluate(X: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = raw(*(X[:, j] for j in range(X.shape[1])))
        return np.broadcast_to(np.asarray(out, dtype=float), (X.shape[0],))

    return evaluate


def mse(expr: sympy.Expr, names: Sequence[str], X: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of ``expr`` on the samples; ``inf`` when not finite or not real."""
    pred = numpy_function(expr, names)(X)
    with np.errstate(all="ignore"):
        loss = float(np.mean((pred - y) ** 2))
    return loss if np.isfinite(loss) else float("inf")


def parametrise(expr: sympy.Expr) -> tuple[sympy.Expr, list[sympy.Dummy], list[float]]:
    """Replace every float occurrence by its own placeholder symbol.

    Returns the template, the placeholders and their values, in traversal order.
    """
    placeholders: list[sympy.Dummy] = []
    values: list[float] = []

    def walk(node: sympy.Basic) -> sympy.Basic:
        if isinstance(node, sympy.Float):
            placeholders.append(sympy.Dummy(f"c{len(placeholders)}", real=True))
            values.append(float(node))
            return placeholders[-1]
        if not node.args or isinstance(node, sympy.Symbol | sympy.Number):
            return node
        return node.func(*(walk(arg) for arg in node.args), evaluate=False)

    return walk(expr), placeholders, values


def substitute(template: sympy.Expr, placeholders: Sequence[sympy.Dummy], values) -> sympy.Expr:
    """Put ``values`` in for ``placeholders`` (sympy then merges constant products)."""
    return template.xreplace(
        {p: sympy.Float(float(v), 15) for p, v in zip(placeholders, values, strict=True)}
    )


class _Template:
    """An expression with its floats as a parameter vector, compiled once for fast refits."""

    def __init__(self, expr: sympy.Expr, names: Sequence[str], X: np.ndarray, y: np.ndarray):
        self.template, self.placeholders, values = parametrise(expr)
        self.values = np.asarray(values, dtype=float)
        self.y = y
        self._columns = [X[:, j] for j in range(X.shape[1])]
        symbols = [sympy.Symbol(n, real=True) for n in names]
        self._raw = sympy.lambdify([self.placeholders, *symbols], self.template, modules="numpy")

    def predict(self, theta: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self._raw(theta, *self._columns)
            return np.broadcast_to(np.asarray(out, dtype=float), self.y.shape)

    def loss(self, theta: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            value = float(np.mean((self.predict(theta) - self.y) ** 2))
        return value if np.isfinite(value) else float("inf")

    def refit(
        self, theta: np.ndarray, free: np.ndarray, max_nfev: int = 200
    ) -> tuple[np.ndarray, float]:
        """Least-squares refit of the entries of ``theta`` where ``free``; returns the better
        of the refitted and the given vector, with its loss."""
        start_loss = self.loss(theta)
        if not free.any():
            return theta, start_loss

        def residuals(params: np.ndarray) -> np.ndarray:
            full = theta.copy()
            full[free] = params
            res = self.predict(full) - self.y
            return np.where(np.isfinite(res), res, 1e10)

        method = "lm" if free.sum() <= len(self.y) else "trf"
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                fit = least_squares(residuals, theta[free], method=method, max_nfev=max_nfev)
        except (ValueError, FloatingPointError, OverflowError, ZeroDivisionError):
            return theta, start_loss
        fitted = theta.copy()
        fitted[free] = fit.x
        loss = self.loss(fitted)
        return (fitted, loss) if loss < start_loss else (theta, start_loss)

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """Sensitivities of the predictions to each constant, ``[samples, constants]``
        (central differences)."""
        columns = []
        for i in range(len(theta)):
            step = 1e-6 * max(1.0, abs(theta[i]))
            up, down = theta.copy(), theta.copy()
            up[i] += step
            down[i] -= step
            columns.append((self.predict(up) - self.predict(down)) / (2 * step))
        return np.stack(columns, axis=1) if columns else np.empty((len(self.y), 0))

    @staticmethod
    def redundant(jacobian: np.ndarray, i: int, free: np.ndarray) -> bool:
        """Whether constant ``i`` is redundant where ``jacobian`` (:meth:`jacobian`,
        ``[samples, constants]``) was taken: any small change in it can be absorbed by the
        other ``free`` constants (its column lies in the span of theirs, within
        :data:`REDUNDANCY_TOLERANCE`), as a scale shared by a numerator and a denominator is."""
        if not np.all(np.isfinite(jacobian)):
            return False
        column = jacobian[:, i]
        norm = float(np.linalg.norm(column))
        if norm == 0:
            return True
        others = jacobian[:, free & (np.arange(len(free)) != i)]
        if others.shape[1] == 0:
            return False
        coef, *_ = np.linalg.lstsq(others, column, rcond=None)
        return float(np.linalg.norm(column - others @ coef)) <= REDUNDANCY_TOLERANCE * norm

    def expression(self, theta: np.ndarray, exact: np.ndarray | None = None) -> sympy.Expr:
        """The expression with ``theta`` put in; entries where ``exact`` become integers."""
        if exact is None or not exact.any():
            return substitute(self.template, self.placeholders, theta)
        integers = {
            p: sympy.Integer(int(round(v)))
            for p, v, e in zip(self.placeholders, theta, exact, strict=True)
            if e
        }
        return substitute(
            self.template.xreplace(integers),
            [p for p, e in zip(self.placeholders, exact, strict=True) if not e],
            theta[~exact],
        )


def refit_constants(
    expr: sympy.Expr, names: Sequence[str], X: np.ndarray, y: np.ndarray
) -> tuple[sympy.Expr, float]:
    """Least-squares refit of every float constant, starting from the current values.

    Returns the better of the refitted and the original expression with its loss.
    """
    template = _Template(expr, names, X, y)
    theta, loss = template.refit(template.values, np.ones(len(template.values), dtype=bool))
    return template.expression(theta), loss


def merge_constants(
    expr: sympy.Expr,
    names: Sequence[str],
    X: np.ndarray,
    y: np.ndarray,
    reference_loss: float,
    tolerance: float = 0.01,
) -> tuple[sympy.Expr, float]:
    """Remove redundant constants and negligible terms; the fixed constants become the
    integers 1, 0 or -1 of the form.

    Each float in turn is tried as 1, 0 and -1 and the change kept when the loss, the
    other constants refitted, stays within ``(1 + tolerance) * reference_loss`` and

    - the constant is redundant (the others can absorb any change in it, see
      :meth:`_Template.redundant`): redundant scalings such as
      ``6.008*x/(6.006*x + 6.009)`` collapse to ``x/(x + c)``; or
    - the trial is 0 and zeroing the constant alone, the others as they are, already
      keeps the loss within the limit: it carries a negligible term.

    A constant that the others can only make up for approximately is kept: a fitted scale
    of 0.9 in ``0.9*x*y`` is not traded for an exponent (``x*y**0.87``), and an exponent
    of 0.85 is not set to 1 by moving another. Rounding (:func:`round_constants`) may still
    snap exponents close to integers.
    """
    template = _Template(expr, names, X, y)
    theta, loss = template.values.copy(), template.loss(template.values)
    free = np.ones(len(theta), dtype=bool)
    limit = (1 + tolerance) * reference_loss
    jacobian = template.jacobian(theta)  # taken again only when theta changes
    for i in range(len(theta)):
        redundant = template.redundant(jacobian, i, free)
        for trial in (1.0, 0.0, -1.0):
            fixed = theta.copy()
            fixed[i] = trial
            negligible = trial == 0.0 and template.loss(fixed) <= limit
            if not (redundant or negligible):
                continue
            free[i] = False
            fitted, fitted_loss = template.refit(fixed, free, max_nfev=TRIAL_EVALUATIONS)
            if fitted_loss <= limit:
                theta, loss = fitted, fitted_loss
                jacobian = template.jacobian(theta)
                break
            free[i] = True
    return template.expression(theta, exact=~free), loss


def round_constants(
    expr: sympy.Expr,
    names: Sequence[str],
    X: np.ndarray,
    y: np.ndarray,
    reference_loss: float,
    tolerance: float = 0.01,
) -> tuple[sympy.Expr, float]:
    """Round each float, one after another, to the fewest significant digits (1 to 6) that
    keep the loss within ``(1 + tolerance) * reference_loss`` once the constants not yet
    rounded are refitted around it."""
    template = _Template(expr, names, X, y)
    theta, loss = template.values.copy(), template.loss(template.values)
    limit = (1 + tolerance) * reference_loss
    free = np.ones(len(theta), dtype=bool)
    for i in range(len(theta)):
        free[i] = False
        for digits in range(1, MAX_DIGITS + 1):
            trial = theta.copy()
            trial[i] = float(f"{theta[i]:.{digits - 1}e}")
            trial, trial_loss = template.refit(trial, free, max_nfev=TRIAL_EVALUATIONS)
            if trial_loss <= limit:
                theta, loss = trial, trial_loss
                break
    return template.expression(theta), loss


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
    (return ``expr``) after :data:`SYMPY_TIMEOUT_S` seconds."""
    template, placeholders, values = parametrise(expr)
    try:
        with _time_limit(SYMPY_TIMEOUT_S):
            transformed = transform(template)
    except _Timeout:
        return expr
    return substitute(transformed, placeholders, values)


class _Timeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (a SIGALRM timer; only possible in the main
    thread, elsewhere the block runs unlimited)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def polish(
    expr: sympy.Expr,
    names: Sequence[str],
    X: np.ndarray,
    y: np.ndarray,
    tolerance: float = 0.01,
) -> tuple[sympy.Expr, float] | None:
    """Simplify, refit, merge redundant constants, round and tidy one candidate.

    A rational function is also tried in the form ``N/D`` (``sympy.cancel``, which also
    removes a scale common to ``N`` and ``D``) and the simpler result is kept.

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
            with _time_limit(SYMPY_TIMEOUT_S):
                fraction = sympy.cancel(sympy.together(expr))
            results.append(_polish_one(fraction, names, X, y, tolerance))
        except _Timeout:
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
