"""Post-processing: refitting, merging redundant constants, rounding, tidying."""

import numpy as np
import sympy

from discover.distill.postprocess import (
    merge_constants,
    mse,
    polish,
    refit_constants,
    round_constants,
    tidy,
)
from discover.expressions import parse_expression

NAMES = ["x"]


def data(seed=0, noise=0.01):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 5, (800, 1))
    truth = X[:, 0] / (1 + X[:, 0])
    return X, truth + noise * truth.std() * rng.normal(size=len(truth))


def test_redundant_operon_style_constants_collapse_to_the_plain_form():
    X, y = data()
    expr = parse_expression("6.008*x/(6.006*x + 6.009)", NAMES)
    polished, loss = polish(expr, NAMES, X, y)
    x = sympy.Symbol("x", real=True)
    assert sympy.simplify(polished - x / (x + 1)) == 0
    assert loss <= 1.01 * refit_constants(expr, NAMES, X, y)[1]


def test_refit_moves_constants_to_the_least_squares_optimum():
    X, y = data(noise=0.0)
    expr = parse_expression("1.7*x/(x + 0.4)", NAMES)
    refitted, loss = refit_constants(expr, NAMES, X, y)
    assert loss < 1e-12 < mse(expr, NAMES, X, y)
    constants = refitted.atoms(sympy.Float)
    assert constants and all(abs(float(f) - 1.0) < 1e-5 for f in constants)


def test_merge_removes_a_scale_shared_by_numerator_and_denominator():
    X, y = data()
    expr, loss = refit_constants(parse_expression("3.1*x/(3.0*x + 2.9)", NAMES), NAMES, X, y)
    merged, merged_loss = merge_constants(expr, NAMES, X, y, loss)
    assert len(merged.atoms(sympy.Float)) < len(expr.atoms(sympy.Float))
    assert merged_loss <= 1.01 * loss


def test_rounding_keeps_few_digits_within_the_tolerance():
    X, y = data()
    expr, loss = refit_constants(parse_expression("2.5*x/(x + 0.8)", NAMES), NAMES, X, y)
    rounded, rounded_loss = round_constants(expr, NAMES, X, y, loss, tolerance=0.01)
    assert rounded_loss <= 1.01 * loss
    for f in rounded.atoms(sympy.Float):
        assert len(f"{float(f):.6g}".replace(".", "").replace("-", "").strip("0")) <= 3


def test_rounding_does_not_drop_digits_that_matter():
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 5, (500, 1))
    y = 1.2345 * X[:, 0]  # noise-free: any rounding of 1.2345 worsens the loss
    expr = parse_expression("1.2345*x", NAMES)
    rounded, _ = round_constants(expr, NAMES, X, y, 1e-6, tolerance=0.01)
    assert abs(float(rounded.atoms(sympy.Float).pop()) - 1.2345) < 1e-3


def test_polish_returns_none_for_expressions_that_cannot_be_evaluated():
    X, y = data()
    assert polish(parse_expression("log(-1 - x**2)", NAMES), NAMES, X, y) is None


def test_tidy_writes_negated_extrema_the_short_way():
    names = ["pet", "sm"]
    pet, sm = sympy.symbols("pet sm", real=True)
    assert tidy(parse_expression("-max(-pet, -0.5*pet*sm)", names)) == sympy.Min(
        pet, 0.5 * pet * sm
    )
    assert tidy(parse_expression("-max(pet, sm)", names)) == -sympy.Max(pet, sm)
    assert tidy(parse_expression("2.0*sm**2.0", names)) == 2 * sm**2
