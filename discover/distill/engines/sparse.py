"""Sparse regression over a library of candidate terms (SINDy-style), one candidate per
sparsity level.

The base library over the slot's inputs holds the constant, the monomials up to
``degree`` (``x, y, x**2, x*y, x**2*y`` ...: polynomial and mass-action laws), optionally
``sin(x), cos(x)`` and ``exp(-x)`` of each input (``term_library.py``). Supports (sets of
kept terms) come from pysindy's sequentially thresholded least squares (``STLSQ``) over a
sweep of thresholds and from scikit-learn's Lasso path (``lasso_path``), both on the
library normalised to unit RMS, and from a beam search that adds one column at a time to
the best supports of each size (``sparse_support.py``). Each support is refitted by
ordinary least squares; the best ``keep`` supports of every size become candidates. All
least squares run on the triangular QR factor of the library and the target (the same
problems in as many rows as columns), so their cost does not grow with the samples.

Product terms (``products``, with ``trig``): the same search over the base library and
the products of an input with a sine or cosine and of two sines or cosines
(``x*cos(y)``, ``sin(x)*cos(y)``, ``sin(x)**2``); its fits become candidates where they
halve the error of every base fit of as many terms or fewer (:data:`PRODUCT_GAIN`).
Signed squares (``signed``) likewise: the base library and ``x*|x|`` of each input that
takes both signs (quadratic drag, ``-c*v*|v|``).

Saturating terms (``saturating``, ``saturating.py``): a law of library terms plus one
Holling type II / Michaelis-Menten term ``x/(x + K)``, one Hill (n = 2, Holling type III)
term ``x**2/(x**2 + K**2)`` or one substrate-inhibition term ``x/(x**2 + K**2)`` of an
input that is >= 0 on the samples, alone or (``multiplied``) times another input (a
predation ``x*y/(x + K)`` that saturates in the prey). ``K`` is a
nonlinear constant, so each value on a grid over the input's range gives its own library:
the base library plus that single column (many nearly collinear ``K`` columns in one
library would be kept together). Every such library gets cheap supports that hold the
column: the path of orthogonal matching pursuit from it and, while few enough, every set
of base terms up to a size. The libraries whose column fits best at some support size (at
most one a size, whatever the number of inputs) also get the STLSQ and Lasso sweep. Each
form (family, input and other terms) keeps its best grid ``K``; the best forms of every
size have ``K`` refined between its grid neighbours, and the best ``keep`` of every size
with at most ``saturating_terms`` terms, with those that fit better than every form of
fewer nodes, become candidates besides the base library's (which are those of
``saturating: False``) where they fit better than every base candidate of as many terms or
fewer. Other rational shapes are the rational engine's job.

The caller refits every constant of the candidates (``K`` too), rounds them (only where
the fit does not worsen noticeably), and Pareto-filters them by the same complexity as
every other engine's candidates, so the front runs from the constant to the full sparse
law. Deterministic; for 3000 samples about 1 CPU s for one input, 1-2 s for two or
three, 2 s for four.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy

from discover.distill.engines.base import SearchOptions, register
from discover.distill.engines.saturating import saturating_fits
from discover.distill.engines.sparse_support import Entry, expression, sparse_fits
from discover.distill.engines.term_library import library, signed_squares, trig_products


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


def gain(entry: Entry) -> float:
    """The factor by which a saturating fit must beat the base fits
    (:func:`better_than_base`): :data:`PRODUCT_GAIN` when its saturating term (the last of
    its terms) multiplies another input, a product of columns like the trigonometric ones
    (a mass-action ``x*y`` is matched at every size by ``x*y/(y + K)`` of large ``K``), else
    1."""
    return PRODUCT_GAIN if len(entry[1][-1].free_symbols) > 1 else 1.0


@register("sparse")
class SparseEngine:
    """Sparse least squares over a term library (see the module docstring).

    Engine-specific options (``extra``): ``degree`` (largest monomial degree; 3 for up to
    four inputs, else 2), ``trig`` (add ``sin``/``cos`` of each input; True), ``exp`` (add
    ``exp(-x)`` of each input; True), ``products`` (with ``trig``, search a second library
    that adds the products of an input with ``sin``/``cos`` of an input and of two
    ``sin``/``cos``; True for up to three inputs), ``saturating`` (add, one at a time, a Holling
    ``x/(x + K)``, Hill ``x**2/(x**2 + K**2)`` or inhibition ``x/(x**2 + K**2)`` term of
    each input that is >= 0 on the samples, ``K`` on a grid over its range that the
    caller's refit refines; True), ``multiplied`` (those terms also times each other input;
    True for up to three inputs),
    ``saturating_terms`` (largest number of terms, the saturating one included, of those
    candidates; 4: their polishing costs several times a polynomial's, and longer ones fit
    a network's wiggles rather than a law),
    ``signed`` (search the base library with ``x*|x|`` of each input that takes both
    signs, admitted like the products; True),
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
        extensions = [
            *([trig_products] if trig and options.option("products", len(names) <= 3) else []),
            *([signed_squares] if options.option("signed", True) else []),
        ]
        for extension in extensions:
            E, extra = extension(X, symbols)
            if extra:
                fits = sparse_fits(np.column_stack([M, E]), [*terms, *extra], y, max_terms, keep)
                added += [e for e in fits if better_than_base(e, chosen, PRODUCT_GAIN)]
        if bool(options.option("saturating", True)):
            most = min(max_terms, int(options.option("saturating_terms", 4)))
            multiplied = bool(options.option("multiplied", len(names) <= 3))
            fits = saturating_fits(M, terms, X, y, symbols, most, keep, multiplied)
            added += [e for e in fits if better_than_base(e, chosen, gain(e))]
        return [expression(entry) for entry in [*chosen, *added]]
