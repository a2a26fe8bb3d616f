"""Parameter learners: bounds by construction, shapes, starting values, gradients."""

from __future__ import annotations

import pytest
import torch

from discover.models.hbv import HBV
from discover.models.hbv_processes import HBV_BOUNDS
from discover.models.parameters import AttributeMLP, ForcingLSTM, SiteParameters


def _inside_bounds(values: dict) -> bool:
    return all(
        bool((v >= HBV_BOUNDS[n].low).all() and (v <= HBV_BOUNDS[n].high).all())
        for n, v in values.items()
    )


def test_attribute_mlp_gives_static_parameters_within_bounds():
    names = HBV().parameter_names()
    learner = AttributeMLP(4, names, nmul=3, hidden=(8,))
    attributes = torch.randn(6, 4) * 100 + 50
    learner.set_normalisation(attributes)
    with torch.no_grad():
        learner.network[-1].bias.fill_(30.0)  # saturate: values must still be in bounds
    values = learner(attributes)
    assert set(values) == set(names)
    assert all(v.shape == (6, 3) for v in values.values())
    assert _inside_bounds(values)
    assert torch.allclose(values["fc"], torch.full((6, 3), HBV_BOUNDS["fc"].high))


def test_forcing_lstm_gives_dynamic_and_static_parameters():
    names = HBV().parameter_names()
    learner = ForcingLSTM(3, names, nmul=2, hidden=8, dynamic=["beta", "k0"])
    inputs = torch.randn(20, 5, 3)
    learner.set_normalisation(inputs)
    values = learner(inputs)
    assert values["beta"].shape == (20, 5, 2) and values["k0"].shape == (20, 5, 2)
    assert values["fc"].shape == (5, 2)
    assert _inside_bounds(values)
    with pytest.raises(KeyError, match="gamma"):
        ForcingLSTM(3, names, dynamic=["gamma"])


def test_site_parameters_start_where_asked_and_train_the_model(weather_maker):
    model = HBV()
    names = model.parameter_names()
    calibration = SiteParameters(2, names, nmul=2, initial={"fc": 300.0, "k1": 0.1})
    values = calibration()
    assert torch.allclose(values["fc"], torch.full((2, 2), 300.0))
    assert torch.allclose(values["k1"], torch.full((2, 2), 0.1))
    bound = HBV_BOUNDS["beta"]
    assert torch.allclose(values["beta"], torch.full((2, 2), (bound.low + bound.high) / 2))
    forcings = {k: v.float() for k, v in weather_maker(60, 2, seed=1).items()}
    model(forcings, values).streamflow.sum().backward()
    assert calibration.raw.grad is not None and float(calibration.raw.grad.abs().sum()) > 0
    spread = SiteParameters(2, names, nmul=2, spread=1.0)()
    assert not torch.allclose(spread["fc"][:, 0], spread["fc"][:, 1])


def test_bad_learner_settings_are_named():
    with pytest.raises(KeyError, match="theta"):
        AttributeMLP(2, ["fc", "theta"])
    with pytest.raises(ValueError, match="not strictly inside"):
        SiteParameters(1, ["fc"], initial={"fc": 5000.0})
    learner = AttributeMLP(2, ["fc"])
    with pytest.raises(ValueError, match="attributes"):
        learner(torch.ones(3, 5))
    with pytest.raises(ValueError, match="NaN"):
        learner(torch.full((3, 2), float("nan")))
