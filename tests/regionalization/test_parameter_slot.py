"""Parameter slots: an HBV parameter computed by its own process over site attributes,
and twins that plant a parameter as an expression of attributes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from discover.config import ConfigError, parse_config
from discover.data.synthetic import synthetic_weather
from discover.data.twin import make_twin
from discover.distill.probe import probe
from discover.models.base import HybridModel, SlotError
from discover.processes import Neural, Symbolic
from discover.workflows.hbv import HBVWorkflow

PLANTED = "60 + 150*soil_depth*(1 + forest_fraction)"
INPUTS = ["soil_depth", "forest_fraction", "noise_1"]


def config(**neural) -> dict:
    return {
        "seed": 0,
        "data": {"source": "twin", "sites": 5, "days": 120, "planted": {"fc": PLANTED}},
        "model": {"type": "hbv", "warmup": 30, "baseline": False, "neural": neural},
        "train": {"split": 0.5},
    }


def workflow(**neural) -> HBVWorkflow:
    return HBVWorkflow(parse_config(config(**neural)), Path("."))


def test_add_slot_declares_a_new_slot_once():
    model = HybridModel({"a": ["x"]})
    model.add_slot("b", ["y", "z"])
    model.set_slot("b", Neural(["z"]))
    assert model.neural_slots() == ["b"]
    with pytest.raises(SlotError, match="already has a slot 'b'"):
        model.add_slot("b", ["y"])
    with pytest.raises(SlotError, match="cannot see"):
        model.set_slot("b", Neural(["x"]))


def test_twin_plants_a_parameter_as_an_expression_of_attributes():
    weather = synthetic_weather(6, n_days=60, seed=1)
    twin = make_twin(weather, planted={"fc": PLANTED}, seed=1, spinup_days=10, distractors=True)
    expected = 60 + 150 * weather["soil_depth"].values * (1 + weather["forest_fraction"].values)
    np.testing.assert_allclose(twin["true_fc"].values, expected)
    for distractor in ("longitude", "noise_1", "noise_2"):
        assert twin[distractor].attrs["role"] == "attribute"
    plain = make_twin(weather, planted={"fc": PLANTED}, seed=1, spinup_days=10)
    assert "noise_1" not in plain and "soil_depth" in plain
    other = make_twin(weather, seed=1, spinup_days=10)
    assert not np.allclose(other["true_fc"].values, expected)
    assert not np.allclose(other["streamflow"].values, twin["streamflow"].values)


def test_twin_refuses_a_planted_parameter_outside_its_bounds_or_unknown_names():
    weather = synthetic_weather(4, n_days=40, seed=0)
    with pytest.raises(ValueError, match="outside its bounds"):
        make_twin(weather, planted={"fc": "2000*soil_depth"}, spinup_days=5)
    with pytest.raises(ValueError, match="clay"):
        make_twin(weather, planted={"fc": "100*clay"}, spinup_days=5)


def test_parameter_slot_replaces_the_learned_parameter_and_is_probed_per_site():
    flow = workflow(fc={"inputs": INPUTS, "hidden": [4]})
    assert flow.parameter_slots == ["fc"]
    assert "fc" not in flow.learner.bounded.names
    assert flow.model.slots["fc"].output_range.low == 50.0
    assert flow.model.slots["fc"].output_range.high == 1000.0
    values = flow.parameters_by_name()["fc"]
    assert values.shape == (5, 1) and bool(((values >= 50) & (values <= 1000)).all())
    samples = probe(flow.model, flow.simulate)["fc"]
    assert samples.names == tuple(INPUTS) and samples.X.shape == (5, 3)
    np.testing.assert_allclose(samples.X[:, 0], flow.dataset["soil_depth"].values)
    np.testing.assert_allclose(samples.y, values[:, 0].detach().numpy())
    loss = flow.loss("train")
    loss.backward()
    grads = [p.grad for p in flow.model.slots["fc"].parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)


def test_a_symbolic_parameter_slot_is_clipped_into_the_bounds():
    flow = workflow(fc={"inputs": INPUTS, "hidden": [4]})
    flow.model.set_slot("fc", Symbolic("400*soil_depth", INPUTS))
    values = flow.parameters_by_name()["fc"][:, 0].detach()
    expected = np.clip(400 * flow.dataset["soil_depth"].values, 50, 1000)
    np.testing.assert_allclose(values.numpy(), expected, rtol=1e-6)
    assert torch.isfinite(flow.simulate()[flow.warmup :]).all()


@pytest.mark.parametrize(
    "slot, message",
    [
        ({"fc": {"inputs": ["soil_depth", "clay"]}}, r"model.neural.fc.inputs: \['clay'\]"),
        ({"betaet": {"inputs": ["soil_depth"]}}, "model.neural.betaet: parameter 'betaet' is not"),
        ({"fc": {"inputs": ["soil_depth"], "warm_start": True}}, "fc.warm_start"),
    ],
)
def test_bad_parameter_slots_name_the_key(slot, message):
    with pytest.raises(ConfigError, match=message):
        workflow(**slot)
