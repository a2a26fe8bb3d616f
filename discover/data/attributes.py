"""Choosing and completing the static site attributes a model reads."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import xarray as xr

from discover.data.container import DataError
from discover.data.select import variables

logger = logging.getLogger(__name__)


def select_attributes(ds: xr.Dataset, names: Sequence[str]) -> xr.Dataset:
    """The dataset with only the attributes ``names`` (each [site]), in that order;
    forcings and observations are kept. An unknown or non-attribute name is an error listing the
    attributes there are."""
    known = variables(ds, "attribute")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise DataError(f"no attribute(s) {unknown} in the data; attributes are {known}")
    others = [str(name) for name in ds.data_vars if name not in known]
    return ds[[*others, *names]]


def fill_attributes(ds: xr.Dataset, method: str = "mean") -> xr.Dataset:
    """The dataset with every NaN value of an attribute [site] replaced by that
    attribute's mean over the sites that have it (``method="mean"``); a filled attribute
    records ``attrs["filled"]`` (sites filled) and ``attrs["fill_method"]``.

    Raises:
        DataError: an unknown method, or an attribute that no site has.
    """
    if method != "mean":
        raise DataError(f"unknown attribute fill method {method!r}; use 'mean'")
    out = ds.copy()
    for name in variables(ds, "attribute"):
        values = ds[name].values.astype(float)
        missing = ~np.isfinite(values)
        if not missing.any():
            continue
        if missing.all():
            raise DataError("attribute has no value at any site: drop it", variable=name)
        filled = np.where(missing, values[~missing].mean(), values)
        out[name] = ds[name].copy(data=filled)
        out[name].attrs.update(filled=int(missing.sum()), fill_method=method)
        logger.info("attribute %s: %d site(s) filled with the mean", name, int(missing.sum()))
    return out
