"""Selecting sites, periods and variables of a dataset container by name."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from discover.data.container import ROLES, DataError


def variables(ds: xr.Dataset, role: str) -> list[str]:
    """Names of the variables with ``role`` (``forcing``, ``observation``, ``attribute``)."""
    if role not in ROLES:
        raise DataError(f"unknown role {role!r}; use one of {ROLES}")
    return [str(n) for n, v in ds.data_vars.items() if v.attrs.get("role") == role]


def select_sites(ds: xr.Dataset, sites: Sequence[str]) -> xr.Dataset:
    """The dataset restricted to ``sites``, in the given order; unknown ids are an error."""
    known = {str(s) for s in ds["site"].values}
    unknown = [s for s in sites if s not in known]
    if unknown:
        raise DataError(f"unknown site id(s) {unknown}")
    if not sites:
        raise DataError("no sites selected")
    return ds.sel(site=list(sites))


def select_period(ds: xr.Dataset, start: str | None = None, end: str | None = None) -> xr.Dataset:
    """The dataset between ``start`` and ``end`` (inclusive dates); at least 2 days must
    remain and the period must lie within the data."""
    first, last = pd.Timestamp(ds["time"].values[0]), pd.Timestamp(ds["time"].values[-1])
    lo = pd.Timestamp(start) if start is not None else first
    hi = pd.Timestamp(end) if end is not None else last
    if lo > hi:
        raise DataError(f"period start {lo:%Y-%m-%d} is after its end {hi:%Y-%m-%d}")
    if hi < first or lo > last:
        raise DataError(
            f"period {lo:%Y-%m-%d}..{hi:%Y-%m-%d} is outside the data "
            f"({first:%Y-%m-%d}..{last:%Y-%m-%d})"
        )
    out = ds.sel(time=slice(lo, hi))
    if out.sizes["time"] < 2:
        raise DataError(f"period {lo:%Y-%m-%d}..{hi:%Y-%m-%d} keeps fewer than 2 time steps")
    return out


def split_period(ds: xr.Dataset, at: str) -> tuple[xr.Dataset, xr.Dataset]:
    """Two datasets: days before ``at`` and days from ``at`` on."""
    cut = np.datetime64(pd.Timestamp(at))
    before = ds.sel(time=ds["time"] < cut)
    after = ds.sel(time=ds["time"] >= cut)
    if before.sizes["time"] < 2 or after.sizes["time"] < 2:
        raise DataError(f"splitting at {at} leaves fewer than 2 time steps on one side")
    return before, after
