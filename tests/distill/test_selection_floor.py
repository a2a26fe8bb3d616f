"""Held-out selection where the candidates' errors sit at the refit's resolution: errors
that differ by less than the refit's tolerance are not told apart, so the candidate with
fewer constants wins; errors the data resolve are still ranked as before."""

import numpy as np
import sympy

from discover.config import DistillConfig
from discover.distill import Candidate, ParetoFront
from discover.distill.probe import ProbeSamples
from discover.distill.selection import one_standard_error_choice
from discover.stages.in_model import REFIT_TOLERANCE
from discover.stages.select import SelectionContext, selection_rule
from tests.core.test_selection_heldout import LAW, Regression, X, _planted


def _errors(scale: float, ratio: float, seed: int, units: int = 10) -> np.ndarray:
    """``[2, units]`` held-out errors: a candidate at ``ratio`` times the other's, both
    around ``scale`` with a little spread over units (lognormal, 5 %)."""
    rng = np.random.default_rng(seed)
    lower = scale * np.exp(rng.normal(0.0, 0.05, units))
    return np.stack([ratio * lower * np.exp(rng.normal(0.0, 0.01, units)), lower])


def test_errors_within_the_resolution_of_each_other_are_not_told_apart():
    # a one-constant law and a two-constant form a third lower, both just above the refit's
    # resolution: the difference is less than the tolerance, so the law wins; the same
    # ratio far above the resolution is resolved by the data and the better form wins
    for seed in range(5):
        near = _errors(1.3 * REFIT_TOLERANCE, 1.3, seed)
        choice = one_standard_error_choice([1, 2], [3, 7], near, REFIT_TOLERANCE)
        assert choice.best == 1 and choice.selected == 0
        assert choice.unresolved > choice.scores[0] - choice.scores[1]
        far = _errors(1e-4, 1.3, seed)
        choice = one_standard_error_choice([1, 2], [3, 7], far, REFIT_TOLERANCE)
        assert choice.selected == 1 and choice.unresolved < 1e-4
    # errors further apart than the resolution are told apart even near it
    apart = _errors(REFIT_TOLERANCE, 4.0, 0)
    assert one_standard_error_choice([1, 2], [3, 7], apart, REFIT_TOLERANCE).selected == 1
    # without a resolution nothing is widened
    choice = one_standard_error_choice([1, 2], [3, 7], _errors(1e-9, 1.3, 0))
    assert choice.unresolved == 0.0 and choice.selected == 1


def test_heldout_picks_the_law_over_a_form_that_fits_below_the_resolution():
    # y = law + a sine whose held-out error, left to the law, is about the refit's
    # tolerance (0.5-2 times it per block): the law-plus-sine form fits it exactly (its
    # errors counted as the tolerance), the law does not, and the data do not resolve it
    x, _ = _planted(0)
    shape = np.sin(3 * x)
    amplitude = np.sqrt(1.5 * REFIT_TOLERANCE * np.var(0.5 * x**2) / np.mean(shape**2))
    y = 0.5 * x**2 + amplitude * shape
    wiggle = f"0.5*x**2 + {amplitude:.6e}*sin(3.0*x)"
    candidates = [
        Candidate(sympy.sympify(e, locals={"x": X}), c, 0.0) for e, c in [(LAW, 3), (wiggle, 8)]
    ]
    front = ParetoFront(candidates, ("x",), "test", 0, {})
    settings = DistillConfig.model_validate({"selection": {"rule": "heldout"}})
    samples = ProbeSamples(x[:, None], y, ("x",))
    context = SelectionContext(Regression(x, y), samples, settings, None)
    chosen = selection_rule("heldout").select(front, "F", context).front
    assert chosen.selected.text() == LAW
    scores = [row["score"] for row in chosen.metadata["held_out"]]
    assert scores[1] < scores[0]  # the wiggle is ahead, by less than what is unresolved
    assert chosen.metadata["held_out_margin"]["unresolved"] > scores[0] - scores[1]
