"""Synthetic twin: planted parameter maps and processes are what produced the streamflow."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr

from discover.data.twin import make_twin, planted_parameters, planted_process, site_attributes
from discover.models.hbv import HBV
from discover.models.hbv_processes import FORCINGS, HBV_BOUNDS


@pytest.fixture(scope="module")
def weather(weather_maker) -> xr.Dataset:
    forcings = weather_maker(500, 6, seed=3)
    ds = xr.Dataset(
        {name: (("time", "site"), value.numpy()) for name, value in forcings.items()},
        coords={"site": [f"s{i}" for i in range(6)]},
    )
    rng = np.random.default_rng(0)
    ds["soil_depth"] = ("site", rng.uniform(0.2, 2.0, 6))
    ds["forest_fraction"] = ("site", rng.uniform(0.0, 1.0, 6))
    ds["noise_1"] = ("site", rng.normal(size=6), {"kind": "distractor"})
    return ds


def test_twin_holds_streamflow_truth_and_planted_process(weather):
    twin = make_twin(weather, planted={"evapotranspiration": "pet * soil_wetness**0.5"}, seed=1)
    assert twin["streamflow"].dims == ("time", "site") and twin.sizes["time"] == 500
    assert float(twin["streamflow"].min()) >= 0 and float(twin["streamflow"].mean()) > 0
    assert json.loads(twin.attrs["planted"]) == {"evapotranspiration": "pet * soil_wetness**0.5"}
    assert "true_lp" not in twin  # the planted process replaces the textbook one
    for name in json.loads(twin.attrs["parameters"]):
        value = twin[f"true_{name}"].values
        assert (value >= HBV_BOUNDS[name].low).all() and (value <= HBV_BOUNDS[name].high).all()
    # The true evapotranspiration follows the planted law (soil wetness before it is taken).
    wetness = (twin["true_soil_moisture"] + twin["true_evapotranspiration"]) / twin["true_fc"]
    planted = twin["pet"] * np.sqrt(wetness.clip(0, 1))
    error = np.abs(twin["true_evapotranspiration"] - planted).max()
    assert float(error) < 1e-9


def test_twin_is_reproducible_and_seed_changes_the_maps(weather):
    a, b = make_twin(weather, seed=2), make_twin(weather, seed=2)
    c = make_twin(weather, seed=3)
    assert np.array_equal(a["streamflow"].values, b["streamflow"].values)
    assert not np.allclose(a["true_fc"].values, c["true_fc"].values)


def test_maps_follow_the_attributes_not_the_distractors(weather):
    assert site_attributes(weather) == ["soil_depth", "forest_fraction"]
    table = np.stack([weather[n].values for n in site_attributes(weather)], -1)
    maps = planted_parameters(table, ["fc", "k1"], seed=0)
    assert maps["fc"].shape == (6,) and np.ptp(maps["fc"]) > 0
    same_sites = planted_parameters(np.repeat(table[:1], 6, axis=0), ["fc"], seed=0)
    assert np.ptp(same_sites["fc"]) == 0


def test_noise_perturbs_streamflow(weather):
    clean, noisy = make_twin(weather, seed=4), make_twin(weather, seed=4, noise=0.1)
    ratio = (noisy["streamflow"] / clean["streamflow"]).values
    spread = np.nanstd(ratio[np.isfinite(ratio)])
    assert 0.05 < spread < 0.2


def test_bad_plants_are_refused(weather):
    with pytest.raises(KeyError, match="interception"):
        make_twin(weather, planted={"interception": "pet"})
    with pytest.raises(ValueError):
        make_twin(weather, planted={"evapotranspiration": "pet * snowpack"})
    with pytest.raises(KeyError, match="pet"):
        make_twin(weather.drop_vars("pet"))


def test_a_spun_up_model_with_the_true_parameters_reproduces_the_twin(weather):
    planted = {"evapotranspiration": "pet * soil_wetness**0.5"}
    twin = make_twin(weather, planted=planted, seed=1, spinup_days=200)
    forcings = {
        name: torch.as_tensor(twin[name].transpose("time", "site").values) for name in FORCINGS
    }
    parameters = {
        name: torch.as_tensor(twin[f"true_{name}"].values)
        for name in json.loads(twin.attrs["parameters"])
    }
    observed = twin["streamflow"].transpose("time", "site").values[200:]
    errors = {}
    for spinup in (False, True):
        model = HBV(spinup=spinup)
        model.set_slot(
            "evapotranspiration",
            planted_process("evapotranspiration", planted["evapotranspiration"]),
        )
        with torch.no_grad():
            flow = model(forcings, parameters, warmup=200).streamflow.numpy()
        errors[spinup] = float(np.abs(flow - observed).max())
    assert errors[True] < 1e-9 < errors[False]
