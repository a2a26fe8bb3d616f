"""The sparse-regression engine recovers polynomial and mass-action laws, and laws with one
saturating (Holling or Hill) term."""

import numpy as np
import sympy

from discover.distill import symbolic_fit
from discover.distill.constants import refit_constants
from discover.distill.engines import get_engine
from discover.distill.engines.base import SearchOptions
from discover.distill.engines.saturating import half_saturations, saturating_grid
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


X_SYMBOL = sympy.Symbol("x", real=True)


def _saturating_inputs(expr: sympy.Expr) -> set[sympy.Symbol]:
    """Symbols in the denominators ``(x + K)`` or ``(x**2 + K)`` of ``expr``."""
    return {
        symbol
        for power in expr.atoms(sympy.Pow)
        if power.exp == -1 and isinstance(power.base, sympy.Add)
        for symbol in power.base.free_symbols
    }


def _rounded(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with every float rounded to 3 significant digits, as an exact rational."""
    return expr.xreplace({f: sympy.Rational(f"{float(f):.3g}") for f in expr.atoms(sympy.Float)})


def _rational_coefficients(expr: sympy.Expr) -> tuple[np.ndarray, np.ndarray] | None:
    """Numerator and denominator coefficients of ``expr`` written ``N(x)/D(x)`` with ``D``
    monic (highest power first); ``None`` when ``expr`` is not a rational function of x."""
    if not expr.is_rational_function(X_SYMBOL):
        return None
    numerator, denominator = sympy.fraction(sympy.cancel(sympy.together(expr)))
    numerator, denominator = sympy.Poly(numerator, X_SYMBOL), sympy.Poly(denominator, X_SYMBOL)
    lead = float(denominator.LC())
    return tuple(
        np.array([float(c) for c in p.all_coeffs()]) / lead for p in (numerator, denominator)
    )


def _same_constants(found: sympy.Expr, truth: sympy.Expr, rtol: float) -> bool:
    """Whether ``found`` is the rational function ``truth`` with coefficients within ``rtol``."""
    mine, theirs = _rational_coefficients(found), _rational_coefficients(truth)
    if mine is None or any(len(a) != len(b) for a, b in zip(mine, theirs, strict=True)):
        return False
    return all(
        np.allclose(a, b, rtol=rtol, atol=1e-9 * np.max(np.abs(b)))
        for a, b in zip(mine, theirs, strict=True)
    )


def _laws_on_front(truth: sympy.Expr, low: float, high: float, seed: int) -> list[sympy.Expr]:
    """Candidates on the sparse engine's front, fitted to ``truth`` on 200 samples of
    ``[low, high]``, that have its form and constants: within 1e-4 relative of it beyond the
    samples (``(high, 1.25 high]``), equal to it with constants rounded to 3 significant
    digits, and the same rational function with coefficients within 1e-3 relative."""
    rng = np.random.default_rng(seed)
    law = sympy.lambdify(X_SYMBOL, truth)
    X = rng.uniform(low, high, (200, 1))
    front = symbolic_fit(X, law(X[:, 0]), ["x"], engine="sparse")
    beyond = rng.uniform(high, 1.25 * high, (200, 1))
    found = []
    for candidate in front:
        pred = numpy_function(candidate.expression, ["x"])(beyond)
        expected = law(beyond[:, 0])
        if np.linalg.norm(pred - expected) > 1e-4 * np.linalg.norm(expected):
            continue
        if sympy.simplify(_rounded(candidate.expression) - truth) != 0:
            continue
        if _same_constants(candidate.expression, truth, rtol=1e-3):
            found.append(candidate.expression)
    return found


def test_sparse_engine_recovers_a_logistic_law_with_a_holling_term():
    x = X_SYMBOL
    truth = (
        sympy.Rational(2, 5) * x
        - sympy.Rational(1, 250) * x**2
        - (sympy.Rational(6, 25) * x / (x + 50))
    )
    assert _laws_on_front(truth, 1.0, 100.0, seed=2)


def test_sparse_engine_recovers_a_hill_term():
    x = X_SYMBOL
    truth = x**2 / (x**2 + 1) - sympy.Rational(11, 20) * x + sympy.Rational(1, 10)
    assert _laws_on_front(truth, 0.05, 3.0, seed=3)


def test_the_constant_refit_moves_a_half_saturation_from_the_grid_to_the_planted_one():
    rng = np.random.default_rng(4)
    X = rng.uniform(1, 100, (300, 1))
    y = 0.4 * X[:, 0] - 0.004 * X[:, 0] ** 2 - 0.24 * X[:, 0] / (X[:, 0] + 50)
    grid = half_saturations(X[:, 0])
    K = float(grid[np.argmin(np.abs(np.log(grid / 50)))])
    assert abs(K / 50 - 1) > 0.05  # the grid does not hold the planted value
    x = X_SYMBOL
    start = 0.41 * x - 0.0041 * x**2 - 0.25 * x / (x + sympy.Float(K))
    refitted, loss = refit_constants(start, ["x"], X, y)
    constants = sorted(float(f) for f in refitted.atoms(sympy.Float))
    np.testing.assert_allclose(constants, [-0.24, -0.004, 0.4, 50.0], rtol=1e-3)
    assert loss < 1e-12 * np.mean(y**2)


def test_only_inputs_that_stay_non_negative_get_saturating_terms():
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.uniform(-2, 2, 300), rng.uniform(0.5, 4, 300)])
    y = 0.5 * X[:, 0] * X[:, 1] - 0.3 * X[:, 1] / (X[:, 1] + 1.5)
    assert {j for _, j, _, _ in saturating_grid(X)} == {1}
    candidates = get_engine("sparse").search(X, y, ["u", "v"], SearchOptions())
    saturating = set().union(*(_saturating_inputs(c) for c in candidates))
    assert saturating == {sympy.Symbol("v", real=True)}
    held = np.column_stack([rng.uniform(-2.5, 2.5, 300), rng.uniform(0.5, 5, 300)])
    expected = 0.5 * held[:, 0] * held[:, 1] - 0.3 * held[:, 1] / (held[:, 1] + 1.5)
    errors = []
    for candidate in candidates:
        refitted, _ = refit_constants(candidate, ["u", "v"], X, y)
        pred = numpy_function(refitted, ["u", "v"])(held)
        errors.append(np.linalg.norm(pred - expected) / np.linalg.norm(expected))
    assert min(errors) < 1e-6


def test_saturating_terms_only_add_candidates():
    rng = np.random.default_rng(6)
    X = rng.uniform(1, 100, (300, 1))
    y = 0.4 * X[:, 0] - 0.004 * X[:, 0] ** 2 - 0.3
    engine = get_engine("sparse")
    without = engine.search(X, y, ["x"], SearchOptions(extra=(("saturating", False),)))
    with_terms = engine.search(X, y, ["x"], SearchOptions())
    assert [sympy.srepr(c) for c in without] == [sympy.srepr(c) for c in with_terms[: len(without)]]
    added = with_terms[len(without) :]
    assert added and all(_saturating_inputs(c) == {X_SYMBOL} for c in added)


def test_options_reach_the_sparse_engine_when_it_is_the_main_engine():
    rng = np.random.default_rng(7)
    X = rng.uniform(1, 100, (200, 1))
    y = 0.4 * X[:, 0] - 0.004 * X[:, 0] ** 2 - 0.24 * X[:, 0] / (X[:, 0] + 50)
    plain = symbolic_fit(X, y, ["x"], engine="sparse", saturating=False)
    assert not any(_saturating_inputs(c.expression) for c in plain)
    assert any(_saturating_inputs(c.expression) for c in symbolic_fit(X, y, ["x"], engine="sparse"))
