"""Candidates that leave their slot's output range are refitted within it
(:mod:`discover.distill.range_fit`) rather than dropped."""

from __future__ import annotations

import numpy as np
import sympy

from discover.distill import symbolic_fit
from discover.distill.postprocess import numpy_function
from discover.distill.range_fit import fit_within, leaves, leaves_anywhere
from discover.processes import OutputRange

NAMES = ("pet", "soil_wetness")


def saturating_samples(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """ET of a network held below pet: ``pet·min(1, SW/0.8)`` [samples]."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(0.2, 5.0, n), rng.uniform(0.0, 1.0, n)])
    return X, X[:, 0] * np.minimum(1.0, X[:, 1] / 0.8)


def test_a_linear_form_refitted_within_pet_stays_below_it_and_near_the_samples():
    X, y = saturating_samples()
    pet, sw = sympy.symbols("pet soil_wetness", real=True)
    free_fit = pet * (1.02 * sw + 0.25)  # least squares crosses pet in wet soil
    assert (numpy_function(free_fit, NAMES)(X) > X[:, 0] * 1.1).any()
    expression, loss = fit_within(free_fit, NAMES, X, y, OutputRange.parse("0 <= out <= pet"))
    values = numpy_function(expression, NAMES)(X)
    rms = float(np.sqrt(loss))
    assert not leaves(expression, NAMES, X, OutputRange.parse("0 <= out <= pet"))
    assert (values - X[:, 0]).max() <= 1e-5 and values.min() >= 0
    assert rms < 0.25 * float(np.std(y))  # still a description of the samples
    assert expression.free_symbols == {pet, sw}  # the same form


def test_symbolic_fit_keeps_forms_that_least_squares_would_push_out_of_range():
    # every least-squares form of the sparse engine crosses pet here: without the refit
    # within the range, none would be left
    X, y = saturating_samples()
    front = symbolic_fit(X, y, NAMES, engine="sparse", output_range="0 <= out <= pet", seed=0)
    pet, sw = sympy.symbols("pet soil_wetness", real=True)
    simple = [c for c in front if c.complexity <= 7 and c.expression.free_symbols == {pet, sw}]
    assert simple and simple[-1].loss < 0.1 * float(np.var(y))
    for candidate in simple:  # refitted inside, not merely within their error
        assert not leaves(candidate.expression, NAMES, X, OutputRange.parse("[0, pet]"))


def test_the_refit_stays_in_range_beyond_the_samples_where_asked():
    X, y = saturating_samples()
    seen = X[:, 1] < 0.85  # wet soil never sampled
    wet = np.column_stack([np.linspace(0.2, 5.0, 50), np.ones(50)])
    pet, sw = sympy.symbols("pet soil_wetness", real=True)
    bounds = OutputRange.parse("0 <= out <= pet")
    alone, _ = fit_within(pet * (1.02 * sw + 0.25), NAMES, X[seen], y[seen], bounds)
    assert leaves(alone, NAMES, wet, bounds)  # inside where sampled, not in wet soil
    found, _ = fit_within(pet * (1.02 * sw + 0.25), NAMES, X[seen], y[seen], bounds, wet)
    assert not leaves(found, NAMES, np.vstack([X, wet]), bounds)


def test_beyond_the_samples_only_the_ends_that_inputs_set_are_held():
    pet, sw = sympy.symbols("pet soil_wetness", real=True)
    X = np.array([[1.0, 0.5], [2.0, 0.6]])
    below_zero_far_out = np.array([[1.0, -5.0]])  # 0.5*pet*(SW + 0.1) < 0 there
    form = 0.5 * pet * (sw + 0.1)
    bounds = OutputRange.parse("0 <= out <= pet")
    assert not leaves_anywhere(form, NAMES, X, bounds, below_zero_far_out)
    assert leaves(form, NAMES, below_zero_far_out, bounds)
    above_pet_far_out = np.array([[1.0, 5.0]])
    assert leaves_anywhere(form, NAMES, X, bounds, above_pet_far_out)
