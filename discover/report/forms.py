"""Comparing a discovered equation with a reference (the planted truth, the textbook):
its constants when both are products of powers, and its agreement on the probed samples."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import sympy

from discover.expressions import ExpressionError, parse_expression


def monomial(expr: sympy.Expr) -> tuple[float, dict[str, float]] | None:
    """``(factor, {input: exponent})`` of ``c·x^a·y^b``; ``None`` for any other form."""
    factor, rest = expr.as_coeff_Mul()
    powers: dict[str, float] = {}
    for base, exponent in rest.as_powers_dict().items():
        if not (isinstance(base, sympy.Symbol) and exponent.is_number):
            return None
        powers[base.name] = float(exponent)
    return float(factor), powers


def constant_sentences(found: str, reference: str, names: Sequence[str], what: str) -> list[str]:
    """``exponent of soil_wetness: found 0.638, planted 0.5`` for every constant of two
    products of powers over the same inputs; empty when the forms differ."""
    try:
        ours = monomial(parse_expression(found, names))
        theirs = monomial(parse_expression(reference, names))
    except ExpressionError:
        return []
    if ours is None or theirs is None or set(ours[1]) != set(theirs[1]):
        return []
    pairs = [("factor", ours[0], theirs[0])]
    pairs += [(f"exponent of {name}", ours[1][name], theirs[1][name]) for name in ours[1]]
    return [
        f"{constant}: found {a:.3g}, {what} {b:.3g}"
        for constant, a, b in pairs
        if not a == b == 1.0
    ]


def agreement(values: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """``(R², RMSE)`` of ``values`` against ``reference`` ``[sample]`` over finite pairs
    (R² = 1 − SSE/SST of the reference; NaN when it does not vary)."""
    finite = np.isfinite(values) & np.isfinite(reference)
    if not finite.any():
        return math.nan, math.nan
    error = values[finite] - reference[finite]
    spread = float(np.var(reference[finite]))
    rmse = float(np.sqrt(np.mean(error**2)))
    return (1.0 - rmse**2 / spread if spread > 0 else math.nan), rmse
