"""ODEBench definitions: every system parses, and simulated trajectories are right."""

import dataclasses

import numpy as np
import pytest
import sympy

from discover.data import odebench
from discover.data.odebench import OdeBenchError, load_odebench


def test_all_63_systems_parse_over_their_state_names():
    systems = load_odebench()
    assert [s.id for s in systems] == list(range(1, 64))
    for system in systems:
        assert len(system.rhs) == len(system.names)
        allowed = {sympy.Symbol(n, real=True) for n in system.names}
        for expr in system.rhs:
            assert expr.free_symbols <= allowed
            assert not expr.atoms(sympy.core.function.AppliedUndef)
        assert all(len(init) == len(system.names) for init in system.initial_conditions)


def test_exponential_growth_matches_its_closed_form():
    (growth,) = load_odebench([2])  # dx/dt = 0.23 x, x(0) = 4.78
    t, X = growth.simulate(0, n_times=50)
    np.testing.assert_allclose(X[:, 0], 4.78 * np.exp(0.23 * t), rtol=1e-6)


def test_harmonic_oscillator_conserves_its_energy():
    (oscillator,) = load_odebench([24])  # x0' = x1, x1' = -2.1 x0
    _, X = oscillator.simulate(1)
    energy = 2.1 * X[:, 0] ** 2 + X[:, 1] ** 2
    np.testing.assert_allclose(energy, energy[0], rtol=1e-5)


def test_noise_is_relative_and_seeded():
    (system,) = load_odebench([2])
    _, clean = system.simulate(0)
    _, noisy = system.simulate(0, noise=0.1, seed=3)
    _, again = system.simulate(0, noise=0.1, seed=3)
    np.testing.assert_array_equal(noisy, again)
    assert 0.05 < np.std(noisy / clean - 1) < 0.15


def test_bad_ids_and_conditions_are_refused_by_name():
    with pytest.raises(OdeBenchError, match=r"id\(s\) \[99\]"):
        load_odebench([99])
    (system,) = load_odebench([2])
    with pytest.raises(OdeBenchError, match="system 2 has initial conditions 0..1, not 5"):
        system.simulate(5)


def test_a_finite_time_blow_up_ends_the_trajectory_early():
    (system,) = load_odebench([4])
    x = sympy.Symbol("x_0", real=True)
    blowing = dataclasses.replace(system, rhs=(x**2,), initial_conditions=((1.0,),))
    t, X = blowing.simulate(0, n_times=100)  # x = 1 / (1 - t): infinite at t = 1
    assert 1 < len(t) < 100 and t[-1] < 1
    np.testing.assert_allclose(X[:, 0], 1 / (1 - t), rtol=1e-5)


def test_an_integration_past_its_evaluation_budget_is_refused(monkeypatch):
    monkeypatch.setattr(odebench, "MAX_EVALUATIONS", 10)
    (system,) = load_odebench([2])
    with pytest.raises(OdeBenchError, match="gave up after 10 evaluations"):
        system.simulate(0)
