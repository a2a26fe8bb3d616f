"""Neural slots of an ODE model are scaled by the rates of change of their states."""

from pathlib import Path

import numpy as np
import torch
from scipy.integrate import solve_ivp

from discover.fit.collocation import collocation_prefit
from discover.fit.diagnose import TrainingError, unfitted_states, untrained_error
from discover.models.ode import ODEModel
from discover.processes import Symbolic
from discover.workflows.ode import ODEWorkflow, slot_rate_scales
from tests.ode.logistic import logistic, logistic_study


def logistic_rates(x: np.ndarray, rate: float, capacity: float) -> np.ndarray:
    return rate * x * (1 - x / capacity)


def test_a_settling_trajectory_is_scaled_by_the_rates_of_its_transient():
    # most samples sit at the equilibrium (median rate near 0); the scale is their RMS
    times = np.linspace(0, 10, 150)
    x = logistic(times, 11.0, 1.8, 16.26)
    model = ODEModel(["x"], {"x": "F(x)"}, functions={"F": ["x"]})
    scale = slot_rate_scales(model, x[:, None, None], times)["F"]
    true_rms = np.sqrt(np.mean(logistic_rates(x, 1.8, 16.26) ** 2))
    assert abs(scale / true_rms - 1) < 0.05
    assert np.median(np.abs(np.diff(x) / np.diff(times))) < scale / 100


def test_each_slot_takes_the_scale_of_the_states_whose_equations_call_it():
    times = np.linspace(0, 5, 101)
    slow, fast = logistic(times, 0.1, 1.0, 1.0), logistic(times, 100.0, 1.0, 1000.0)
    observed = np.stack([slow, fast], -1)[:, None, :]
    model = ODEModel(
        ["a", "b"],
        {"a": "F(a)", "b": "b*G(a, b)"},
        functions={"F": ["a"], "G": ["a", "b"]},
    )
    scales = slot_rate_scales(model, observed, times)
    # G is called by b's equation alone, F by a's: each takes its state's rates
    rms = lambda s, c: np.sqrt(np.mean(logistic_rates(s, 1.0, c) ** 2))  # noqa: E731
    assert abs(scales["F"] / rms(slow, 1.0) - 1) < 0.05
    assert abs(scales["G"] / rms(fast, 1000.0) - 1) < 0.05
    # b never observed: G takes the rates of every observed state
    unobserved = np.where(np.arange(2) == 0, observed, np.nan)
    assert slot_rate_scales(model, unobserved, times)["G"] == scales["F"]


def test_the_prefit_of_a_settling_trajectory_reaches_its_transient(tmp_path: Path):
    torch.manual_seed(0)
    workflow = logistic_workflow(tmp_path)
    steps = workflow.n_fit
    result = collocation_prefit(
        workflow.model, workflow.times[:steps], workflow.observed[:steps], iterations=100
    )
    assert result is not None and result.loss_after < 0.01 * result.loss_before


def test_known_terms_are_taken_off_the_rates_a_slot_is_scaled_by():
    # y' = -k*x - F(y) with F(y) = 0.3*y: F is scaled by 0.3*|y|, not by y's rates,
    # which the known term -k*x dominates
    times = np.linspace(0, 12, 121)
    damped = lambda _t, u: [u[1], -u[0] - 0.3 * u[1]]  # noqa: E731
    solution = solve_ivp(damped, (0, 12), [2.0, 0.0], t_eval=times, rtol=1e-10, atol=1e-12)
    observed = solution.y.T[:, None, :]
    model = ODEModel(["x", "y"], {"x": "y", "y": "-k*x - F(y)"}, {"k": 1.0}, {"F": ["y"]})
    scale = slot_rate_scales(model, observed, times)["F"]
    slot_rms = np.sqrt(np.mean((0.3 * solution.y[1]) ** 2))
    rate_rms = np.sqrt(np.mean(np.array(damped(0, solution.y)[1]) ** 2))
    assert abs(scale / slot_rms - 1) < 0.05
    assert scale < rate_rms / 2


def logistic_workflow(folder: Path) -> ODEWorkflow:
    """``x' = F(x)`` on a settling logistic trajectory, trained by multiple shooting."""
    times = np.linspace(0, 10, 150)
    return logistic_study(folder, times, logistic(times, 11.0, 1.8, 16.26))


def test_a_slot_stuck_near_a_constant_leaves_its_state_unfitted(tmp_path: Path):
    workflow = logistic_workflow(tmp_path)
    workflow.model.set_slot("F", Symbolic("0.4589", ["x"]))
    assert unfitted_states(workflow) == ["x"]
    error = untrained_error(workflow)
    assert isinstance(error, TrainingError) and "'x'" in str(error)
    workflow.model.set_slot("F", Symbolic("1.8*x*(1 - x/16.26)", ["x"]))
    assert unfitted_states(workflow) == [] and untrained_error(workflow) is None
