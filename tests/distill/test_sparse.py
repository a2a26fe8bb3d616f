"""The sparse-regression engine recovers polynomial and mass-action laws."""

import numpy as np
import sympy

from discover.distill import symbolic_fit
from discover.distill.postprocess import numpy_function


def _recovered(front, truth, names, X_held) -> bool:
    """Whether a candidate on the front matches ``truth`` within 1% on held-out points."""
    expected = truth(X_held)
    for cand in front:
        pred = numpy_function(cand.expression, names)(X_held)
        if np.linalg.norm(pred - expected) < 0.01 * np.linalg.norm(expected):
            return True
    return False


def test_sparse_engine_recovers_a_mass_action_law():
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 3, (400, 2))
    truth = lambda X: 0.5 * X[:, 0] * X[:, 1] - 0.3 * X[:, 0]  # noqa: E731
    y = truth(X) * (1 + 0.01 * rng.normal(size=400))
    front = symbolic_fit(X, y, ["x", "y"], engine="sparse")
    x, z = sympy.symbols("x y", real=True)
    assert front.engine == "sparse"
    assert _recovered(front, truth, ["x", "y"], rng.uniform(0.5, 4, (500, 2)))
    terms = sympy.expand(front.selected.expression).as_coefficients_dict()
    assert set(terms) == {x * z, x}
    np.testing.assert_allclose([float(terms[x * z]), float(terms[x])], [0.5, -0.3], rtol=0.05)


def test_sparse_engine_recovers_a_polynomial_with_a_constant():
    rng = np.random.default_rng(1)
    X = rng.uniform(1, 100, (400, 1))
    truth = lambda X: 0.4 * X[:, 0] - 0.004 * X[:, 0] ** 2 - 0.3  # noqa: E731
    y = truth(X) + 0.01 * rng.normal(size=400)
    front = symbolic_fit(X, y, ["x"], engine="sparse")
    assert _recovered(front, truth, ["x"], rng.uniform(1, 110, (500, 1)))
    x = sympy.Symbol("x", real=True)
    terms = sympy.expand(front.selected.expression).as_coefficients_dict()
    assert set(terms) == {sympy.Integer(1), x, x**2}
