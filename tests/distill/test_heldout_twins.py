"""The ``heldout`` rule scores each form once, from its best start: candidates of one form
with other constants (twins) are not refitted and scored each, the start with the lowest
training loss before any refit is, and the others are reported as its twins."""

import numpy as np
import sympy

from discover.config import DistillConfig
from discover.distill import Candidate, ParetoFront
from discover.distill.probe import ProbeSamples
from discover.stages.in_model import form
from discover.stages.select import SelectionContext, selection_rule
from tests.core.test_selection_heldout import Regression, _planted

X = sympy.Symbol("x", real=True)


def _select(expressions: list[str], near: list[str] = ()):
    """The ``heldout`` selection among ``expressions`` (complexities rising) and the near
    front ``near`` on ``y = 0.5 x²`` plus a smooth error."""
    x, y = _planted(0, smooth=0.02)
    candidates = [
        Candidate(sympy.sympify(e, locals={"x": X}), 3 + 4 * i, 0.0)
        for i, e in enumerate(expressions)
    ]
    metadata = {"near_front": [{"expression": e, "complexity": 4, "loss": 0.1} for e in near]}
    front = ParetoFront(candidates, ("x",), "test", 0, metadata)
    settings = DistillConfig.model_validate({"selection": {"rule": "heldout"}})
    context = SelectionContext(
        Regression(x, y), ProbeSamples(x[:, None], y, ("x",)), settings, None
    )
    return selection_rule("heldout").select(front, "F", context).front


def test_forms_ignore_the_values_of_constants_only():
    def same(a: str, b: str) -> bool:
        return form(sympy.sympify(a)) == form(sympy.sympify(b))

    assert same("0.6*x", "0.7*x") and same("10.0/x", "-12.0/x")
    assert same("0.5*x**0.707", "0.230004*x**0.999993")
    assert not same("0.5*x**2", "0.5*x") and not same("0.5*x", "0.5*y")


def test_twins_are_scored_once_from_the_start_nearest_the_data(refits):
    # the far start first, on the front; the good one on the near front; another form
    law, far, other = "0.5*x**2", "-40.0*x**2", "0.7*x + 0.3"
    front = _select([far, other], near=[law])
    rows = {row["expression"]: row for row in front.metadata["held_out"]}
    assert set(rows) == {far, other, law}  # the twin is reported, not dropped
    assert np.isnan(rows[far]["score"]) and rows[far]["twin_of"] == law
    assert np.isfinite(rows[law]["score"]) and "twin_of" not in rows[law]
    assert np.isfinite(rows[other]["score"]) and "twin_of" not in rows[other]
    assert front.selected.text() == law
    # two forms refitted on two folds each, then the chosen one once on all the training
    # data for its snapped form (:func:`snapped_refit`); the twin never
    assert len(refits) == 2 * 2 + 1


def test_a_form_without_twins_is_scored_as_before():
    front = _select(["0.7*x", "0.5*x**2"])
    assert all(np.isfinite(r["score"]) for r in front.metadata["held_out"])
    assert not any("twin_of" in r for r in front.metadata["held_out"])
    assert front.selected.text() == "0.5*x**2"
