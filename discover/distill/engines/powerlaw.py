"""Deterministic power laws: products of powers of the inputs, and sums of two of them.

Power laws are everywhere in hydrology (recession ``k·S^n``, HBV recharge ``(SM/FC)^β``,
a demand limited by ``pet·SW^b``). This engine fits, for every subset of the inputs,

- ``c·Π x_i^b_i``: first by least squares on ``log y = log c + Σ b_i log x_i`` over the
  samples where ``y`` and the subset's inputs are positive (each sample weighted by ``y``
  so that errors count as on ``y``), then refined by nonlinear least squares on ``y``
  over every sample (an input that is zero somewhere then keeps a positive exponent);
- the same power law with the exponents that lie near a non-zero integer fixed at it
  (``pet^0.97·SW^0.56`` also as ``c·pet·SW^b``, refitted): a proportionality blurred by
  the samples is then as short as it should be;
- ``c0 + c·Π x_i^b_i`` (a power law over an offset) and ``c1·Π x_i^a_i + c2·Π x_i^b_i``
  (two power laws of the same inputs), refined by nonlinear least squares from the
  single power law.

Candidates are returned for the caller to refit, simplify (``x**0.5`` → ``sqrt(x)``),
round and Pareto-filter: the front then holds power laws of rising complexity.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

import numpy as np
import sympy
from scipy.optimize import least_squares

from discover.distill.engines.base import SearchOptions, register

POSITIVE_SHARE = 0.9
"""Power laws are fitted when at least this share of the targets has one sign."""

MAX_EXPONENT = 8.0
"""Exponents are kept within ``±MAX_EXPONENT`` (larger ones overflow and mean nothing)."""

INTEGER_DISTANCE = 0.1
"""An exponent this close to a non-zero integer is also tried fixed at that integer."""

MIN_GAIN = 0.05
"""A form with an offset or a second term is kept only when it lowers the single power
law's mean squared error by at least this share (else it fits noise)."""

MAX_CANCELLATION = 10.0
"""A sum of two power laws is dropped when its terms are this many times larger than
their sum somewhere (two nearly cancelling terms fit noise, not a law)."""


