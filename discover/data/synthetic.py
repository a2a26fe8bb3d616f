"""Stochastic daily weather for many sites with different climates, plus static attributes.

Each site draws its attributes, and its climate follows from some of them:

- temperature [degC]: annual mean ``27 - 0.5 (lat - 20) - 6.5 elevation/1000`` (lapse
  rate 6.5 K/km), seasonal amplitude ``2 + 0.3 (lat - 20)``, peak in late July (northern
  hemisphere), plus AR(1) anomalies (lag-1 correlation 0.7, sd 2.5 K);
- temperature_min/max: the mean -/+ half a diurnal range that is smaller on wet days;
- precipitation [mm/day]: wet/dry days from a two-state Markov chain with a seasonal
  cycle in the dry->wet probability, gamma amounts (shape 0.7) scaled so that the annual
  total matches the site's regime (more with elevation);
- pet [mm/day]: Oudin (or Hargreaves) from temperature and latitude, computed by ``pyet``.

Attributes (dims ``[site]``), in three kinds, named in each variable's ``kind`` attr:

- ``climate``: ``latitude``, ``elevation`` (they drive the weather above), and the
  climate indices ``p_mean``, ``pet_mean`` [mm/day] and ``aridity`` [1] computed from
  the generated series;
- ``land``: ``area`` [km2], ``soil_depth`` [m], ``forest_fraction`` [1],
  ``sand_fraction`` [1]: physically meaningful for hydrological parameters (a twin can
  plant parameter maps on them) but without effect on the weather;
- ``distractor``: ``longitude`` and ``noise_1..noise_k``: random, drive nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from discover.data.assemble import finish
from discover.data.pet import add_pet

_UNITS = {
    "latitude": "degrees_north",
    "longitude": "degrees_east",
    "elevation": "m",
    "area": "km2",
    "soil_depth": "m",
    "forest_fraction": "1",
    "sand_fraction": "1",
    "p_mean": "mm/day",
    "pet_mean": "mm/day",
    "aridity": "1",
}
_KINDS = {
    "latitude": "climate",
    "elevation": "climate",
    "p_mean": "climate",
    "pet_mean": "climate",
    "aridity": "climate",
    "area": "land",
    "soil_depth": "land",
    "forest_fraction": "land",
    "sand_fraction": "land",
    "longitude": "distractor",
}


def _draw_attributes(rng: np.random.Generator, n: int, n_distractors: int) -> dict[str, np.ndarray]:
    drawn = {
        "latitude": rng.uniform(25.0, 65.0, n),
        "longitude": rng.uniform(-120.0, 30.0, n),
        "elevation": rng.gamma(2.0, 400.0, n),
        "area": np.exp(rng.normal(np.log(300.0), 1.0, n)),
        "soil_depth": rng.uniform(0.3, 3.0, n),
        "forest_fraction": rng.uniform(0.0, 1.0, n),
        "sand_fraction": rng.uniform(0.1, 0.9, n),
    }
    for k in range(1, n_distractors + 1):
        drawn[f"noise_{k}"] = rng.normal(0.0, 1.0, n)
    return drawn


def _temperature(rng, doy: np.ndarray, lat: np.ndarray, elev: np.ndarray) -> np.ndarray:
    mean = 27.0 - 0.5 * (lat - 20.0) - 6.5 * elev / 1000.0
    amplitude = 2.0 + 0.3 * (lat - 20.0)
    season = np.cos(2.0 * np.pi * (doy[:, None] - 200.0) / 365.25)
    shocks = rng.normal(0.0, 2.5 * np.sqrt(1.0 - 0.7**2), (len(doy), len(lat)))
    anomaly = np.zeros_like(shocks)
    anomaly[0] = rng.normal(0.0, 2.5, len(lat))
    for t in range(1, len(doy)):
        anomaly[t] = 0.7 * anomaly[t - 1] + shocks[t]
    return mean + amplitude * season + anomaly


def _precipitation(rng, doy: np.ndarray, elev: np.ndarray) -> np.ndarray:
    n_days, n = len(doy), len(elev)
    annual = rng.uniform(300.0, 1500.0, n) * (1.0 + 0.3 * elev / 1000.0)
    p11 = rng.uniform(0.45, 0.7, n)
    p01 = rng.uniform(0.12, 0.35, n)
    phase = rng.uniform(0.0, 365.25, n)
    wet_share = p01 / (1.0 - p11 + p01)
    mean_amount = annual / 365.25 / wet_share
    wet = np.zeros((n_days, n), dtype=bool)
    wet[0] = rng.random(n) < wet_share
    draws = rng.random((n_days, n))
    for t in range(1, n_days):
        seasonal = p01 * (1.0 + 0.3 * np.cos(2.0 * np.pi * (doy[t] - phase) / 365.25))
        wet[t] = draws[t] < np.where(wet[t - 1], p11, seasonal)
    shape = 0.7
    amounts = rng.gamma(shape, mean_amount / shape, (n_days, n))
    return np.where(wet, amounts, 0.0)


def synthetic_weather(
    n_sites: int = 20,
    *,
    start: str = "2000-01-01",
    n_days: int = 3 * 365,
    n_distractors: int = 2,
    pet: str = "oudin",
    seed: int = 0,
) -> xr.Dataset:
    """Daily forcings ``precipitation``, ``temperature``, ``temperature_min``,
    ``temperature_max``, ``pet`` ``[time, site]`` and attributes ``[site]`` (see module
    doc) for ``n_sites`` sites ``syn_000, ...``, reproducible from ``seed``."""
    if n_sites < 1 or n_days < 2:
        raise ValueError(f"need n_sites >= 1 and n_days >= 2, got {n_sites}, {n_days}")
    rng = np.random.default_rng(seed)
    time = pd.date_range(start, periods=n_days, freq="D", name="time")
    attributes = _draw_attributes(rng, n_sites, n_distractors)
    doy = time.dayofyear.to_numpy().astype(float)
    temperature = _temperature(rng, doy, attributes["latitude"], attributes["elevation"])
    precipitation = _precipitation(rng, doy, attributes["elevation"])
    diurnal = 12.0 - 5.0 * (precipitation > 0) + rng.normal(0.0, 1.5, temperature.shape)
    diurnal = np.clip(diurnal, 2.0, None)
    sites = np.array([f"syn_{i:03d}" for i in range(n_sites)])
    ds = xr.Dataset(coords={"time": time, "site": sites})
    series = {
        "precipitation": (precipitation, "mm/day"),
        "temperature": (temperature, "degC"),
        "temperature_min": (temperature - diurnal / 2.0, "degC"),
        "temperature_max": (temperature + diurnal / 2.0, "degC"),
    }
    for name, (values, unit) in series.items():
        ds[name] = (("time", "site"), values, {"units": unit, "role": "forcing"})
    for name, values in attributes.items():
        ds[name] = (("site",), values)
        ds[name].attrs = {
            "units": _UNITS.get(name, "1"),
            "role": "attribute",
            "kind": _KINDS.get(name, "distractor"),
        }
    ds = add_pet(ds, pet)
    p_mean, pet_mean = ds["precipitation"].mean("time"), ds["pet"].mean("time")
    derived = {"p_mean": p_mean, "pet_mean": pet_mean, "aridity": pet_mean / p_mean}
    for name, values in derived.items():
        ds[name] = values
        ds[name].attrs = {"units": _UNITS[name], "role": "attribute", "kind": "climate"}
    ds.attrs["source"] = f"discover.data.synthetic_weather(seed={seed})"
    return finish(ds)
