"""The sparse engine's products of an input with a sine or cosine and of two sines or
cosines, and its beam search over supports."""

import numpy as np
import pytest
import sympy

from discover.distill import symbolic_fit
from discover.distill.engines import get_engine
from discover.distill.engines.base import SearchOptions
from discover.distill.engines.sparse_support import Compressed, sparse_fits
from discover.distill.engines.term_library import library, trig_products

X0, X1 = sympy.symbols("x_0 x_1", real=True)


def _terms(expr: sympy.Expr) -> dict[sympy.Expr, float]:
    return {t: float(c) for t, c in sympy.expand(expr).as_coefficients_dict().items()}


def test_a_damping_that_depends_on_the_phase_is_selected_with_its_constants():
    rng = np.random.default_rng(0)
    X = rng.uniform([-2, -1], [2, 1], (300, 2))
    y = -0.5 * X[:, 1] * np.cos(X[:, 0]) - np.sin(X[:, 0]) + 0.002 * rng.normal(size=300)
    front = symbolic_fit(X, y, ["x_0", "x_1"], engine="sparse")
    terms = _terms(front.selected.expression)
    assert set(terms) == {X1 * sympy.cos(X0), sympy.sin(X0)}
    np.testing.assert_allclose(
        [terms[X1 * sympy.cos(X0)], terms[sympy.sin(X0)]], [-0.5, -1.0], rtol=0.02
    )


def test_a_product_of_a_sine_and_a_cosine_is_found():
    rng = np.random.default_rng(1)
    X = rng.uniform(-2, 2, (200, 1))
    y = (np.cos(X[:, 0]) - 0.9) * np.sin(X[:, 0]) + 0.001 * rng.normal(size=200)
    found = get_engine("sparse").search(X, y, ["x_0"], SearchOptions())
    wanted = {sympy.sin(X0) * sympy.cos(X0), sympy.sin(X0)}
    assert any(set(_terms(e)) == wanted for e in found)
    without = SearchOptions(extra=(("products", False),))
    found = get_engine("sparse").search(X, y, ["x_0"], without)
    assert not any(set(_terms(e)) == wanted for e in found)


def test_products_add_no_candidate_where_the_base_library_holds_the_law():
    rng = np.random.default_rng(2)
    X = rng.uniform(0.5, 3, (300, 2))
    y = 0.4 * X[:, 0] * X[:, 1] - 0.3 * X[:, 1] + 0.01 * rng.normal(size=300)
    engine = get_engine("sparse")
    with_products = engine.search(X, y, ["x_0", "x_1"], SearchOptions())
    base = engine.search(X, y, ["x_0", "x_1"], SearchOptions(extra=(("products", False),)))
    assert [str(e) for e in with_products] == [str(e) for e in base]


def test_the_library_leaves_out_the_square_of_a_cosine():
    X = np.random.default_rng(3).uniform(-1, 1, (50, 2))
    _, terms = trig_products(X, [X0, X1])
    assert sympy.cos(X0) ** 2 not in terms and sympy.sin(X0) ** 2 in terms
    assert X1 * sympy.cos(X0) in terms and sympy.sin(X1) * sympy.cos(X0) in terms
    assert len(terms) == len(set(terms)) == 8 + 2 * 2 + 4


def test_the_beam_keeps_a_small_term_nearly_collinear_with_a_larger_one():
    rng = np.random.default_rng(4)
    X = rng.uniform([-0.1, -0.4], [0.8, 0.9], (150, 2))
    y = -0.07 * X[:, 1] * np.cos(X[:, 0]) - X[:, 1] - np.sin(X[:, 0])
    y = y + 1e-4 * rng.normal(size=150)
    M, base = library(X, [X0, X1], 3, True, True)
    P, products = trig_products(X, [X0, X1])
    terms = [*base, *products]
    truth = tuple(sorted(terms.index(t) for t in (X1, sympy.sin(X0), X1 * sympy.cos(X0))))
    fits = sparse_fits(np.column_stack([M, P]), terms, y, 8, 2)
    best = min((f for f, _ in fits if len(f[1]) == 3), key=lambda f: f[0])
    assert best[1] == truth
    assert Compressed(np.column_stack([M, P]), y).fit(truth)[0] < 2e-8


LAWS = {
    "predation saturating in the prey": lambda x, y: 0.8 * x - 1.5 * x * y / (x + 0.7),
    "inhibition by the substrate": lambda x, y: 8.9 - x - 4.0 * x * y / (x**2 + 1.0),
}


@pytest.mark.parametrize("name", sorted(LAWS))
def test_a_saturating_term_times_another_input_is_found(name: str) -> None:
    law_of = LAWS[name]
    rng = np.random.default_rng(5)
    X = rng.uniform([0.1, 0.5], [4.0, 3.0], (300, 2))
    y = law_of(X[:, 0], X[:, 1]) + 0.001 * rng.normal(size=300)
    held = rng.uniform([0.1, 0.5], [5.0, 3.5], (200, 2))
    truth = law_of(held[:, 0], held[:, 1])
    terms = len(sympy.Add.make_args(sympy.expand(law_of(X0, X1))))

    def law(expr: sympy.Expr) -> bool:
        f = sympy.lambdify((X0, X1), expr, "numpy")
        close = np.linalg.norm(f(held[:, 0], held[:, 1]) - truth) < 0.01 * np.linalg.norm(truth)
        return close and len(sympy.Add.make_args(sympy.expand(expr))) == terms

    engine = get_engine("sparse")
    assert any(law(e) for e in engine.search(X, y, ["x_0", "x_1"], SearchOptions()))
    alone = SearchOptions(extra=(("multiplied", False),))
    assert not any(law(e) for e in engine.search(X, y, ["x_0", "x_1"], alone))
