"""The engine interface: symbolic_fit with each engine, fallbacks, options, reproducibility."""

import logging

import numpy as np
import pytest
import sympy
import torch

from discover.distill import OFFLINE_ENGINE, ParetoFront, symbolic_fit
from discover.distill.engines import ENGINES, SearchOptions, get_engine
from discover.distill.engines.operon import operon_symbols, parse_operon
from discover.distill.engines.pysr import probe_pysr
from discover.distill.postprocess import numpy_function

FAST_OPERON = {"population_size": 200, "generations": 15}
"""Operon settings that end by generation count within a second (runs repeat exactly)."""


def michaelis_menten(seed: int = 0, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 10, (n, 1))
    y = 2.5 * X[:, 0] / (0.8 + X[:, 0])
    return X, y + 0.01 * y.std() * rng.normal(size=n)


def test_rational_engine_recovers_michaelis_menten_exactly():
    X, y = michaelis_menten(n=2000)
    front = symbolic_fit(X, y, ["S"], engine="rational", time_budget_s=5)
    S = sympy.Symbol("S", real=True)
    assert front.engine == "rational"
    assert sympy.simplify(front.selected.expression - 2.5 * S / (S + 0.8)) == 0
    complexities = [c.complexity for c in front]
    assert complexities == sorted(complexities)
    assert all(a.loss > b.loss for a, b in zip(front, front[1:], strict=False))


def test_fit_accepts_torch_tensors_and_uses_only_the_given_names():
    X, y = michaelis_menten(n=300)
    front = symbolic_fit(torch.as_tensor(X), torch.as_tensor(y), ["S"], engine="rational")
    for cand in front:
        assert {s.name for s in cand.expression.free_symbols} <= {"S"}
        assert all(s.is_real for s in cand.expression.free_symbols)
        assert isinstance(cand.complexity, int) and np.isfinite(cand.loss)


def test_output_range_drops_candidates_that_leave_it():
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (400, 1))
    y = np.clip(X[:, 0], 0, None) + 0.01 * rng.normal(size=400)
    front = symbolic_fit(X, y, ["x"], engine="rational", output_range=">=-0.05", keep=1)
    for cand in front:
        assert numpy_function(cand.expression, ["x"])(X).min() >= -0.05 - 1e-6


def test_bad_input_is_refused_with_a_clear_message():
    X, y = michaelis_menten(n=50)
    with pytest.raises(ValueError, match=r"shape \[samples, 2\]"):
        symbolic_fit(X, y, ["S", "T"], engine="rational")
    with pytest.raises(ValueError, match="samples"):
        symbolic_fit(X, y[:10], ["S"], engine="rational")
    with pytest.raises(ValueError, match="unknown engine 'nope'"):
        symbolic_fit(X, y, ["S"], engine="nope")
    with pytest.raises(ValueError, match="restarts"):
        SearchOptions(restarts=0)


def test_operon_operator_names_and_swapped_min_max_are_both_requested():
    assert operon_symbols(["add", "min"]) == "add,constant,fmax,fmin,variable"
    with pytest.raises(ValueError, match="cbrt"):
        operon_symbols(["cbrt"])


def test_parse_operon_maps_variables_to_slot_names():
    expr = parse_operon("(0.5 + (2.0 * (max(X1, X2) ^ 2)))", ["s", "p"])
    s, p = sympy.symbols("s p", real=True)
    assert sympy.simplify(expr - (0.5 + 2.0 * sympy.Max(s, p) ** 2)) == 0


def test_operon_strings_evaluate_as_operon_predicts():
    """The printed model (min/max included) parses to what Operon itself evaluates."""
    from pyoperon.sklearn import SymbolicRegressor

    rng = np.random.default_rng(0)
    X = rng.uniform(0, 2, (300, 2))
    y = np.minimum(X[:, 0], 1.0) * X[:, 1]
    regressor = SymbolicRegressor(
        allowed_symbols=operon_symbols(["add", "mul", "min", "max"]),
        objectives=["r2", "length"],
        population_size=200,
        generations=10,
        max_time=5,
        random_state=0,
    )
    regressor.fit(X, y)
    for solution in regressor.pareto_front_:
        text = regressor.get_model_string(solution["tree"], 12)
        ours = numpy_function(parse_operon(text, ["a", "b"]), ["a", "b"])(X)
        theirs = regressor.evaluate_model(solution["tree"], X)
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_default_engine_repeats_exactly_with_the_same_seed(caplog):
    X, y = michaelis_menten(n=300)
    with caplog.at_level(logging.WARNING):
        runs = [
            symbolic_fit(X, y, ["S"], time_budget_s=20, seed=7, restarts=1, **FAST_OPERON)
            for _ in range(2)
        ]
    assert [c.to_dict() for c in runs[0]] == [c.to_dict() for c in runs[1]]
    if not probe_pysr()[0]:
        assert runs[0].engine == OFFLINE_ENGINE
        assert "PySR cannot run here" in runs[0].metadata["fallback_reason"]
        assert "offline engine" in caplog.text


def test_engines_registered_and_report_availability():
    assert {"rational", "operon", "pysr", OFFLINE_ENGINE} <= set(ENGINES)
    for name in ("rational", "operon", OFFLINE_ENGINE):
        ok, reason = get_engine(name).available()
        assert ok, reason


@pytest.mark.skipif(not probe_pysr()[0], reason=f"PySR cannot run here: {probe_pysr()[1]}")
def test_pysr_engine_returns_a_front():
    X, y = michaelis_menten(n=200)
    front = symbolic_fit(X, y, ["S"], engine="pysr", time_budget_s=30)
    assert isinstance(front, ParetoFront) and front.engine == "pysr"


def test_candidates_are_screened_after_polishing_not_before(fixed_engine):
    rng = np.random.default_rng(5)
    X = rng.uniform(0.1, 5.0, (600, 2))
    y = 1.5 * X[:, 0] * X[:, 1] / (X[:, 1] + 0.5) + 0.001 * rng.normal(size=600)
    x, z = sympy.symbols("x z", real=True)
    monod = 1.4 * x * z / (z + 0.4)  # 9 nodes, right
    bloated = 0.2 * x * z + 0.9 * x + 0.014  # 11 nodes, worse, but x*(a*z + b) once polished
    front = symbolic_fit(X, y, ["x", "z"], engine=fixed_engine([monod, bloated]))
    assert [c.complexity for c in front] == [7, 9]
    assert sympy.expand(front[0].expression).free_symbols == {x, z}
    assert front[0].loss > front[1].loss
