"""The held-out rule's fold refits of an ODE model trained by multiple shooting: a segment
that starts at a step the fold does not observe starts where the candidate's trajectory
from the segment before arrives, so on noise-free data the law keeps its constants and
is not beaten by the law plus a small term that absorbs a bent refit."""

from pathlib import Path

import numpy as np
import pytest
import sympy
import torch

from discover.config import DistillConfig
from discover.distill import Candidate, ParetoFront
from discover.distill.probe import ProbeSamples
from discover.distill.selection import block_errors, time_blocks
from discover.stages.in_model import REFIT_TOLERANCE, continued_starts, masked_refit
from discover.stages.in_model import score_in_model as scored_in_model
from discover.stages.select import SelectionContext, selection_rule
from discover.workflows.ode import ODEWorkflow
from tests.ode.logistic import logistic as logistic_from
from tests.ode.logistic import logistic_study
from tests.ode.test_reinsert_starts import CAPACITY, RATE, TIMES, X0, logistic

X = sympy.Symbol("x", real=True)
LAW = RATE * X - RATE / CAPACITY * X**2


def _study(folder: Path, noise: float = 0.0, times: np.ndarray = TIMES) -> ODEWorkflow:
    """The logistic study at ``times`` (``noise`` relative Gaussian noise on the states)."""
    rng = np.random.default_rng(0)
    x = logistic_from(times, X0, RATE, CAPACITY) * (1 + noise * rng.normal(size=len(times)))
    return logistic_study(folder, times, x)


def test_unseen_starts_continue_the_model_s_trajectory(tmp_path: Path):
    workflow = _study(tmp_path)
    starts = np.array(workflow.shooting.starts[1:])
    unseen = np.zeros((len(starts), 1, 1), bool)
    unseen[[1, 2, 5]] = True  # a run of two, and one alone
    flat = unseen.reshape(-1)
    truth, poor = logistic(RATE, CAPACITY), logistic(0.85 * RATE, 1.1 * CAPACITY)

    def continued(_: Candidate, trainable: list[torch.Tensor]) -> np.ndarray:
        states = workflow.shooting.segment_states  # from the observations
        with torch.no_grad():
            states[torch.as_tensor(unseen)] = torch.as_tensor(poor[starts[flat]])
        continued_starts(workflow, unseen)
        return states.detach().numpy().reshape(-1).copy()

    law = Candidate(LAW, 5, 0.0)
    [states] = scored_in_model(workflow, "F", [law], workflow.config.distill.selection, continued)
    np.testing.assert_allclose(states, truth[starts], rtol=1e-7)  # the others stay


def _fold_refits(workflow: ODEWorkflow, candidate: Candidate) -> tuple[list[str], np.ndarray]:
    """The candidate refitted as the held-out rule does on each fold: its refitted
    expressions and its held-out errors ``[block]``."""
    settings = workflow.config.distill.selection
    part = workflow.split_slices()["train"]
    observed = workflow.observed[part]
    blocks = time_blocks(observed.shape[0])
    parity = np.arange(len(blocks)) % 2
    folds = [np.isin(np.arange(observed.shape[0]), np.concatenate(blocks[p::2])) for p in (0, 1)]

    def refitted(_: Candidate, trainable: list[torch.Tensor]) -> tuple[list[str], np.ndarray]:
        start = [p.detach().clone() for p in trainable]
        errors, found = np.zeros(len(blocks)), []
        for p, fold in enumerate(folds):
            for tensor, value in zip(trainable, start, strict=True):
                tensor.data.copy_(value)
            masked_refit(workflow, part, ~fold)(trainable, settings.refit_steps)
            found.append(workflow.model.slots["F"].expression())
            with torch.no_grad():
                simulated = workflow.simulate().numpy()[part]
            held = [b for b, q in zip(blocks, parity, strict=True) if q == p]
            errors[parity == p] = block_errors(simulated, observed, held)[:, 0]
        return found, errors

    [result] = scored_in_model(workflow, "F", [candidate], settings, refitted)
    return result


def test_a_fold_refit_keeps_the_law_on_noise_free_data(tmp_path: Path):
    found, errors = _fold_refits(_study(tmp_path), Candidate(LAW, 5, 0.0))
    for expression in found:  # starts interpolated across held-out blocks bent them 1e-5
        coefficients = [float(c) for c in sympy.Poly(expression, X).all_coeffs()[:-1]]
        np.testing.assert_allclose(coefficients, [-RATE / CAPACITY, RATE], rtol=1e-7)
    assert errors.max() < 1e-3 * REFIT_TOLERANCE


@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_heldout_prefers_the_law_to_the_law_plus_a_tiny_term(tmp_path: Path, noise: float):
    # 60 times: starts interpolated across a held-out block were off the trajectory by
    # enough to bend the law's refit to held-out errors of 3e-9, and the law plus 1e-5 x³
    # absorbed the bend (1e-9) and won; from continued starts the law stays exact
    workflow = _study(tmp_path, noise, np.linspace(0, 10, 60))
    x = np.linspace(0.1, CAPACITY, 50)
    samples = ProbeSamples(x[:, None], RATE * x - RATE / CAPACITY * x**2, ("x",))
    candidates = [Candidate(LAW, 5, 0.0), Candidate(LAW + 1e-5 * X**3, 9, 0.0)]
    front = ParetoFront(candidates, ("x",), "test", 1, {})
    settings = DistillConfig.model_validate({"selection": {"rule": "heldout"}})
    context = SelectionContext(workflow, samples, settings, None)
    chosen = selection_rule("heldout").select(front, "F", context).front
    assert sympy.simplify(chosen.selected.expression - LAW) == 0
    law, tiny = (row["score"] for row in chosen.metadata["held_out"])
    if noise:  # both at the noise: the margin is the spread over blocks, nothing unresolved
        assert law > np.log(1e-4) and chosen.metadata["held_out_margin"]["unresolved"] < 1e-4
    else:  # the law at the refit's resolution, where nothing does better
        assert law == pytest.approx(np.log(REFIT_TOLERANCE)) and tiny >= law
