"""Potential evapotranspiration from temperature and latitude, computed with ``pyet``."""

from __future__ import annotations

import numpy as np
import pyet
import xarray as xr

from discover.data.container import DataError

PET_METHODS = ("oudin", "hargreaves")


def add_pet(ds: xr.Dataset, method: str = "oudin") -> xr.Dataset:
    """Return ``ds`` with forcing ``pet`` [mm/day] ``[time, site]`` computed by ``pyet``.

    ``"oudin"`` (Oudin et al. 2005) needs ``temperature`` [degC] and the ``latitude``
    attribute [degrees_north]; ``"hargreaves"`` (Hargreaves and Samani 1982) also needs
    ``temperature_min`` and ``temperature_max``. Extraterrestrial radiation comes from the
    day of year and latitude; negative values are clipped to 0.
    """
    if method not in PET_METHODS:
        raise DataError(f"unknown PET method {method!r}; use one of {PET_METHODS}")
    needed = ["temperature", "latitude"]
    if method == "hargreaves":
        needed += ["temperature_min", "temperature_max"]
    for name in needed:
        if name not in ds.data_vars:
            raise DataError(f"PET method {method!r} needs {name!r}", variable=name)
    lat = np.deg2rad(ds["latitude"])
    tmean = ds["temperature"].transpose("time", "site")
    if method == "oudin":
        pet = pyet.oudin(tmean, lat)
    else:
        pet = pyet.hargreaves(tmean, ds["temperature_max"], ds["temperature_min"], lat)
    out = ds.copy()
    out["pet"] = pet.transpose("time", "site")
    out["pet"].attrs = {"units": "mm/day", "role": "forcing", "method": f"pyet.{method}"}
    return out
