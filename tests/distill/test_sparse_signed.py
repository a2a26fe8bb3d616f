"""The sparse engine's signed squares ``x*|x|`` (quadratic drag)."""

import numpy as np
import sympy

from discover.distill import symbolic_fit
from discover.distill.engines import get_engine
from discover.distill.engines.base import SearchOptions
from discover.distill.engines.term_library import signed_squares

X0, X1 = sympy.symbols("x_0 x_1", real=True)
DRAG = X1 * sympy.Abs(X1)


def _terms(expr: sympy.Expr) -> dict[sympy.Expr, float]:
    return {t: float(c) for t, c in sympy.expand(expr).as_coefficients_dict().items()}


def _pendulum_with_drag(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A driven pendulum's acceleration with quadratic damping, on samples of both signs."""
    rng = np.random.default_rng(seed)
    X = rng.uniform([-3, -2], [3, 2], (300, 2))
    y = -0.64 * X[:, 1] * np.abs(X[:, 1]) - np.sin(X[:, 0]) + 1.67
    return X, y + 0.002 * rng.normal(size=300)


def test_quadratic_drag_is_selected_with_its_constants():
    X, y = _pendulum_with_drag(0)
    front = symbolic_fit(X, y, ["x_0", "x_1"], engine="sparse")
    terms = _terms(front.selected.expression)
    assert set(terms) == {DRAG, sympy.sin(X0), sympy.Integer(1)}
    np.testing.assert_allclose(
        [terms[DRAG], terms[sympy.sin(X0)], terms[sympy.Integer(1)]], [-0.64, -1.0, 1.67], rtol=0.02
    )
    held_out, truth = _pendulum_with_drag(1)
    fitted = sympy.lambdify([X0, X1], front.selected.expression, "numpy")(*held_out.T)
    assert np.sqrt(np.mean((fitted - truth) ** 2)) < 0.01


def test_without_signed_squares_the_law_is_not_a_candidate():
    X, y = _pendulum_with_drag(0)
    without = SearchOptions(extra=(("signed", False),))
    found = get_engine("sparse").search(X, y, ["x_0", "x_1"], without)
    assert not any(DRAG in _terms(e) for e in found)


def test_an_input_of_one_sign_has_no_signed_square():
    X = np.random.default_rng(2).uniform([0.5, -1], [3, 1], (50, 2))
    _, terms = signed_squares(X, [X0, X1])
    assert terms == [DRAG]


def test_signed_squares_add_no_candidate_where_the_base_library_holds_the_law():
    rng = np.random.default_rng(3)
    X = rng.uniform(-2, 2, (300, 2))
    y = 0.4 * X[:, 0] * X[:, 1] - 0.3 * X[:, 1] + 0.01 * rng.normal(size=300)
    engine = get_engine("sparse")
    found = engine.search(X, y, ["x_0", "x_1"], SearchOptions())
    base = engine.search(X, y, ["x_0", "x_1"], SearchOptions(extra=(("signed", False),)))
    assert [str(e) for e in found] == [str(e) for e in base]
