"""Filling gaps (NaN or inf) in forcings, only when asked and with a named method."""

from __future__ import annotations

import numpy as np
import xarray as xr

from discover.data.container import DataError
from discover.data.select import variables

FILL_METHODS = ("linear", "climatology")


def _linear(da: xr.DataArray) -> xr.DataArray:
    da = da.transpose("time", "site")
    values = da.values.copy()
    steps = np.arange(len(values))
    for j in range(values.shape[1]):
        ok = np.isfinite(values[:, j])
        if ok.any():  # np.interp holds the edge values beyond the first/last valid day
            values[~ok, j] = np.interp(steps[~ok], steps[ok], values[ok, j])
    return da.copy(data=values)


def _climatology(da: xr.DataArray) -> xr.DataArray:
    day = da["time"].dt.dayofyear
    mean = da.groupby(day).mean("time", skipna=True)
    return da.fillna(mean.sel(dayofyear=day).drop_vars("dayofyear"))


def fill_gaps(ds: xr.Dataset, method: str, names: list[str] | None = None) -> xr.Dataset:
    """Fill NaN and inf values of forcings along ``time``, per site.

    Methods: ``"linear"`` interpolates between the nearest valid days (leading and
    trailing gaps take the nearest valid value); ``"climatology"`` takes the site's mean
    of the same day of year over the other years. ``names`` defaults to all forcings
    (observations are masked, never filled). Each filled variable records
    ``attrs["filled"]`` (number of values filled) and ``attrs["fill_method"]``. Values no
    method can fill stay NaN, so validation still reports them.
    """
    if method not in FILL_METHODS:
        raise DataError(f"unknown fill method {method!r}; use one of {FILL_METHODS}")
    names = variables(ds, "forcing") if names is None else names
    out = ds.copy()
    for name in names:
        if name not in ds.data_vars:
            raise DataError("no such variable to fill", variable=name)
        da = ds[name]
        if da.attrs.get("role") != "forcing":
            raise DataError("only forcings are filled; observations stay masked", variable=name)
        bad = ~np.isfinite(da)
        if not bool(bad.any()):
            continue
        holed = da.where(~bad)
        filled = _linear(holed) if method == "linear" else _climatology(holed)
        n_filled = int((bad & np.isfinite(filled)).sum())
        filled = filled.transpose(*da.dims)
        filled.attrs = {
            **da.attrs,
            "filled": int(da.attrs.get("filled", 0)) + n_filled,
            "fill_method": method,
        }
        out[name] = filled
    return out
