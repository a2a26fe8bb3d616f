"""The term library of the sparse engine: columns of candidate terms over a slot's inputs.

Monomials up to a degree (polynomial and mass-action laws), ``sin``/``cos`` and
``exp(-x)`` of each input (:func:`library`), products of an input with a sine or
cosine and of two sines or cosines (:func:`trig_products`), and signed squares
``x*|x|`` (:func:`signed_squares`). Each column comes with its
sympy term; columns that are not finite or constant on the samples are left out.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import sympy

TRIG = ((np.sin, sympy.sin), (np.cos, sympy.cos))
"""The sine and cosine, as numpy and sympy functions."""


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
                columns += [f(X[:, j]) for f, _ in TRIG]
                terms += [g(symbol) for _, g in TRIG]
            if exp:
                columns.append(np.exp(-X[:, j]))
                terms.append(sympy.exp(-symbol))
    return usable(columns, terms, keep_first=True)


def trig_products(
    X: np.ndarray, symbols: Sequence[sympy.Symbol]
) -> tuple[np.ndarray, list[sympy.Expr]]:
    """Columns ``[samples, terms]`` and sympy terms of the products of an input with a sine
    or cosine of an input (``x*cos(y)``: damping that depends on a phase) and of two sines
    or cosines (``sin(x)*cos(y)``, ``sin(x)**2``: coupled oscillators, a pendulum on a
    rotating frame); ``cos(x)**2`` is left out (``1 - sin(x)**2``). Not finite or constant
    columns are left out."""
    waves = [(f(X[:, j]), g(s)) for j, s in enumerate(symbols) for f, g in TRIG]
    columns = [X[:, i] * w for i in range(len(symbols)) for w, _ in waves]
    terms = [s * t for s in symbols for _, t in waves]
    for a, b in itertools.combinations_with_replacement(range(len(waves)), 2):
        if a == b and waves[a][1].func is sympy.cos:
            continue
        columns.append(waves[a][0] * waves[b][0])
        terms.append(waves[a][1] * waves[b][1])
    return usable(columns, terms, keep_first=False)


def signed_squares(
    X: np.ndarray, symbols: Sequence[sympy.Symbol]
) -> tuple[np.ndarray, list[sympy.Expr]]:
    """Columns ``[samples, terms]`` and sympy terms ``x*|x|`` of each input that takes both
    signs on the samples: a quadratic law that keeps the sign of its input (drag against a
    velocity, head loss along a flow that reverses). For an input of one sign it is
    ``±x**2``, a monomial already."""
    inputs = [j for j in range(len(symbols)) if X[:, j].min() < 0 < X[:, j].max()]
    columns = [X[:, j] * np.abs(X[:, j]) for j in inputs]
    terms = [symbols[j] * sympy.Abs(symbols[j]) for j in inputs]
    if not columns:
        return np.empty((len(X), 0)), []
    return usable(columns, terms, keep_first=False)


def usable(
    columns: Sequence[np.ndarray], terms: Sequence[sympy.Expr], keep_first: bool
) -> tuple[np.ndarray, list[sympy.Expr]]:
    """The columns (stacked ``[samples, terms]``) and terms whose column is finite and not
    constant; the first is kept whatever it is when ``keep_first`` (the constant term)."""
    keep = [
        i
        for i, column in enumerate(columns)
        if (keep_first and i == 0) or (np.all(np.isfinite(column)) and np.ptp(column) > 0)
    ]
    if not keep:
        return np.empty((len(columns[0]) if columns else 0, 0)), []
    return np.stack([columns[i] for i in keep], axis=1), [terms[i] for i in keep]
