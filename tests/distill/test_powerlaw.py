"""The power-law engine recovers planted power laws, symbolically and on held-out points."""

import numpy as np
import pytest
import sympy

from discover.distill import symbolic_fit
from discover.distill.engines import ENGINES, SearchOptions, get_engine
from discover.distill.postprocess import numpy_function

FAST_OPERON = {"population_size": 200, "generations": 15}


def r_squared(expr: sympy.Expr, names: list[str], X: np.ndarray, truth: np.ndarray) -> float:
    pred = numpy_function(expr, names)(X)
    return 1.0 - float(np.mean((pred - truth) ** 2) / np.var(truth))


def test_recovers_a_square_root_law_of_an_input_that_reaches_zero(power_law):
    rng = np.random.default_rng(0)
    names = ["pet", "wetness"]
    X = np.column_stack([rng.uniform(0.1, 6.0, 800), rng.uniform(0.0, 1.0, 800)])
    X[:20, 1] = 0.0  # dry soil: log-linear fits cannot use these rows
    truth = lambda X: 0.9 * X[:, 0] * np.sqrt(X[:, 1])  # noqa: E731
    y = truth(X) * (1.0 + 0.02 * rng.standard_normal(800))
    front = symbolic_fit(X, y, names, engine="powerlaw")
    constant, exponents = power_law(front.selected.expression)
    assert exponents == pytest.approx({"pet": 1.0, "wetness": 0.5}, abs=0.03)
    assert constant == pytest.approx(0.9, rel=0.05)
    held_out = np.column_stack([rng.uniform(0.1, 6.0, 500), rng.uniform(0.0, 1.0, 500)])
    assert r_squared(front.selected.expression, names, held_out, truth(held_out)) > 0.999


def test_recovers_a_nonlinear_recession_and_a_negative_one(power_law):
    rng = np.random.default_rng(1)
    S = rng.uniform(0.0, 120.0, (600, 1))
    y = 0.02 * S[:, 0] ** 1.5 * (1.0 + 0.02 * rng.standard_normal(600))
    for sign in (1.0, -1.0):
        front = symbolic_fit(S, sign * y, ["S"], engine="powerlaw")
        constant, exponents = power_law(front.selected.expression)
        assert exponents == pytest.approx({"S": 1.5}, abs=0.03)
        assert constant == pytest.approx(sign * 0.02, rel=0.1)
        grid = np.linspace(0.0, 150.0, 50)[:, None]  # beyond the fitted range too
        assert (
            r_squared(front.selected.expression, ["S"], grid, sign * 0.02 * grid[:, 0] ** 1.5)
            > 0.99
        )


def test_a_front_of_rising_complexity_with_a_second_term_when_the_data_need_it():
    rng = np.random.default_rng(2)
    X = rng.uniform(0.1, 10.0, (600, 1))
    y = 1.0 + 2.0 * X[:, 0] ** 0.7
    front = symbolic_fit(X, y, ["x"], engine="powerlaw")
    complexities = [c.complexity for c in front]
    assert complexities == sorted(complexities) and len(front) >= 2
    grid = np.linspace(0.1, 10.0, 40)[:, None]
    assert r_squared(front.selected.expression, ["x"], grid, 1.0 + 2.0 * grid[:, 0] ** 0.7) > 0.999


def test_mixed_signs_and_negative_inputs_give_no_power_law():
    engine = get_engine("powerlaw")
    rng = np.random.default_rng(3)
    X = rng.uniform(-1.0, 1.0, (200, 2))
    assert engine.search(X, X[:, 0], ["a", "b"], SearchOptions()) == []
    positive = np.abs(X) + 0.1
    found = engine.search(X[:, :1], positive[:, 1], ["a"], SearchOptions())
    assert found == []  # "a" takes negative values: no real power of it


def test_registered_and_part_of_the_offline_combination(power_law):
    assert "powerlaw" in ENGINES
    rng = np.random.default_rng(4)
    X = np.column_stack([rng.uniform(0.1, 6.0, 500), rng.uniform(0.0, 1.0, 500)])
    y = 0.9 * X[:, 0] * np.sqrt(X[:, 1])
    front = symbolic_fit(
        X, y, ["pet", "wetness"], engine="rational+operon", time_budget_s=3, **FAST_OPERON
    )
    exact = [c for c in front if c.loss < 1e-8 * np.var(y)]
    assert exact, f"no exact candidate on the front:\n{front}"
    _, exponents = power_law(exact[0].expression)
    assert exponents == pytest.approx({"pet": 1.0, "wetness": 0.5}, abs=1e-3)


def test_a_near_integer_exponent_is_also_offered_fixed_at_the_integer():
    rng = np.random.default_rng(6)
    X = np.column_stack([rng.uniform(0.1, 6.0, 800), rng.uniform(0.05, 1.0, 800)])
    # a demand times a wetness power, blurred so that the free fit of pet's exponent is not 1
    y = X[:, 0] * X[:, 1] ** 0.6 * (1.0 + 0.05 * np.sin(3.0 * X[:, 0]))
    found = get_engine("powerlaw").search(X, y, ["pet", "sw"], SearchOptions())
    pet, sw = sympy.symbols("pet sw", real=True)
    free = [e for e in found if e.has(pet) and e.has(sw) and len(e.atoms(sympy.Float)) == 3]
    fixed = [e for e in found if e.has(pet) and e.has(sw) and e.as_coeff_exponent(pet)[1] == 1]
    assert free and fixed
    exponent = fixed[0].as_coeff_exponent(sw)[1]
    assert exponent == pytest.approx(0.6, abs=0.05)
    assert len(fixed[0].atoms(sympy.Float)) == 2  # the scale and sw's exponent
