"""A small valid dataset container to break in the tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr


def _container(n_sites: int = 2, n_days: int = 60, seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    time = pd.date_range("2001-01-01", periods=n_days, freq="D")
    sites = np.array([f"s{i}" for i in range(n_sites)])
    shape = (n_days, n_sites)
    precipitation = rng.gamma(0.8, 4.0, shape) * (rng.random(shape) < 0.5)
    ds = xr.Dataset(coords={"time": time, "site": sites})
    series = {
        "precipitation": (precipitation, "mm/day", "forcing"),
        "temperature": (10 + rng.normal(0, 3, shape), "degC", "forcing"),
        "pet": (rng.uniform(0.5, 3.0, shape), "mm/day", "forcing"),
        "streamflow": (
            0.4 * precipitation.mean() + rng.uniform(0, 0.5, shape),
            "mm/day",
            "observation",
        ),
    }
    for name, (values, units, role) in series.items():
        ds[name] = (("time", "site"), values, {"units": units, "role": role})
    attributes = {
        "area": (rng.uniform(50, 500, n_sites), "km2"),
        "latitude": (rng.uniform(40, 60, n_sites), "degrees_north"),
        "forest": (rng.uniform(0, 1, n_sites), "1"),
    }
    for name, (values, units) in attributes.items():
        ds[name] = (("site",), values, {"units": units, "role": "attribute"})
    return ds


@pytest.fixture
def container():
    """Factory for a valid container: ``container(n_sites=2, n_days=60, seed=0)``."""
    return _container
