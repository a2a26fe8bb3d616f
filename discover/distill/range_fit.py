"""Constants of a candidate refitted so that it stays within its slot's output range.

A network held within ``0 <= out <= pet`` saturates at ``pet``; a form that cannot
saturate (``pet·(a·SW + b)``), fitted by plain least squares, crosses the end where the
network bends to it, and the range filter of :func:`~discover.distill.api.symbolic_fit`
would drop it, however well the form describes the rest. Refitted with every sample's
excess over the range weighted heavily, the same form gives up a little error for
staying inside, and is judged like any other candidate.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import sympy
from scipy.optimize import least_squares

from discover.distill.constants import Template
from discover.distill.postprocess import mse, numpy_function
from discover.processes.base import OutputRange

EXCESS_WEIGHTS = (1e4, 1e6, 1e8)
"""Weights of a sample's squared excess over the range against its squared error, tried
in turn until the refit stays inside on every sample (the smallest keeps the most of the
fit; each is large enough to leave at most a small fraction of the error outside)."""

SIGNIFICANT_DIGITS = (4, 6)
"""Significant digits the refitted constants keep: the fewest that stay inside."""

RTOL = 1e-6
"""Relative slack of an end, as in the range checks that selection applies."""


def leaves(expr: sympy.Expr, names: Sequence[str], X: np.ndarray, bounds: OutputRange) -> bool:
    """Whether ``expr`` leaves ``bounds`` (ends set by inputs not among ``names`` ignored)
    at any of the samples ``X`` [samples, len(names)] by more than :data:`RTOL`."""
    bounds = bounds.restricted_to(names)
    if not bounds.bounded:
        return False
    inputs = dict(zip(names, X.T, strict=True))
    return bool(bounds.outside(numpy_function(expr, names)(X), inputs, RTOL).any())


def fit_within(
    expr: sympy.Expr,
    names: Sequence[str],
    X: np.ndarray,
    y: np.ndarray,
    bounds: OutputRange,
    beyond: np.ndarray | None = None,
) -> tuple[sympy.Expr, float] | None:
    """``expr`` with its float constants refitted to the samples (``X`` [samples,
    len(names)], ``y`` [samples]) while their excess over ``bounds`` (ends at each sample
    and at the points ``beyond`` [points, len(names)], e.g. where the range checks look;
    ends set by inputs not among ``names`` are ignored) is weighted by each of
    :data:`EXCESS_WEIGHTS` in turn until it stays inside; returns the refit with its mean
    squared error on ``y`` (possibly still a little outside: :func:`leaves` tells), or
    ``None`` when it has no constant or the refit fails."""
    everywhere = X if beyond is None else np.vstack([X, beyond])
    template = Template(expr, names, everywhere, np.zeros(len(everywhere)))
    if not len(template.values):
        return None
    low, high = bounds.restricted_to(names).limits(dict(zip(names, everywhere.T, strict=True)))
    theta, expression = template.values, expr
    for weight in EXCESS_WEIGHTS:
        theta = _weighted_fit(template, theta, y, low, high, float(np.sqrt(weight)))
        if theta is None:
            return None
        for digits in SIGNIFICANT_DIGITS:
            expression = template.expression(np.array([float(f"{v:.{digits}g}") for v in theta]))
            if not leaves(expression, names, everywhere, bounds):
                break
        else:
            continue
        break
    loss = mse(expression, names, X, y)
    return (expression, loss) if np.isfinite(loss) else None


def _weighted_fit(
    template: Template, theta: np.ndarray, y: np.ndarray, low: object, high: object, weight: float
) -> np.ndarray | None:
    """Least squares from ``theta`` of the template's errors on ``y`` (its first
    ``len(y)`` points) and ``weight`` times its excess over the ends ``low``/``high``
    (numbers, arrays [points] or ``None``) at all its points."""

    def residuals(values: np.ndarray) -> np.ndarray:
        pred = template.predict(values)
        parts = [pred[: len(y)] - y]
        if high is not None:
            parts.append(weight * np.maximum(pred - high, 0.0))
        if low is not None:
            parts.append(weight * np.maximum(low - pred, 0.0))
        out = np.concatenate(parts)
        return np.where(np.isfinite(out), out, 1e10)

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return least_squares(residuals, theta, method="trf", max_nfev=400).x
    except (ValueError, FloatingPointError, OverflowError, ZeroDivisionError):
        return None
