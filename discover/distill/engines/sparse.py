"""Sparse regression over a library of candidate terms (SINDy-style), one candidate per
sparsity level.

The base library over the slot's inputs holds the constant, the monomials up to
``degree`` (``x, y, x**2, x*y, x**2*y`` ...: polynomial and mass-action laws), optionally
``sin(x), cos(x)`` and ``exp(-x)`` of each input
(:mod:`~discover.distill.engines.term_library`). Supports (sets of kept terms) come from
pysindy's sequentially thresholded least squares (``STLSQ``) over a sweep of thresholds and
from scikit-learn's Lasso path (``lasso_path``), both on the library normalised to unit
RMS, and from a beam search (:func:`forward`) that adds one column at a time to the best
supports of each size. Each support is refitted by ordinary least squares; the best
``keep`` supports of every size become candidates. All least squares run on the triangular
QR factor of the library and the target (:class:`Compressed`: the same problems in as many
rows as columns), so their cost does not grow with the samples.

Product terms (``products``, with ``trig``): the same search over the base library and
the products of an input with a sine or cosine and of two sines or cosines
(``x*cos(y)``, ``sin(x)*cos(y)``, ``sin(x)**2``); its fits become candidates where they
halve the error of every base fit of as many terms or fewer (:data:`PRODUCT_GAIN`).

Saturating terms (``saturating``): a law of library terms plus one Holling type II /
Michaelis-Menten term ``x/(x + K)`` or one Hill (n = 2, Holling type III) term
``x**2/(x**2 + K**2)`` of an input that is >= 0 on the samples. ``K`` is a nonlinear
constant, so each value on a grid over the input's range (:func:`half_saturations`) gives
its own library: the base library plus that single column (many nearly collinear ``K``
columns in one library would be kept together). Every such library gets cheap supports
that hold the column: the path of orthogonal matching pursuit from it and, while few
enough (:data:`SUBSETS`), every set of base terms up to a size. The libraries whose column
fits best at some support size (at most one a size, whatever the number of inputs) also
get the STLSQ and Lasso sweep. Each form (family, input and other terms) keeps
its best grid ``K``; the best forms of every size (:data:`REFINED`) have ``K`` refined
between its grid neighbours, and the best ``keep`` of every size with at most
``saturating_terms`` terms, with those that fit better than every form of fewer nodes
(:func:`simplest`), become candidates besides the base library's (which are those of
``saturating: False``) where they fit better than every base candidate of as many terms or
fewer. Other rational shapes are the rational engine's job.

The caller refits every constant of the candidates (``K`` too), rounds them (only where
the fit does not worsen noticeably), and Pareto-filters them by the same complexity as
every other engine's candidates, so the front runs from the constant to the full sparse
law. Deterministic; for 3000 samples about 0.15 CPU s for the base library, with the
saturating libraries about 0.9 s for one input and 1.5 s for four.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import sklearn
import sympy
from pysindy.optimizers import STLSQ
from sklearn.linear_model import lasso_path, orthogonal_mp_gram

from discover.distill.engines.base import SearchOptions, best_log_offset, register
from discover.distill.engines.term_library import library, trig_products
from discover.distill.pareto import expression_complexity

N_ALPHAS = 60
"""Penalties on the Lasso path (log-spaced, scikit-learn's default range)."""

THRESHOLDS = tuple(float(t) for t in np.logspace(-4, 0, 25))
"""Thresholds of the STLSQ sweep, on coefficients of unit-RMS columns for a unit-RMS target."""

RIDGES = (1e-8, 1e-3, 0.05)
"""STLSQ's ridge penalties: the larger ones steady the thresholding of nearly collinear
libraries (monomials of one input) on noisy targets."""

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
}
"""Saturating columns ``f(x, K)`` of an input ``x`` >= 0 and a half-saturation constant
``K`` > 0 (numpy arrays or sympy expressions): Holling type II / Michaelis-Menten and Hill
with n = 2 (Holling type III)."""

