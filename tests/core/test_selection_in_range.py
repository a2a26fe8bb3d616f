"""Every selection rule chooses only among candidates that stay in the slot's declared
range wherever the physical checks look; those that leave it stay on the front, marked."""

import logging
from types import SimpleNamespace

import numpy as np
import pytest
import sympy
import torch

from discover.distill import Candidate, ParetoFront
from discover.distill.probe import ProbeSamples
from discover.processes import Neural, Symbolic
from discover.processes.symbolic import ClipCount
from discover.stages.in_range import restored, within
from discover.stages.models import symbolic_process
from discover.stages.score import physical_checks
from discover.stages.select import (
    SELECTION_RULES,
    Selection,
    SelectionContext,
    register_selection_rule,
    selection_rule,
)
from discover.stages.variants import Variants

SLOT = "evapotranspiration"
PET, SW = (sympy.Symbol(n, real=True) for n in ("pet", "soil_wetness"))
INSIDE = PET * (1 - sympy.exp(-3 * SW))  # in [0, pet] for every soil_wetness >= 0
ABOVE = PET * (0.5 + 0.7 * SW)  # 1.2 pet in wet soil: leaves out <= pet
ALSO_ABOVE = 1.1 * PET * SW**0.3


class LowestLoss:
    """A rule that scores every candidate: the lowest loss on the samples wins."""

    def select(self, front, slot, context):
        best = int(np.argmin([c.loss for c in front]))
        metadata = {**front.metadata, "selection_rule": "lowest loss", "score": [1.0] * len(front)}
        return Selection(ParetoFront(front.candidates, front.inputs, front.engine, best, metadata))


@pytest.fixture(scope="module", autouse=True)
def lowest_loss_rule():
    register_selection_rule("lowest_loss", LowestLoss())
    yield
    del SELECTION_RULES["lowest_loss"]


def _context(seed: int = 3) -> SelectionContext:
    rng = np.random.default_rng(seed)
    pet, wet = rng.uniform(0.3, 5.0, 400), rng.uniform(0.05, 1.0, 400)
    samples = ProbeSamples(
        np.stack([pet, wet], 1), pet * np.minimum(1, wet / 0.6), ("pet", "soil_wetness")
    )
    net = Neural(["pet", "soil_wetness"], output_range="0 <= out <= pet", hidden=[4])
    model = SimpleNamespace(slots={SLOT: net}, input_bounds={})
    workflow = SimpleNamespace(model=model, dtype=torch.float64, device=torch.device("cpu"))
    return SelectionContext(workflow, samples, None, None, seed=seed)


def _front(*forms: tuple[sympy.Expr, int, float], selected: int = -1) -> ParetoFront:
    candidates = [Candidate(expr, complexity, loss) for expr, complexity, loss in forms]
    return ParetoFront(candidates, ("pet", "soil_wetness"), "test", selected % len(candidates))


def _ranges(context: SelectionContext, expression: sympy.Expr) -> list[bool]:
    """Pass/fail of the range and limits checks of the checks stage on ``expression``."""
    process = symbolic_process(context.workflow, SLOT, Candidate(expression, 1, 0.0))
    found = physical_checks({"symbolic": {SLOT: process}}, {SLOT: context.samples}, context.seed)
    return [r["passed"] for r in found["symbolic"][SLOT] if r["check"].startswith("range")]


@pytest.mark.parametrize("rule", ["lowest_loss", "front"])
def test_the_candidate_that_leaves_the_range_is_not_selected_but_stays_marked(rule):
    context = _context()
    front = _front((0.8 * PET, 3, 0.5), (INSIDE, 8, 0.03), (ABOVE, 9, 0.02))
    chosen = selection_rule(rule).select(front, SLOT, context).front
    assert chosen.selected.expression == INSIDE  # the best loss, ABOVE, is not eligible
    assert [c.expression for c in chosen] == [c.expression for c in front]  # still on it
    (marked,) = chosen.metadata["leaves_range"]
    assert marked["expression"] == str(ABOVE) and "leave [0, pet]" in marked["why"]
    assert "stay within [0, pet]" in chosen.metadata["selection_rule"]
    if rule == "lowest_loss":  # per-candidate metadata moved with their candidates
        assert chosen.metadata["score"][:2] == [1.0, 1.0] and np.isnan(chosen.metadata["score"][2])
    # the one range test: the checks pass the selected equation and fail the other
    assert all(_ranges(context, INSIDE)) and not all(_ranges(context, ABOVE))


def test_when_every_candidate_leaves_the_range_the_rule_chooses_with_a_warning(caplog):
    context = _context()
    front = _front((ALSO_ABOVE, 7, 0.04), (ABOVE, 9, 0.02))
    with caplog.at_level(logging.WARNING, logger="discover"):
        chosen = selection_rule("lowest_loss").select(front, SLOT, context).front
    assert chosen.selected.expression == ABOVE  # as without the range test
    assert "no candidate of the front stays within [0, pet]" in caplog.text
    assert "no candidate" in chosen.metadata["range_warning"]
    assert len(chosen.metadata["leaves_range"]) == 2
    assert chosen.metadata["range_warning"] in chosen.metadata["selection_rule"]


def test_a_front_in_range_is_left_to_the_rule_untouched():
    context = _context()
    front = _front((0.8 * PET, 3, 0.5), (INSIDE, 8, 0.03))
    chosen = selection_rule("lowest_loss").select(front, SLOT, context).front
    assert chosen.selected.expression == INSIDE and "leaves_range" not in chosen.metadata


def test_rows_with_a_front_index_and_trained_models_follow_their_candidates():
    front = _front((0.8 * PET, 3, 0.5), (ABOVE, 5, 0.1), (INSIDE, 8, 0.03), selected=1)
    leaving = {1: "leaves"}
    kept = within(front, leaving)
    assert [c.expression for c in kept] == [0.8 * PET, INSIDE]
    assert kept.selected_index == 1  # the engine's choice left: the front's own rule
    rows = [{"index": 0}, {"index": 1}]
    result = ParetoFront(kept.candidates, kept.inputs, kept.engine, 1, {"shortlist": rows})
    back, moved = restored(front, result, list(front), leaving, "note")
    assert moved == {0: 0, 1: 2} and back.selected.expression == INSIDE
    assert [r["index"] for r in back.metadata["shortlist"]] == [0, 2]
    assert back.metadata["selection_rule"].endswith("; note")


def test_a_recorded_variant_counts_the_clipping_of_its_own_simulation_alone():
    process = Symbolic("c*pet", ["pet"], {"c": 0.8}, output_range="0 <= out <= pet")
    pet = torch.linspace(0.0, 4.0, 50, dtype=torch.float64)
    (constant,) = process.parameters()
    with torch.no_grad(), ClipCount():
        constant.fill_(1.5)  # a search trying a constant above 1, counted
        process({"pet": pet})
        constant.fill_(0.8)
    assert process.clipped_share()[0] > 0.5

    def simulate():
        return process({"pet": pet})[:, None, None]

    variants = Variants()
    model = SimpleNamespace(slots={SLOT: process}, input_bounds={})
    variants.record("symbolic", SimpleNamespace(model=model, simulate=simulate))
    share, counted = variants.slots["symbolic"][SLOT].clipped_share()
    assert (share, counted) == (0.0, 50)
