"""The selection's refits of an ODE model trained by multiple shooting (``bic``'s
refitted loss, the snapped refit) fit the segment starts anew with each candidate: starts
left by a poor model do not bend its constants, and are put back afterwards."""

from pathlib import Path

import numpy as np
import pytest
import sympy
import torch

from discover.distill import Candidate
from discover.distill.probe import ProbeSamples
from discover.stages.in_model import refitted_loss, score_in_model, snapped_refit
from discover.workflows.ode import ODEWorkflow
from tests.ode.logistic import logistic_study, start_segments_on
from tests.ode.test_reinsert_starts import CAPACITY, RATE, TIMES, logistic

X = sympy.Symbol("x", real=True)


@pytest.fixture
def workflow(tmp_path: Path) -> ODEWorkflow:
    """A network model of noise-free logistic data trained by multiple shooting, its
    segment starts left where a poor model (another logistic law) runs."""
    workflow = logistic_study(tmp_path, TIMES, logistic(RATE, CAPACITY))
    start_segments_on(workflow, logistic(0.85 * RATE, 1.1 * CAPACITY))
    return workflow


def coefficients(expression: sympy.Expr) -> list[float]:
    """The coefficients of ``expression`` as a polynomial in ``x``, highest power first."""
    return [float(c) for c in sympy.Poly(expression, X).all_coeffs()[:-1]]


def test_refitted_loss_of_the_law_keeps_its_constants(workflow: ODEWorkflow):
    settings = workflow.config.distill.selection
    left = workflow.shooting.segment_states.detach().clone()
    law = Candidate(RATE * X - 0.9 * RATE / CAPACITY * X**2, 5, 0.0, "planted")

    def refitted(_: Candidate, trainable: list[torch.Tensor]) -> sympy.Expr:
        refitted_loss(workflow, trainable, settings.refit_steps)  # as bic's score
        return workflow.model.slots["F"].expression()

    [expression] = score_in_model(workflow, "F", [law], settings, refitted)
    np.testing.assert_allclose(coefficients(expression), [-RATE / CAPACITY, RATE], rtol=1e-3)
    assert torch.equal(workflow.shooting.segment_states, left)  # the model's own, back


def test_snapped_refit_keeps_the_law_s_constants(workflow: ODEWorkflow):
    settings = workflow.config.distill.selection
    floated = Candidate(RATE * X - RATE / CAPACITY * X**1.95, 5, 0.0, "planted")
    x = np.linspace(0.1, CAPACITY, 50)
    samples = ProbeSamples(x[:, None], RATE * x - RATE / CAPACITY * x**2, ("x",))
    snapped = snapped_refit(workflow, "F", floated, settings, samples, seed=0)
    assert snapped is not None  # bent by the starts, the exponent left for 2.29
    # the refit's exponent (1.997) is within 1%, so are its coefficients (bent: 7% off)
    np.testing.assert_allclose(
        coefficients(snapped.expression), [-RATE / CAPACITY, RATE], rtol=1e-2
    )
