"""The reinsertion refit of an ODE model trained by multiple shooting fits the segment
starts anew with the equation: starts left by a poor model do not bend its constants."""

from pathlib import Path

import numpy as np
import sympy

from discover.distill import Candidate
from discover.stages import reinsert as reinsertion
from discover.workflows.ode import ODEWorkflow
from tests.ode.logistic import logistic as logistic_from
from tests.ode.logistic import logistic_study, start_segments_on

RATE, CAPACITY, X0 = 2.1, 4.2, 0.13  # x' = 2.1 x - 0.5 x²
TIMES = np.linspace(0, 10, 120)


def logistic(rate: float, capacity: float) -> np.ndarray:
    """The logistic trajectory from ``X0`` at ``TIMES``."""
    return logistic_from(TIMES, X0, rate, capacity)


def reinserted_truth(folder: Path, noise: float) -> tuple[ODEWorkflow, list[float]]:
    """A network model of logistic data (``noise`` relative Gaussian noise) trained by
    multiple shooting, its segment starts left where a poor model (another logistic law)
    runs, then the true law reinserted and refitted; the workflow and the refitted
    constants."""
    x = logistic(RATE, CAPACITY) * (1 + noise * np.random.default_rng(0).normal(size=len(TIMES)))
    workflow = logistic_study(folder, TIMES, x)
    start_segments_on(workflow, logistic(0.85 * RATE, 1.1 * CAPACITY))
    config = workflow.config
    x = sympy.Symbol("x", real=True)
    law = Candidate(RATE * x - RATE / CAPACITY * x**2, 5, 0.0, "planted")
    process = reinsertion.reinsert(workflow, "F", law)
    reinsertion.refit(workflow, process, config.reinsert, config.train, seed=0, progress=False)
    return workflow, process.module.constants.detach().tolist()


def test_starts_left_by_a_poor_model_do_not_bend_the_law(tmp_path: Path):
    workflow, constants = reinserted_truth(tmp_path, noise=0.0)
    np.testing.assert_allclose(sorted(constants), [-RATE / CAPACITY, RATE], rtol=1e-4)
    starts = workflow.shooting.segment_states.detach().numpy().ravel()
    truth = logistic(RATE, CAPACITY)[workflow.shooting.starts[1:]]
    np.testing.assert_allclose(starts, truth, rtol=1e-3, atol=1e-4)


def test_starts_on_noisy_data_are_fitted_not_held_at_the_observations(tmp_path: Path):
    workflow, _ = reinserted_truth(tmp_path, noise=0.05)
    shooting = workflow.shooting
    starts = shooting.segment_states.detach().numpy().ravel()
    observed = shooting.observed_states(workflow).ravel()
    truth = logistic(RATE, CAPACITY)[shooting.starts[1:]]
    assert not np.allclose(starts, observed)
    assert np.abs(starts - truth).mean() < np.abs(observed - truth).mean()