REFINED = 8
"""``K`` is refined for the ``REFINED x keep`` best forms of every size: ranked at grid
values up to 19 % off, a law on a narrow range can trail forms whose other terms absorb
the mismatch, and lead them once refined."""

SUBSETS = 128
"""Every set of up to ``k`` base terms joins a saturating column as a support, ``k`` the
largest size (below the terms allowed) with at most this many sets: for one input's seven
terms all sets of up to three (63), for four inputs' 47 single terms."""

Fit = tuple[float, tuple[int, ...], np.ndarray]
"""A support's least-squares fit: mean squared error, column indices, coefficients."""


def half_saturations(x: np.ndarray) -> np.ndarray:
    """Grid of half-saturation constants for an input's samples ``x`` ``[samples]`` (>= 0,
    some positive): log-spaced by :data:`K_STEP` from :data:`K_BELOW` x the smallest
    positive sample (at least :data:`K_SPAN` x the largest) to :data:`K_ABOVE` x the
    largest, in the input's units (at most 27 values)."""
    high = float(np.max(x))
    low = max(float(np.min(x[x > 0])), K_SPAN * high)
    start, stop = K_BELOW * low, K_ABOVE * high
    return np.geomspace(start, stop, int(np.ceil(np.log(stop / start) / np.log(K_STEP))) + 1)


def saturating_grid(X: np.ndarray) -> list[tuple[str, int, float]]:
    """``(family, input index, K)`` of every :data:`FAMILIES` column over the grid
    :func:`half_saturations` of every input of ``X`` ``[samples, inputs]`` that is >= 0 on
    the samples and not all 0."""
    return [
        (family, j, float(K))
        for j, x in enumerate(X.T)
        if np.min(x) >= 0 and np.max(x) > 0
        for K in half_saturations(x)
        for family in FAMILIES
    ]


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
    M: np.ndarray, x: np.ndarray, y: np.ndarray, family: str, support: tuple[int, ...], K: float
) -> tuple[Fit, float] | None:
    """The least-squares fit of ``y`` on the ``support`` columns of ``M`` ``[samples,
    terms]`` and (last index) the ``family`` column of ``x`` ``[samples]``, with ``K``
    refined between its grid neighbours (bounded Brent search on ``log K``, the linear
    coefficients solved at each trial), and the refined ``K``."""
    base = M[:, list(support[:-1])]

    def fit(log_k: float) -> Fit | None:
        design = np.column_stack([base, FAMILIES[family](x, np.exp(log_k))])
        found = Compressed(design, y).fit(tuple(range(len(support))))
        return None if found is None else (found[0], support, found[2])

    def loss(log_k: float) -> float:
        found = fit(log_k)
        return np.inf if found is None else found[0]

    log_k = float(np.log(K))
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
) -> list[Entry]:
    """The best ``keep`` fits of every size that hold one saturating column
    (:func:`saturating_grid` of ``X`` ``[samples, inputs]``) added to the base library
    ``M`` ``[samples, terms]``; ``K`` is each form's best on the grid, refined
    (:func:`refined`) for the :data:`REFINED` ``x keep`` best forms of every size (see the
    module docstring)."""
    grid = saturating_grid(X)
    A, target = normalised(M), y / max(float(np.sqrt(np.mean(y**2))), 1e-300)
    gram, xy = A.T @ A, A.T @ target
    best: dict[tuple[str, int, tuple[int, ...]], tuple[float, float]] = {}
    winners: dict[int, tuple[float, int]] = {}

    def column(i: int) -> np.ndarray:
        family, j, K = grid[i]
        return FAMILIES[family](X[:, j], K)

    def record(i: int, found: Iterable[tuple[int, ...]]) -> None:
        family, j, K = grid[i]
        problem = Compressed(np.column_stack([M, column(i)]), y)
        for support in found:
            fit = problem.fit(support) if len(terms) in support else None
            if fit is None or len(support) > max_terms:
                continue
            if (family, j, support) not in best or fit[0] < best[family, j, support][0]:
                best[family, j, support] = (fit[0], K)
            if len(support) not in winners or fit[0] < winners[len(support)][0]:
                winners[len(support)] = (fit[0], i)

    exhaustive = subsets(len(terms), max_terms)
    for i in range(len(grid)):
        record(i, [*pursuit(A, gram, xy, target, column(i), max_terms), *exhaustive])
    for i in sorted({i for _, i in winners.values()}):
        record(i, supports(normalised(np.column_stack([M, column(i)])), y, max_terms))
    entries = []
    for size in sorted({len(form[2]) for form in best}):
        forms = sorted((f for f in best if len(f[2]) == size), key=lambda f: best[f][0])
        for family, j, support in forms[: REFINED * keep]:
            found = refined(M, X[:, j], y, family, support, best[family, j, support][1])
            if found is not None:
                term = FAMILIES[family](symbols[j], sympy.Float(found[1]))
                entries.append((found[0], [*terms, term]))
    chosen = best_per_size(entries, keep)
    return chosen + [e for e in simplest(entries) if not any(e is c for c in chosen)]


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


