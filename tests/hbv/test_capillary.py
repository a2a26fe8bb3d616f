"""HBV's optional capillary rise from the lower zone to the soil (``HBV(capillary=True)``)."""

from __future__ import annotations

from pathlib import Path

import torch

from discover.config import StudyConfig
from discover.models.hbv import FLUXES, HBV
from discover.models.hbv_processes import STATES
from discover.workflows.hbv import HBVWorkflow


def run(model: HBV, weather_maker, parameter_maker, kcap: float | None = None):
    """Two sites × two parameter sets over 300 days from wet storages."""
    forcings = weather_maker(300, 2, seed=4)
    parameters = parameter_maker(model.parameter_names(), 2, 2, seed=5)
    if kcap is not None:
        parameters["kcap"] = torch.full((2, 2), kcap, dtype=torch.float64)
    initial = {name: torch.full((2, 2), 40.0, dtype=torch.float64) for name in STATES}
    initial["lower_zone"] = torch.full((2, 2), 300.0, dtype=torch.float64)
    return model(forcings, parameters, warmup=20, initial_states=initial), parameters


def test_without_capillary_the_model_and_its_parameters_are_textbook(
    weather_maker, parameter_maker
):
    model = HBV()
    assert "kcap" not in model.parameter_names()
    assert "kcap" in HBV(capillary=True).parameter_names()
    out, _ = run(model, weather_maker, parameter_maker)
    assert "capillary_rise" in FLUXES
    assert float(out.fluxes["capillary_rise"].abs().max()) == 0.0


def test_zero_rate_reproduces_the_textbook_model(weather_maker, parameter_maker):
    textbook, _ = run(HBV(smooth=1.0), weather_maker, parameter_maker)
    capillary, _ = run(HBV(smooth=1.0, capillary=True), weather_maker, parameter_maker, kcap=0.0)
    assert torch.equal(textbook.streamflow, capillary.streamflow)
    for name in STATES:
        assert torch.equal(textbook.states[name], capillary.states[name])


def test_rise_moves_groundwater_to_a_dry_soil_within_its_limits(weather_maker, parameter_maker):
    textbook, _ = run(HBV(), weather_maker, parameter_maker)
    out, parameters = run(HBV(capillary=True), weather_maker, parameter_maker, kcap=0.05)
    rise = out.fluxes["capillary_rise"]
    assert float(rise.min()) >= 0.0 and float(rise.max()) > 0.1
    assert out.water_balance().abs().max() < 1e-8  # an internal transfer
    assert float(out.states["soil_moisture"].max()) <= float(parameters["fc"].max()) + 1e-9
    for name in STATES:
        assert out.states[name].min() >= 0, name
    # the soil stays wetter, so more water evaporates and less runs off
    et = out.fluxes["evapotranspiration"].sum()
    assert et > textbook.fluxes["evapotranspiration"].sum()
    assert out.fluxes["runoff"].sum() < textbook.fluxes["runoff"].sum()


def test_config_key_calibrates_kcap_with_the_other_parameters():
    config = StudyConfig.model_validate(
        {
            "name": "capillary",
            "dtype": "float64",
            "data": {"source": "twin", "sites": 2, "days": 120},
            "model": {"type": "hbv", "warmup": 30, "parameters": "site", "capillary": True},
        }
    )
    workflow = HBVWorkflow(config, Path("."))
    assert workflow.model.capillary and "kcap" in workflow.learner.bounded.names
    with torch.no_grad():
        assert bool(torch.isfinite(workflow.loss("train")))
    textbook = HBVWorkflow(
        config.model_copy(update={"model": config.model.model_copy(update={"capillary": False})}),
        Path("."),
    )
    assert "kcap" not in textbook.learner.bounded.names
