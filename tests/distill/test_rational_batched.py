"""The rational engine's batched residuals match the one-at-a-time ones."""

import numpy as np
import sympy

from discover.distill.engines.rational import _choices, _monomial_view, _View
from discover.distill.engines.rational_system import RationalSystem


def system(X, y):
    symbols = sympy.symbols("x z", real=True)
    columns, terms = _monomial_view(X, symbols, 2)
    return RationalSystem(_View(columns, terms, False, True, "poly y"), y)


def test_batched_residuals_equal_the_residual_of_each_choice():
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 3.0, (200, 2))
    found = system(X, X[:, 0] / (1 + 0.5 * X[:, 1]) + 0.01 * rng.normal(size=200))
    choices = list(_choices(len(found.view.terms), 3, 3, True))
    one_by_one = np.array([found.residual(*c) for c in choices])
    np.testing.assert_allclose(found.residuals(choices), one_by_one, rtol=1e-9, atol=1e-12)


def test_a_batch_with_a_singular_system_falls_back_to_one_at_a_time():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.uniform(0.5, 3.0, 100), np.ones(100)])  # z = 1: columns repeat
    found = system(X, 2.0 * X[:, 0])
    choices = [((0, 2), 1, ()), ((1,), 0, ()), ((0, 1), 3, (2,))]
    one_by_one = np.array([found.residual(*c) for c in choices])
    np.testing.assert_allclose(found.residuals(choices), one_by_one, rtol=1e-9, atol=1e-12)
