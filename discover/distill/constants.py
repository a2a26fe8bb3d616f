"""Fitted constants of an engine's expression: refit them, merge redundant ones into the
integers of the form, round them.

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
from scipy.optimize import least_squares

MAX_DIGITS = 6
"""Most significant digits :func:`round_constants` keeps."""

TRIAL_EVALUATIONS = 40
"""Function evaluations allowed to refit the other constants after fixing or rounding one."""

COMPILED_FORMS = 4096
"""Most templates whose compiled functions are kept (:func:`compiled`): one form's
candidates, from several engines, restarts or fits, and every step of their polishing,
share one."""

REDUNDANCY_TOLERANCE = 1e-6
"""A constant is redundant when the part of its sensitivity that the other constants'
sensitivities cannot reproduce is at most this share (relative norm, see
:func:`merge_constants`)."""


@functools.cache
def placeholder(i: int) -> sympy.Dummy:
    """The placeholder of the ``i``-th float of every :func:`parametrise` template: two
    expressions of one form (the same but for their floats) have equal templates."""
    return sympy.Dummy(f"c{i}", real=True)


def parametrise(expr: sympy.Expr) -> tuple[sympy.Expr, list[sympy.Dummy], list[float]]:
    """Replace every float occurrence by its own placeholder symbol (:func:`placeholder`).

    Returns the template, the placeholders and their values, in traversal order.
    """
    placeholders: list[sympy.Dummy] = []
    values: list[float] = []

    def walk(node: sympy.Basic) -> sympy.Basic:
        if isinstance(node, sympy.Float):
            placeholders.append(placeholder(len(placeholders)))
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


@functools.lru_cache(maxsize=COMPILED_FORMS)
def compiled(template: sympy.Expr, names: tuple[str, ...], constants: int) -> Callable:
    """``f(theta, *columns)`` evaluating a :func:`parametrise` template with ``constants``
    placeholders at the constants ``theta`` [constants] and the input columns (one array
    [samples] per name); compiled once per template (``sympy.lambdify`` takes ~10 ms)."""
    symbols = [sympy.Symbol(n, real=True) for n in names]
    placeholders = [placeholder(i) for i in range(constants)]
    return sympy.lambdify([placeholders, *symbols], template, modules="numpy")


class Template:
    """An expression with its floats as a parameter vector, compiled once for fast refits."""

    def __init__(self, expr: sympy.Expr, names: Sequence[str], X: np.ndarray, y: np.ndarray):
        self.template, self.placeholders, values = parametrise(expr)
        self.values = np.asarray(values, dtype=float)
        self.y = y
        self._columns = [X[:, j] for j in range(X.shape[1])]
        self._raw = compiled(self.template, tuple(names), len(self.placeholders))

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
    template = Template(expr, names, X, y)
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
      :meth:`Template.redundant`): redundant scalings such as
      ``6.008*x/(6.006*x + 6.009)`` collapse to ``x/(x + c)``; or
    - the trial is 0 and zeroing the constant alone, the others as they are, already
      keeps the loss within the limit: it carries a negligible term.

    A constant that the others can only make up for approximately is kept: a fitted scale
    of 0.9 in ``0.9*x*y`` is not traded for an exponent (``x*y**0.87``), and an exponent
    of 0.85 is not set to 1 by moving another. Rounding (:func:`round_constants`) may still
    snap exponents close to integers.
    """
    template = Template(expr, names, X, y)
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
    template = Template(expr, names, X, y)
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