def _log_linear(X: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """``[log c, b_1, ...]`` of ``y ≈ c·Π X_i^b_i`` by weighted least squares in logs over
    the rows where ``y`` and every column of ``X`` are positive; ``None`` if too few."""
    rows = (y > 0) & np.all(X > 0, axis=1)
    if rows.sum() <= X.shape[1] + 2:
        return None
    A = np.column_stack([np.ones(rows.sum()), np.log(X[rows])])
    weight = y[rows]
    solution, *_ = np.linalg.lstsq(A * weight[:, None], np.log(y[rows]) * weight, rcond=None)
    return solution if np.all(np.isfinite(solution)) else None


def _powers(X: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """``Π X_i^b_i`` per row, ``[samples]`` (``0^b`` is 0 for ``b > 0``)."""
    with np.errstate(all="ignore"):
        return np.prod(np.power(X, exponents), axis=1)


class _Shape:
    """One parametric form over a subset of inputs: its prediction and sympy expression."""

    def __init__(self, kind: str, symbols: Sequence[sympy.Symbol]):
        self.kind, self.symbols = kind, list(symbols)
        self.k = len(symbols)

    def predict(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        k = self.k
        if self.kind == "power":
            return theta[0] * _powers(X, theta[1 : 1 + k])
        if self.kind == "offset":
            return theta[0] + theta[1] * _powers(X, theta[2 : 2 + k])
        return theta[0] * _powers(X, theta[2 : 2 + k]) + theta[1] * _powers(X, theta[2 + k :])

    def cancels(self, theta: np.ndarray, X: np.ndarray) -> bool:
        """Whether the two terms of a sum nearly cancel (see ``MAX_CANCELLATION``)."""
        if self.kind != "sum":
            return False
        k = self.k
        first = np.abs(theta[0] * _powers(X, theta[2 : 2 + k]))
        second = np.abs(theta[1] * _powers(X, theta[2 + k :]))
        total = np.max(np.abs(self.predict(theta, X)))
        return bool(np.max(first + second) > MAX_CANCELLATION * total)

    def expression(self, theta: np.ndarray) -> sympy.Expr:
        k = self.k

        def product(exponents: np.ndarray) -> sympy.Expr:
            return sympy.Mul(
                *(s ** sympy.Float(b) for s, b in zip(self.symbols, exponents, strict=True))
            )

        if self.kind == "power":
            return sympy.Float(theta[0]) * product(theta[1 : 1 + k])
        if self.kind == "offset":
            return sympy.Float(theta[0]) + sympy.Float(theta[1]) * product(theta[2 : 2 + k])
        first = sympy.Float(theta[0]) * product(theta[2 : 2 + k])
        return first + sympy.Float(theta[1]) * product(theta[2 + k :])

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        scales = {"power": 1, "offset": 2, "sum": 2}[self.kind]
        powers = self.k * (2 if self.kind == "sum" else 1)
        low = np.r_[np.full(scales, -np.inf), np.full(powers, -MAX_EXPONENT)]
        return low, -low


class _FixedPower:
    """``c·Π x_i^b_i`` with the exponents in ``fixed`` (input position → integer) held."""

    def __init__(self, symbols: Sequence[sympy.Symbol], fixed: dict[int, int]):
        self.symbols, self.fixed = list(symbols), fixed
        self.free = [i for i in range(len(symbols)) if i not in fixed]

    def exponents(self, theta: np.ndarray) -> np.ndarray:
        full = np.zeros(len(self.symbols))
        full[list(self.fixed)] = list(self.fixed.values())
        full[self.free] = theta[1:]
        return full

    def predict(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        return theta[0] * _powers(X, self.exponents(theta))

    def expression(self, theta: np.ndarray) -> sympy.Expr:
        powers = [
            s ** sympy.Integer(self.fixed[i]) if i in self.fixed else s ** sympy.Float(b)
            for i, (s, b) in enumerate(zip(self.symbols, self.exponents(theta), strict=True))
        ]
        return sympy.Float(theta[0]) * sympy.Mul(*powers)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        low = np.r_[-np.inf, np.full(len(self.free), -MAX_EXPONENT)]
        return low, -low


def _refine(
    shape: _Shape | _FixedPower, theta: np.ndarray, X: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, float] | None:
    """Nonlinear least squares on ``y`` from ``theta``; the fitted vector and its MSE."""
    low, high = shape.bounds()
    start = np.clip(theta, low + 1e-9, high - 1e-9)

    def residuals(params: np.ndarray) -> np.ndarray:
        out = shape.predict(params, X) - y
        return np.where(np.isfinite(out), out, 1e6)

    try:
        fitted = least_squares(residuals, start, bounds=(low, high), max_nfev=200).x
    except (ValueError, np.linalg.LinAlgError):
        return None
    with np.errstate(all="ignore"):
        loss = float(np.mean((shape.predict(fitted, X) - y) ** 2))
    return (fitted, loss) if np.isfinite(loss) else None


@register("powerlaw")
class PowerLawEngine:
    """Power laws ``c·Π x_i^b_i`` over every subset of the inputs, plus an offset or a
    second power-law term (see the module docstring). Deterministic and fast.

    Engine-specific options (``extra``): ``max_inputs`` (most inputs in one product; 3),
    ``two_terms`` (also fit offsets and sums of two power laws; True).
    Operators, restarts and seeds do not apply; the search ends early only when the
    time budget runs out.
    """

    name = "powerlaw"

    def available(self) -> tuple[bool, str]:
        return True, ""

    def search(
        self, X: np.ndarray, y: np.ndarray, names: Sequence[str], options: SearchOptions
    ) -> list[sympy.Expr]:
        sign = 1.0 if np.mean(y > 0) >= np.mean(y < 0) else -1.0
        if np.mean(sign * y > 0) < POSITIVE_SHARE:
            return []
        target = sign * y
        symbols = [sympy.Symbol(n, real=True) for n in names]
        max_inputs = int(options.option("max_inputs", 3))
        two_terms = bool(options.option("two_terms", True))
        deadline = None
        if options.time_budget_s is not None:
            deadline = time.monotonic() + options.time_budget_s
        # a negative input cannot be raised to a real power
        usable = [j for j in range(X.shape[1]) if np.all(X[:, j] >= 0)]
        subsets = [
            subset
            for size in range(1, min(max_inputs, len(usable)) + 1)
            for subset in itertools.combinations(usable, size)
        ]
        # single power laws of every subset first, then the two-term forms
        singles = {}
        for subset in subsets:
            if deadline is not None and time.monotonic() > deadline:
                break
            singles[subset] = self._fit_single(X[:, list(subset)], target, symbols, subset)
        found = [expr for expr, _ in singles.values() if expr is not None]
        for subset, (expr, theta) in singles.items():
            if expr is not None:
                found += self._fit_integer_exponents(
                    X[:, list(subset)], target, symbols, subset, theta
                )
        for subset, (expr, theta) in singles.items():
            if expr is None or not two_terms:
                continue
            if deadline is not None and time.monotonic() > deadline:
                break
            found += self._fit_two_terms(X[:, list(subset)], target, symbols, subset, theta)
        return [sign * expr for expr in found]

    def _fit_single(
        self,
        X: np.ndarray,
        y: np.ndarray,
        symbols: Sequence[sympy.Symbol],
        subset: tuple[int, ...],
    ) -> tuple[sympy.Expr | None, tuple[np.ndarray, float] | None]:
        """The power law ``c·Π x^b`` of the inputs in ``subset`` and its (vector, loss)."""
        start = _log_linear(X, y)
        if start is None:
            return None, None
        power = _Shape("power", [symbols[j] for j in subset])
        single = _refine(power, np.r_[np.exp(start[0]), start[1:]], X, y)
        if single is None:
            return None, None
        return power.expression(single[0]), single

    def _fit_integer_exponents(
        self,
        X: np.ndarray,
        y: np.ndarray,
        symbols: Sequence[sympy.Symbol],
        subset: tuple[int, ...],
        single: tuple[np.ndarray, float],
    ) -> list[sympy.Expr]:
        """The power law ``single`` = (vector, loss) with every non-empty set of its
        near-integer exponents (see ``INTEGER_DISTANCE``) fixed at their integers."""
        exponents = single[0][1:]
        nearest = np.round(exponents)
        near = [
            i
            for i, (b, n) in enumerate(zip(exponents, nearest, strict=True))
            if n != 0 and 0 < abs(b - n) <= INTEGER_DISTANCE
        ]
        chosen = [symbols[j] for j in subset]
        found = []
        for size in range(1, len(near) + 1):
            for fixed in itertools.combinations(near, size):
                shape = _FixedPower(chosen, {i: int(nearest[i]) for i in fixed})
                start = np.r_[single[0][0], exponents[shape.free]]
                refined = _refine(shape, start, X, y)
                if refined is not None:
                    found.append(shape.expression(refined[0]))
        return found

    def _fit_two_terms(
        self,
        X: np.ndarray,
        y: np.ndarray,
        symbols: Sequence[sympy.Symbol],
        subset: tuple[int, ...],
        single: tuple[np.ndarray, float],
    ) -> list[sympy.Expr]:
        """An offset and a second term over the power law ``single`` = (vector, loss)."""
        chosen = [symbols[j] for j in subset]
        c, exponents = single[0][0], single[0][1:]
        seeds = {
            "offset": np.r_[0.0, c, exponents],
            "sum": np.r_[0.5 * c, 0.5 * c, exponents, 2.0 * exponents],
        }
        found = []
        for kind, theta in seeds.items():
            shape = _Shape(kind, chosen)
            refined = _refine(shape, theta, X, y)
            if refined is None or refined[1] > (1.0 - MIN_GAIN) * single[1]:
                continue
            if not shape.cancels(refined[0], X):
                found.append(shape.expression(refined[0]))
        return found
