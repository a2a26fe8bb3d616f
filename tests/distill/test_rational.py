"""The rational engine's screening of term choices."""

import numpy as np
import pytest
import sympy

from discover.distill import symbolic_fit
from discover.distill.engines.base import SearchOptions
from discover.distill.engines.rational import RationalEngine

PLANTED = {(0, 0): 0.01, (1, 0): 0.05, (1, 1): 0.05}
"""Coefficients of ``0.01 + 0.05*s*(1 + f)`` by exponents of ``(s, f)``."""


def regionalized_parameter(seed: int = 0, noise: float = 0.002, n: int = 60):
    """``n`` sites with attributes ``s, f`` in U(0, 1) and ``0.01 + 0.05*s*(1 + f)`` plus
    Gaussian noise of standard deviation ``noise`` (about 12% of the parameter's spread)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, 2))
    y = 0.01 + 0.05 * X[:, 0] * (1 + X[:, 1]) + noise * rng.normal(size=n)
    return X, y


def planted_terms(expr: sympy.Expr) -> dict | None:
    """``{exponents: coefficient}`` of ``expr`` when it is a polynomial in ``s, f`` with
    the planted terms, else ``None``."""
    s, f = sympy.symbols("s f", real=True)
    expanded = sympy.expand(expr)
    if not expanded.is_polynomial(s, f):
        return None
    terms = sympy.Poly(expanded, s, f).as_dict()
    return terms if set(terms) == set(PLANTED) else None


def test_front_holds_the_planted_polynomial_among_rational_forms_of_other_targets():
    X, y = regionalized_parameter()
    front = symbolic_fit(X, y, ["s", "f"], engine="rational", screening="shape")
    found = [terms for c in front if (terms := planted_terms(c.expression)) is not None]
    assert found, [str(c.expression) for c in front]
    (terms,) = found
    for monomial, value in PLANTED.items():
        assert abs(float(terms[monomial]) - value) <= 0.1 * value, terms


def test_search_proposes_the_planted_polynomial():
    # Its linearised residual (target y) is compared only with choices of the same target
    # and shape, not with rational forms fitted to y times some term.
    X, y = regionalized_parameter()
    raw = RationalEngine().search(X, y, ["s", "f"], SearchOptions(extra=(("screening", "shape"),)))
    assert any(planted_terms(expr) is not None for expr in raw)


def test_pooled_screening_is_the_default_and_unknown_screenings_are_named():
    X, y = regionalized_parameter()
    names = ["s", "f"]
    default = RationalEngine().search(X, y, names, SearchOptions())
    pooled = RationalEngine().search(X, y, names, SearchOptions(extra=(("screening", "pooled"),)))
    assert [str(e) for e in default] == [str(e) for e in pooled]
    with pytest.raises(ValueError, match="screening='best'"):
        RationalEngine().search(X, y, names, SearchOptions(extra=(("screening", "best"),)))
