"""Least squares over sets of library columns (supports) for the sparse engine.

A library ``M`` ``[samples, terms]`` and a target ``y`` ``[samples]`` are reduced to the
triangular QR factor of ``[M, y]`` (:class:`Compressed`), so every least-squares fit of a
support costs as much for 150 samples as for 30,000. Supports come from pysindy's
sequentially thresholded least squares and scikit-learn's Lasso path (:func:`supports`)
and from a beam search that grows them one column at a time (:func:`forward`);
:func:`sparse_fits` keeps the best of every size.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np
import sklearn
import sympy
from pysindy.optimizers import STLSQ
from sklearn.linear_model import lasso_path

from discover.distill.pareto import expression_complexity

N_ALPHAS = 60
"""Penalties on the Lasso path (log-spaced, scikit-learn's default range)."""


THRESHOLDS = tuple(float(t) for t in np.logspace(-4, 0, 25))
"""Thresholds of the STLSQ sweep, on coefficients of unit-RMS columns for a unit-RMS target."""


RIDGES = (1e-8, 1e-3, 0.05)
"""STLSQ's ridge penalties: the larger ones steady the thresholding of nearly collinear
libraries (monomials of one input) on noisy targets."""


Fit = tuple[float, tuple[int, ...], np.ndarray]
"""A support's least-squares fit: mean squared error, column indices, coefficients."""


class Compressed:
    """Least squares of ``y`` ``[samples]`` on columns of ``M`` ``[samples, terms]`` in as
    many rows as columns: with ``[M, y] = Q [R, r]`` (QR), ``|M c - y| = |R c - r|`` for
    every ``c``, so fits, ridge and Lasso on any columns are those on the samples."""

    def __init__(self, M: np.ndarray, y: np.ndarray):
        self.samples = len(y)
        both = np.column_stack([M, y])
        if len(both) > both.shape[1]:
            both = np.linalg.qr(both, mode="r")
        self.R, self.r = both[:, :-1], both[:, -1]

    def fit(self, support: tuple[int, ...]) -> Fit | None:
        """Ordinary least squares on the ``support`` columns: mean squared error over the
        samples, ``support``, coefficients; ``None`` when not finite."""
        coef, *_ = np.linalg.lstsq(self.R[:, support], self.r, rcond=None)
        loss = float(np.sum((self.R[:, support] @ coef - self.r) ** 2)) / self.samples
        if np.isfinite(loss) and np.all(np.isfinite(coef)):
            return loss, support, coef
        return None


def supports(A: np.ndarray, y: np.ndarray, max_terms: int) -> set[tuple[int, ...]]:
    """Distinct sets of at most ``max_terms`` columns of ``A`` (normalised to unit RMS)
    kept by pysindy's sequentially thresholded least squares (:data:`THRESHOLDS`, relative
    to the RMS of ``y``) and along scikit-learn's Lasso path, both on :class:`Compressed`
    rows (Lasso's penalty grid scales with the rows as its loss does)."""
    problem = Compressed(A, y / max(float(np.sqrt(np.mean(y**2))), 1e-300))
    paths = []
    with (
        warnings.catch_warnings(),
        sklearn.config_context(assume_finite=True, skip_parameter_validation=True),
    ):
        warnings.simplefilter("ignore")
        for threshold, ridge in itertools.product(THRESHOLDS, RIDGES):
            optimizer = STLSQ(threshold=threshold, alpha=ridge, max_iter=50)
            paths.append(optimizer.fit(problem.R, problem.r[:, None]).coef_.reshape(-1))
        _, coefs, _ = lasso_path(problem.R, problem.r, alphas=N_ALPHAS, max_iter=2000)
    found: set[tuple[int, ...]] = set()
    for coef in itertools.chain(paths, coefs.T):
        support = tuple(int(i) for i in np.flatnonzero(coef))
        if 0 < len(support) <= max_terms:
            found.add(support)
    return found


Entry = tuple[Fit, Sequence[sympy.Expr]]
"""A fit with the terms of its library (its support indexes them)."""


def best_per_size(entries: Sequence[Entry], keep: int) -> list[Entry]:
    """The ``keep`` entries of lowest loss of every support size."""
    ranked: dict[int, list[Entry]] = {}
    for entry in entries:
        ranked.setdefault(len(entry[0][1]), []).append(entry)
    return [e for group in ranked.values() for e in sorted(group, key=lambda e: e[0][0])[:keep]]


def normalised(M: np.ndarray) -> np.ndarray:
    """``M`` ``[samples, terms]`` with every column scaled to unit RMS."""
    return M / np.sqrt(np.mean(M**2, axis=0))


def expression(entry: Entry) -> sympy.Expr:
    """The sum of an entry's terms times their coefficients."""
    (_, support, coef), of = entry
    return sympy.Add(*(sympy.Float(c) * of[j] for c, j in zip(coef, support, strict=True)))


def simplest(entries: Sequence[Entry]) -> list[Entry]:
    """The entries that fit better than every entry of fewer nodes (the Pareto front of
    complexity and loss the caller builds): a law of few nodes can fit a narrow range only
    as well as forms of as many terms whose other terms are longer, and would lose a rank
    by loss alone."""
    front, best = [], np.inf
    for entry in sorted(entries, key=lambda e: (expression_complexity(expression(e)), e[0][0])):
        if entry[0][0] < best:
            front.append(entry)
            best = entry[0][0]
    return front


def sparse_fits(
    M: np.ndarray, terms: Sequence[sympy.Expr], y: np.ndarray, max_terms: int, keep: int
) -> list[Entry]:
    """The ``keep`` best least-squares fits of every size among the :func:`supports` of the
    library ``M`` ``[samples, terms]`` for ``y`` ``[samples]`` and their :func:`forward`
    extensions."""
    problem = Compressed(M, y)
    fits = [f for f in map(problem.fit, supports(normalised(M), y, max_terms)) if f is not None]
    return best_per_size([(f, terms) for f in forward(problem, fits, max_terms)], keep)


BEAM = 8
"""Fits of every size that :func:`forward` extends by one column."""


def forward(problem: Compressed, fits: list[Fit], max_terms: int) -> list[Fit]:
    """``fits``, every single column's fit and, size by size, the fits of every support
    that adds one column to one of the :data:`BEAM` best supports of that size (a beam
    search). Thresholding and the Lasso drop a small term of a column nearly collinear with
    larger ones (``-0.07*x_1*cos(x_0)`` beside ``-x_1``); a column added to the best
    smaller support keeps it."""
    columns = problem.R.shape[1]
    singles = (problem.fit((j,)) for j in range(columns))
    by_support = {f[1]: f for f in itertools.chain(fits, singles) if f is not None}
    for size in range(1, max_terms):
        same = sorted((f for f in by_support.values() if len(f[1]) == size), key=lambda f: f[0])
        for _, support, _ in same[:BEAM]:
            for j in range(columns):
                grown = tuple(sorted((*support, j)))
                if j not in support and grown not in by_support:
                    found = problem.fit(grown)
                    if found is not None:
                        by_support[grown] = found
    return list(by_support.values())
