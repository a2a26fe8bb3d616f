"""Integer-exponent variants of distilled candidates (:mod:`discover.distill.snapping`)."""

import numpy as np
import sympy

from discover.distill.pareto import Candidate
from discover.distill.snapping import integer_exponents, snapped_candidates

X = sympy.Symbol("x", real=True)


def test_near_integer_float_exponents_become_integers():
    assert integer_exponents(-1.005 * X**2.9953) == -1.005 * X**3
    assert integer_exponents(X**2.5) is None  # too far from an integer
    assert integer_exponents(X**0.04) is None  # not snapped to x**0
    assert integer_exponents(2.0 * X**2) is None  # nothing to snap
    assert integer_exponents(X**1.97 + sympy.exp(-(X**0.96))) == X**2 + sympy.exp(-X)


def test_snapped_variants_are_refitted_and_new_forms_only():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 3.4, 300)
    y = -1.3 * x**3 * (1 + 0.003 * np.sin(5 * x))  # a near-exact network: the law and a wiggle
    given = [
        Candidate(-1.005 * X**2.9953, 5, 0.001),
        Candidate(-1.3 * X**3 + 0.02, 7, 0.001),  # its form is not offered again
        Candidate(0.02 - 1.0 * X**2.99, 7, 0.001),
    ]
    variants = snapped_candidates(given, ["x"], x[:, None], y)
    assert len(variants) == 1
    scale, power = variants[0].expression.as_coeff_Mul()
    assert power == X**3 and abs(scale + 1.3) < 0.01
    assert 0 < variants[0].loss < 0.01 * np.var(y)
