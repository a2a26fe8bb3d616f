"""Sparse regression over a library of candidate terms (SINDy-style), one candidate per
sparsity level.

The library over the slot's inputs holds the constant, the monomials up to ``degree``
(``x, y, x**2, x*y, x**2*y`` ...: polynomial and mass-action laws), optionally
``sin(x), cos(x)`` and ``exp(-x)`` of each input. Rational shapes (``x/(b + x)``) are the
rational engine's job. Supports (sets of kept terms) come from pysindy's sequentially
thresholded least squares (``STLSQ``) over a sweep of thresholds and from scikit-learn's
Lasso path (``lasso_path``), both on the library normalised to unit RMS. Each support is
refitted by ordinary least squares; the best ``keep`` supports of every size become
candidates, which the caller refits, rounds (only where the fit does not worsen noticeably),
and Pareto-filters by the same complexity as every other engine's candidates, so the front
runs from the constant to the full sparse law. Deterministic; fast (well under a second
for a few thousand samples).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np
import sympy
from pysindy.optimizers import STLSQ
from sklearn.linear_model import lasso_path

from discover.distill.engines.base import SearchOptions, register

N_ALPHAS = 60
"""Penalties on the Lasso path (log-spaced, scikit-learn's default range)."""

THRESHOLDS = tuple(float(t) for t in np.logspace(-4, 0, 25))
"""Thresholds of the STLSQ sweep, on coefficients of unit-RMS columns for a unit-RMS target."""

RIDGES = (1e-8, 1e-3, 0.05)
"""STLSQ's ridge penalties: the larger ones steady the thresholding of nearly collinear
libraries (monomials of one input) on noisy targets."""


def library(
    X: np.ndarray, symbols: Sequence[sympy.Symbol], degree: int, trig: bool, exp: bool
) -> tuple[np.ndarray, list[sympy.Expr]]:
    """Term columns ``[samples, terms]`` and their sympy terms; columns that are not finite
    or constant (other than the constant term itself) are left out."""
    columns, terms = [np.ones(len(X))], [sympy.Integer(1)]
    for d in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(len(symbols)), d):
            columns.append(np.prod(X[:, list(combo)], axis=1))
            terms.append(sympy.Mul(*(symbols[j] for j in combo)))
    with np.errstate(all="ignore"):
        for j, symbol in enumerate(symbols):
            if trig:
                columns += [np.sin(X[:, j]), np.cos(X[:, j])]
                terms += [sympy.sin(symbol), sympy.cos(symbol)]
            if exp:
                columns.append(np.exp(-X[:, j]))
                terms.append(sympy.exp(-symbol))
    keep = [
        i
        for i, column in enumerate(columns)
        if i == 0 or (np.all(np.isfinite(column)) and np.ptp(column) > 0)
    ]
    return np.stack([columns[i] for i in keep], axis=1), [terms[i] for i in keep]


def supports(A: np.ndarray, y: np.ndarray, max_terms: int) -> set[tuple[int, ...]]:
    """Distinct sets of at most ``max_terms`` columns of ``A`` (normalised to unit RMS)
    kept by pysindy's sequentially thresholded least squares (:data:`THRESHOLDS`, relative
    to the RMS of ``y``) and along scikit-learn's Lasso path."""
    target = y / max(float(np.sqrt(np.mean(y**2))), 1e-300)
    paths = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for threshold, ridge in itertools.product(THRESHOLDS, RIDGES):
            optimizer = STLSQ(threshold=threshold, alpha=ridge, max_iter=50)
            paths.append(optimizer.fit(A, target[:, None]).coef_.reshape(-1))
        _, coefs, _ = lasso_path(A, target, alphas=N_ALPHAS, max_iter=2000)
    found: set[tuple[int, ...]] = set()
    for coef in itertools.chain(paths, coefs.T):
        support = tuple(int(i) for i in np.flatnonzero(coef))
        if 0 < len(support) <= max_terms:
            found.add(support)
    return found


@register("sparse")
class SparseEngine:
    """Sparse least squares over a term library (see the module docstring).

    Engine-specific options (``extra``): ``degree`` (largest monomial degree; 3 for up to
    four inputs, else 2), ``trig`` (add ``sin``/``cos`` of each input; True), ``exp`` (add
    ``exp(-x)`` of each input; True), ``max_terms`` (largest number of kept terms; 8),
    ``keep`` (candidates per number of terms; 2). Time budget, operators and restarts do
    not apply.
    """

    name = "sparse"

    def available(self) -> tuple[bool, str]:
        return True, ""

    def search(
        self, X: np.ndarray, y: np.ndarray, names: Sequence[str], options: SearchOptions
    ) -> list[sympy.Expr]:
        symbols = [sympy.Symbol(n, real=True) for n in names]
        degree = int(options.option("degree", 3 if len(names) <= 4 else 2))
        trig, exp = bool(options.option("trig", True)), bool(options.option("exp", True))
        max_terms = int(options.option("max_terms", 8))
        keep = int(options.option("keep", 2))
        M, terms = library(X, symbols, degree, trig, exp)
        scale = np.sqrt(np.mean(M**2, axis=0))
        A = M / scale
        ranked: dict[int, list[tuple[float, tuple[int, ...], np.ndarray]]] = {}
        for support in supports(A, y, max_terms):
            coef, *_ = np.linalg.lstsq(M[:, support], y, rcond=None)
            loss = float(np.mean((M[:, support] @ coef - y) ** 2))
            if np.isfinite(loss) and np.all(np.isfinite(coef)):
                ranked.setdefault(len(support), []).append((loss, support, coef))
        candidates = []
        for entries in ranked.values():
            for _, support, coef in sorted(entries, key=lambda e: e[0])[:keep]:
                candidates.append(
                    sympy.Add(
                        *(sympy.Float(c) * terms[j] for c, j in zip(coef, support, strict=True))
                    )
                )
        return candidates