def better_than_base(entry: Entry, base: Sequence[Entry], gain: float = 1.0) -> bool:
    """Whether ``entry`` (with a saturating or product term) fits ``gain`` times better
    (mean squared error) than every entry of ``base`` with as many terms or fewer: such a
    term has more nodes than the base terms it can stand for, so one that fits no better
    would lie behind such a base entry on the front."""
    return all(gain * entry[0][0] < b[0][0] for b in base if len(b[0][1]) <= len(entry[0][1]))


PRODUCT_GAIN = 2.0
"""A fit with product terms (:func:`~discover.distill.engines.term_library.trig_products`)
becomes a candidate only when it halves the squared error of every base fit of as many
terms or fewer. Where the base library holds the law, the larger library's fits lower
the error only by the part of the noise its extra columns happen to follow (a few parts
in the samples for a few columns), and would double the candidates to polish and score;
a term of the law the base library lacks lowers it by far more (ODEBench system 36:
x_1*cos(x_0) takes it from 1.5e-6 to 1.1e-7)."""


@register("sparse")
class SparseEngine:
    """Sparse least squares over a term library (see the module docstring).

    Engine-specific options (``extra``): ``degree`` (largest monomial degree; 3 for up to
    four inputs, else 2), ``trig`` (add ``sin``/``cos`` of each input; True), ``exp`` (add
    ``exp(-x)`` of each input; True), ``products`` (with ``trig``, search a second library
    that adds the products of an input with ``sin``/``cos`` of an input and of two
    ``sin``/``cos``; True for up to three inputs), ``saturating`` (add, one at a time, a Holling
    ``x/(x + K)`` or Hill ``x**2/(x**2 + K**2)`` term of each input that is >= 0 on the
    samples, ``K`` on a grid over its range that the caller's refit refines; True),
    ``saturating_terms`` (largest number of terms, the saturating one included, of those
    candidates; 4: their polishing costs several times a polynomial's, and longer ones fit
    a network's wiggles rather than a law),
    ``max_terms`` (largest number of kept terms; 8), ``keep`` (candidates per number of
    terms, and as many more with a saturating term; 2). Time budget, operators and restarts
    do not apply.
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
        max_terms, keep = int(options.option("max_terms", 8)), int(options.option("keep", 2))
        M, terms = library(X, symbols, degree, trig, exp)
        chosen = sparse_fits(M, terms, y, max_terms, keep)
        added: list[Entry] = []
        if trig and bool(options.option("products", len(names) <= 3)):
            P, products = trig_products(X, symbols)
            fits = sparse_fits(np.column_stack([M, P]), [*terms, *products], y, max_terms, keep)
            added += [e for e in fits if better_than_base(e, chosen, PRODUCT_GAIN)]
        if bool(options.option("saturating", True)):
            most = min(max_terms, int(options.option("saturating_terms", 4)))
            fits = saturating_fits(M, terms, X, y, symbols, most, keep)
            added += [e for e in fits if better_than_base(e, chosen)]
        return [expression(entry) for entry in [*chosen, *added]]
