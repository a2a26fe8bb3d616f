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
from discover.validate.checks import RTOL

EXCESS_WEIGHTS = (1e4, 1e6, 1e8)
"""Weights of a sample's squared excess over the range against its squared error, tried
in turn until the refit stays inside on every sample (the smallest keeps the most of the
fit; each is large enough to leave at most a small fraction of the error outside)."""

SIGNIFICANT_DIGITS = (4, 6, 17)
"""Significant digits the refitted constants keep: the fewest that stay inside (17: all of
them, for a refit that rounding at 6 digits would push across an end by more than the
range's slack)."""


def leaves(expr: sympy.Expr, names: Sequence[str], X: np.ndarray, bounds: OutputRange) -> bool:
    """Whether ``expr`` leaves ``bounds`` (ends set by inputs not among ``names`` ignored)
    at any of the samples ``X`` [samples, len(names)] by more than the range checks'
    slack (:data:`~discover.validate.checks.RTOL`)."""
    bounds = bounds.restricted_to(names)
    if not bounds.bounded:
        return False
    inputs = dict(zip(names, X.T, strict=True))
    return bool(bounds.outside(numpy_function(expr, names)(X), inputs, RTOL).any())


def leaves_anywhere(
    expr: sympy.Expr,
    names: Sequence[str],
    X: np.ndarray,
    bounds: OutputRange,
    beyond: np.ndarray | None = None,
) -> bool:
    """Whether ``expr`` leaves ``bounds`` at a sample of ``X`` or an end that an input sets
    at a point ``beyond`` [points, len(names)] (:func:`leaves`)."""
    if leaves(expr, names, X, bounds):
        return True
    return beyond is not None and leaves(expr, names, beyond, bounds.set_by_inputs())


def fit_within(
    expr: sympy.Expr,
    names: Sequence[str],
    X: np.ndarray,
    y: np.ndarray,
    bounds: OutputRange,
    beyond: np.ndarray | None = None,
) -> tuple[sympy.Expr, float] | None:
    """``expr`` with its float constants refitted to the samples (``X`` [samples,
    len(names)], ``y`` [samples]) while their excess over ``bounds`` is weighted by each of
    :data:`EXCESS_WEIGHTS` in turn until it stays inside; returns the refit with its mean
    squared error on ``y`` (possibly still a little outside: :func:`leaves_anywhere`
    tells), or ``None`` when it has no constant or the refit fails.

    The excess counts at every sample and, for the ends that inputs set (``out <= pet``),
    at the points ``beyond`` [points, len(names)] (e.g. where the range checks look): such
    an end moves with its input, so a form can cross it just beyond the samples (ET above
    PET in wetter soil than sampled), whereas a constant end crossed only far outside them
    (an outflow below 0 at a negative storage) would bend the form's fit to the data for
    points where it is not meant to hold. Ends set by inputs not among ``names`` are
    ignored."""
    everywhere = X if beyond is None else np.vstack([X, beyond])
    template = Template(expr, names, everywhere, np.zeros(len(everywhere)))
    if not len(template.values):
        return None
    low, high = _ends(names, X, bounds)
    if beyond is not None:
        far_low, far_high = _ends(names, beyond, bounds.set_by_inputs())
        low, high = np.concatenate([low, far_low]), np.concatenate([high, far_high])
    theta, expression = template.values, expr
    for weight in EXCESS_WEIGHTS:
        theta = _weighted_fit(template, theta, y, low, high, float(np.sqrt(weight)))
        if theta is None:
            return None
        for digits in SIGNIFICANT_DIGITS:
            expression = template.expression(np.array([float(f"{v:.{digits}g}") for v in theta]))
            if not leaves_anywhere(expression, names, X, bounds, beyond):
                break
        else:
            continue
        break
    loss = mse(expression, names, X, y)
    return (expression, loss) if np.isfinite(loss) else None


def _ends(
    names: Sequence[str], X: np.ndarray, bounds: OutputRange
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper end of ``bounds`` at each point of ``X`` [points] (∓inf if open)."""
    low, high = bounds.restricted_to(names).limits(dict(zip(names, X.T, strict=True)))
    n = len(X)
    return (
        np.broadcast_to(-np.inf if low is None else np.asarray(low, float), (n,)),
        np.broadcast_to(np.inf if high is None else np.asarray(high, float), (n,)),
    )


def _weighted_fit(
    template: Template,
    theta: np.ndarray,
    y: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    weight: float,
) -> np.ndarray | None:
    """Least squares from ``theta`` of the template's errors on ``y`` (its first
    ``len(y)`` points) and ``weight`` times its excess over the ends ``low``/``high``
    [points] (±inf where open) at all its points."""

    def residuals(values: np.ndarray) -> np.ndarray:
        pred = template.predict(values)
        excess = np.maximum(pred - high, 0.0) + np.maximum(low - pred, 0.0)
        out = np.concatenate([pred[: len(y)] - y, weight * excess])
        return np.where(np.isfinite(out), out, 1e10)

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return least_squares(residuals, theta, method="trf", max_nfev=400).x
    except (ValueError, FloatingPointError, OverflowError, ZeroDivisionError):
        return None
