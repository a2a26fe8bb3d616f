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
from discover.distill.postprocess import mse
from discover.processes.base import OutputRange

EXCESS_WEIGHT = 1e4
"""Weight of a sample's squared excess over the range against its squared error in the
refit: large enough that the refit stays inside to within a small fraction of its error,
without the discontinuity of a hard constraint."""

SIGNIFICANT_DIGITS = 4
"""Significant digits the refitted constants keep."""


def fit_within(
    expr: sympy.Expr,
    names: Sequence[str],
    X: np.ndarray,
    y: np.ndarray,
    bounds: OutputRange,
) -> tuple[sympy.Expr, float] | None:
    """``expr`` with its float constants refitted to the samples (``X`` [samples,
    len(names)], ``y`` [samples]) while their excess over ``bounds`` (ends at each sample;
    ends set by inputs not among ``names`` are ignored) is weighted :data:`EXCESS_WEIGHT`;
    returns it with its mean squared error on ``y``, or ``None`` when it has no constant
    or the refit fails."""
    template = Template(expr, names, X, y)
    if not len(template.values):
        return None
    low, high = bounds.restricted_to(names).limits(dict(zip(names, X.T, strict=True)))
    weight = float(np.sqrt(EXCESS_WEIGHT))

    def residuals(theta: np.ndarray) -> np.ndarray:
        pred = template.predict(theta)
        parts = [pred - y]
        if high is not None:
            parts.append(weight * np.maximum(pred - high, 0.0))
        if low is not None:
            parts.append(weight * np.maximum(low - pred, 0.0))
        out = np.concatenate(parts)
        return np.where(np.isfinite(out), out, 1e10)

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            fit = least_squares(residuals, template.values, method="trf", max_nfev=400)
    except (ValueError, FloatingPointError, OverflowError, ZeroDivisionError):
        return None
    rounded = np.array([float(f"{v:.{SIGNIFICANT_DIGITS}g}") for v in fit.x])
    expression = template.expression(rounded)
    loss = mse(expression, names, X, y)
    return (expression, loss) if np.isfinite(loss) else None
