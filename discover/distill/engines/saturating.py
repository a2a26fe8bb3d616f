"""Saturating terms for the sparse engine: one Holling or Hill column of an input, its
half-saturation constant ``K`` on a grid and then refined (see the module docstring of
:mod:`discover.distill.engines.sparse`)."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import sympy
from sklearn.linear_model import orthogonal_mp_gram

from discover.distill.engines.base import best_log_offset
from discover.distill.engines.sparse_support import (
    Compressed,
    Entry,
    Fit,
    best_per_size,
    normalised,
    simplest,
    supports,
)

K_STEP = 2**0.5
"""Ratio of neighbouring half-saturation constants on the grid: a grid value is within a
factor 2**0.25 (19 %) of any ``K`` in the grid's span, a start the caller's refit closes
and close enough that the right family fits better than the other at the right size."""


K_BELOW, K_ABOVE = 0.5, 4.0
"""The grid runs from ``K_BELOW`` x the smallest positive sample to ``K_ABOVE`` x the
largest. ``K`` is identifiable where the column bends over the samples: far below them
``x/(x + K)`` is ``1 - K/x`` and a constant for all but its smallest samples, far above
them it is its Taylor polynomial ``x/K - x**2/K**2 + ...``, which the monomials already
hold (at ``4 x`` the largest sample the cubic remainder of ``x/(x + K)`` is within 2 % of
the column)."""


K_SPAN = 1e-3
"""The smallest positive sample counts as at least this share of the largest (positive
samples spread over more decades add grid values only where ``x/(x + K)`` is constant)."""


FAMILIES: dict[str, Callable] = {
    "holling": lambda x, K: x / (x + K),
    "hill": lambda x, K: x**2 / (x**2 + K**2),
    "inhibition": lambda x, K: x / (x**2 + K**2),
}
"""Saturating columns ``f(x, K)`` of an input ``x`` >= 0 and a half-saturation constant
``K`` > 0 (numpy arrays or sympy expressions): Holling type II / Michaelis-Menten, Hill
with n = 2 (Holling type III), and substrate inhibition (a rate that peaks at ``x = K``
and falls as ``1/x`` beyond, the Haldane shape without its linear term)."""

Column = tuple[str, int, float, int | None]
"""A saturating column: family, input, ``K``, and the input it multiplies (``None``:
alone): ``x_m * f(x_j, K)`` is a consumption that saturates in the resource ``x_j`` and
grows with the consumer ``x_m`` (Holling type II predation ``x*y/(x + K)``)."""


REFINED = 8
"""``K`` is refined for the ``REFINED x keep`` best forms of every size: ranked at grid
values up to 19 % off, a law on a narrow range can trail forms whose other terms absorb
the mismatch, and lead them once refined."""


SUBSETS = 128
"""Every set of up to ``k`` base terms joins a saturating column as a support, ``k`` the
largest size (below the terms allowed) with at most this many sets: for one input's seven
terms all sets of up to three (63), for four inputs' 47 single terms."""


def half_saturations(x: np.ndarray) -> np.ndarray:
    """Grid of half-saturation constants for an input's samples ``x`` ``[samples]`` (>= 0,
    some positive): log-spaced by :data:`K_STEP` from :data:`K_BELOW` x the smallest
    positive sample (at least :data:`K_SPAN` x the largest) to :data:`K_ABOVE` x the
    largest, in the input's units (at most 27 values)."""
    high = float(np.max(x))
    low = max(float(np.min(x[x > 0])), K_SPAN * high)
    start, stop = K_BELOW * low, K_ABOVE * high
    return np.geomspace(start, stop, int(np.ceil(np.log(stop / start) / np.log(K_STEP))) + 1)


def saturating_grid(X: np.ndarray, multiplied: bool = False) -> list[Column]:
    """Every :data:`FAMILIES` column over the grid :func:`half_saturations` of every input
    of ``X`` ``[samples, inputs]`` that is >= 0 on the samples and not all 0, alone and,
    when ``multiplied``, times each other input."""
    factors = range(X.shape[1]) if multiplied else ()
    return [
        (family, j, float(K), m)
        for j, x in enumerate(X.T)
        if np.min(x) >= 0 and np.max(x) > 0
        for m in (None, *(m for m in factors if m != j))
        for K in half_saturations(x)
        for family in FAMILIES
    ]


def column_values(X: np.ndarray, column: Column, K: float | None = None) -> np.ndarray:
    """The samples ``[samples]`` of ``column`` over ``X`` ``[samples, inputs]`` (with
    ``K`` in place of its own when given)."""
    family, j, own, m = column
    values = FAMILIES[family](X[:, j], own if K is None else K)
    return values if m is None else X[:, m] * values


def column_term(symbols: Sequence[sympy.Symbol], column: Column, K: float) -> sympy.Expr:
    """The sympy term of ``column`` with half-saturation ``K``."""
    family, j, _, m = column
    term = FAMILIES[family](symbols[j], sympy.Float(K))
    return term if m is None else symbols[m] * term


