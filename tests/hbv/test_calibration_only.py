"""A calibration that sets every trainable value is the whole training
(``train.calibration.gradient_training: auto``): no Adam steps follow it; they do for a
model with values the search leaves (a network, parameters outside
``calibration.parameters``, constants shared by several sites) or on request."""

from __future__ import annotations

import pytest
import torch

from discover.fit.population import PopulationLoss
from discover.processes import Neural
from discover.stages.train import train
from tests.hbv.test_calibrated_training import config_of
from tests.hbv.test_calibration import twin_workflow, with_power_law

QUICK = {"population": 8, "generations": 3, "searches": 1}


def test_a_search_over_everything_is_not_followed_by_adam():
    workflow = twin_workflow()
    start = workflow.learner.raw.detach().clone()
    settings = config_of(workflow, calibration=QUICK, iterations=3).train
    result = train(workflow, settings, seed=0, progress=False)
    assert "no gradient training" in result.stopped
    assert result.history == []  # no Adam step
    assert not torch.equal(workflow.learner.raw, start)  # the search moved them
    with torch.no_grad():
        assert result.final_train == pytest.approx(float(workflow.loss("train")))

    always = twin_workflow()
    settings = config_of(always, calibration={**QUICK, "gradient_training": "always"}).train
    result = train(always, settings, seed=0, progress=False)
    assert "no gradient training" not in result.stopped
    assert len(result.history) > 0


def test_what_a_search_leaves_to_gradient_training():
    workflow = twin_workflow()
    objective = PopulationLoss(workflow)
    assert objective.unsearched(None) == []
    assert objective.unsearched(list(objective.learner.bounded.names)) == []
    assert objective.unsearched(["uzl"])[0].startswith("the parameters other than ['uzl']")

    with_power_law(workflow)  # one site: its constant is searched
    assert PopulationLoss(workflow).unsearched(None) == []
    shared = twin_workflow(sites=2)
    with_power_law(shared)  # two sites share the constant the search sets per site
    left = PopulationLoss(shared).unsearched(None)
    assert left and all(".relative" in name for name in left)

    network = Neural(["pet", "soil_wetness"], ">=0", hidden=(4,))
    workflow.model.set_slot("evapotranspiration", network)
    left = PopulationLoss(workflow).unsearched(None)
    assert left and all("evapotranspiration" in name for name in left)
