"""Synthetic weather: valid, reproducible, and with climates that follow the attributes."""

from __future__ import annotations

import numpy as np
import pytest

from discover.data import synthetic_weather, validate_dataset


@pytest.fixture(scope="module")
def weather():
    return synthetic_weather(40, n_days=4 * 365, seed=3)


def test_valid_container_with_attribute_kinds(weather):
    report = validate_dataset(weather)
    assert report.forcings == [
        "precipitation", "temperature", "temperature_min", "temperature_max", "pet",
    ]  # fmt: skip
    assert report.observations == []
    kinds = {n: weather[n].attrs["kind"] for n in report.attributes}
    assert {n for n, k in kinds.items() if k == "distractor"} == {"longitude", "noise_1", "noise_2"}
    assert {"soil_depth", "forest_fraction", "sand_fraction", "area"} <= {
        n for n, k in kinds.items() if k == "land"
    }
    assert report.warnings == []


def test_reproducible_from_seed():
    a, b = synthetic_weather(3, n_days=30, seed=1), synthetic_weather(3, n_days=30, seed=1)
    c = synthetic_weather(3, n_days=30, seed=2)
    np.testing.assert_array_equal(a["precipitation"], b["precipitation"])
    assert not np.array_equal(a["precipitation"], c["precipitation"])


def test_climate_follows_latitude_and_elevation(weather):
    mean_t = weather["temperature"].mean("time").values
    expected = 27 - 0.5 * (weather["latitude"].values - 20) - 6.5e-3 * weather["elevation"].values
    assert np.corrcoef(mean_t, expected)[0, 1] > 0.95
    assert np.abs(mean_t - expected).max() < 3.0
    # warmer sites have more PET; a distractor explains nothing
    assert np.corrcoef(mean_t, weather["pet_mean"].values)[0, 1] > 0.8
    assert abs(np.corrcoef(weather["noise_1"].values, mean_t)[0, 1]) < 0.5


def test_precipitation_statistics(weather):
    p = weather["precipitation"].values
    wet = (p > 0).mean(axis=0)
    assert (p >= 0).all() and 0.15 < wet.min() and wet.max() < 0.8
    annual = p.mean(axis=0) * 365.25
    assert 150 < annual.min() and annual.max() < 3000
    np.testing.assert_allclose(weather["p_mean"], p.mean(axis=0))
    np.testing.assert_allclose(weather["aridity"], weather["pet_mean"] / weather["p_mean"])
    t = weather
    assert bool((t["temperature_min"] < t["temperature"]).all())
    assert bool((t["temperature"] < t["temperature_max"]).all())