def pursuit(
    A: np.ndarray,
    gram: np.ndarray,
    xy: np.ndarray,
    target: np.ndarray,
    column: np.ndarray,
    max_terms: int,
) -> list[tuple[int, ...]]:
    """Supports of up to ``max_terms`` columns that hold ``column`` (index ``A.shape[1]``)
    and the columns of ``A`` ``[samples, terms]`` that orthogonal matching pursuit
    (scikit-learn's ``orthogonal_mp_gram``) adds one at a time to fit what ``column`` leaves
    of ``target`` ``[samples]`` (all of ``A`` and ``target`` with ``column`` projected
    out); ``gram`` and ``xy`` are ``A.T @ A`` and ``A.T @ target``. Columns of ``A``
    (nearly) in the span of ``column`` are left out."""
    unit = column / np.linalg.norm(column)
    g = A.T @ unit
    G, b = gram - np.outer(g, g), xy - g * (unit @ target)
    norms = np.sqrt(np.clip(np.diag(G), 0.0, None))
    usable = np.flatnonzero(norms > 1e-6 * np.sqrt(np.diag(gram)))
    if len(usable) == 0 or max_terms < 2:
        return [(A.shape[1],)]
    scale = norms[usable]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = orthogonal_mp_gram(
            G[np.ix_(usable, usable)] / np.outer(scale, scale),
            b[usable] / scale,
            n_nonzero_coefs=min(len(usable), max_terms - 1),
            return_path=True,
        )
    path = path.reshape(len(usable), -1)
    return [(A.shape[1],)] + [
        (*(int(usable[i]) for i in np.flatnonzero(path[:, k])), A.shape[1])
        for k in range(path.shape[1])
    ]


def subsets(terms: int, max_terms: int) -> list[tuple[int, ...]]:
    """Supports of a saturating column (index ``terms``) with every set of up to ``k`` of
    the ``terms`` base columns, ``k < max_terms`` the largest with at most
    :data:`SUBSETS` sets."""
    found: list[tuple[int, ...]] = []
    for k in range(1, max_terms):
        sets = list(itertools.combinations(range(terms), k))
        if len(found) + len(sets) > SUBSETS:
            break
        found += [(*subset, terms) for subset in sets]
    return found


def refined(
    M: np.ndarray, X: np.ndarray, y: np.ndarray, column: Column, support: tuple[int, ...]
) -> tuple[Fit, float] | None:
    """The least-squares fit of ``y`` on the ``support`` columns of ``M`` ``[samples,
    terms]`` and (last index) ``column`` over ``X`` ``[samples, inputs]``, with its ``K``
    refined between its grid neighbours (bounded Brent search on ``log K``, the linear
    coefficients solved at each trial), and the refined ``K``."""
    base = M[:, list(support[:-1])]

    def fit(log_k: float) -> Fit | None:
        design = np.column_stack([base, column_values(X, column, np.exp(log_k))])
        found = Compressed(design, y).fit(tuple(range(len(support))))
        return None if found is None else (found[0], support, found[2])

    def loss(log_k: float) -> float:
        found = fit(log_k)
        return np.inf if found is None else found[0]

    log_k = float(np.log(column[2]))
    log_k += best_log_offset(lambda s: loss(log_k + s), float(np.log(K_STEP)), xatol=1e-4)
    found = fit(log_k)
    return None if found is None else (found, float(np.exp(log_k)))


def saturating_fits(
    M: np.ndarray,
    terms: Sequence[sympy.Expr],
    X: np.ndarray,
    y: np.ndarray,
    symbols: Sequence[sympy.Symbol],
    max_terms: int,
    keep: int,
    multiplied: bool = False,
) -> list[Entry]:
    """The best ``keep`` fits of every size that hold one saturating column
    (:func:`saturating_grid` of ``X`` ``[samples, inputs]``, ``multiplied`` passed on)
    added to the base library
    ``M`` ``[samples, terms]``; ``K`` is each form's best on the grid, refined
    (:func:`refined`) for the :data:`REFINED` ``x keep`` best forms of every size (see the
    module docstring)."""
    grid = saturating_grid(X, multiplied)
    A, target = normalised(M), y / max(float(np.sqrt(np.mean(y**2))), 1e-300)
    gram, xy = A.T @ A, A.T @ target
    best: dict[tuple[str, int, int | None, tuple[int, ...]], tuple[float, Column]] = {}
    winners: dict[int, tuple[float, int]] = {}

    def column(i: int) -> np.ndarray:
        return column_values(X, grid[i])

    def record(i: int, found: Iterable[tuple[int, ...]]) -> None:
        family, j, _, m = grid[i]
        problem = Compressed(np.column_stack([M, column(i)]), y)
        for support in found:
            fit = problem.fit(support) if len(terms) in support else None
            if fit is None or len(support) > max_terms:
                continue
            form = (family, j, m, support)
            if form not in best or fit[0] < best[form][0]:
                best[form] = (fit[0], grid[i])
            if len(support) not in winners or fit[0] < winners[len(support)][0]:
                winners[len(support)] = (fit[0], i)

    exhaustive = subsets(len(terms), max_terms)
    for i in range(len(grid)):
        record(i, [*pursuit(A, gram, xy, target, column(i), max_terms), *exhaustive])
    for i in sorted({i for _, i in winners.values()}):
        record(i, supports(normalised(np.column_stack([M, column(i)])), y, max_terms))
    entries = []
    for size in sorted({len(form[3]) for form in best}):
        forms = sorted((f for f in best if len(f[3]) == size), key=lambda f: best[f][0])
        for form in forms[: REFINED * keep]:
            found = refined(M, X, y, best[form][1], form[3])
            if found is not None:
                entries.append((found[0], [*terms, column_term(symbols, best[form][1], found[1])]))
    chosen = best_per_size(entries, keep)
    return chosen + [e for e in simplest(entries) if not any(e is c for c in chosen)]
