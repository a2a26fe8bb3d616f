"""A dataset stored in the container layout, a NetCDF file or a Zarr store, read lazily:
opened without reading any value, then only the chosen series and sites are read, each
once, converted to standard units and to one dtype (layout: ``docs/data.md``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from discover.data.container import STANDARD_UNITS, DataError
from discover.data.units import to_standard

LARGE_EXTRA = "pip install 'discover-geo[large]'"
"""How to install the optional packages that read Zarr stores."""

SITE_BLOCK = 64
"""Sites converted at once: unit conversion computes in float64, so a series is converted
in blocks of sites ([time, 64]) rather than as a float64 copy of the whole series."""


def open_stored(path: str | Path) -> xr.Dataset:
    """The dataset at ``path``, opened without reading its values: a NetCDF file, or a
    Zarr store (a folder named ``*.zarr``, read with the ``zarr`` package). Values are
    read when asked for and not kept (``cache=False``); close the dataset when done.

    Raises:
        DataError: naming ``path`` when it is missing, is another folder, cannot be read,
            or is a Zarr store and ``zarr`` is not installed (naming the extra).
    """
    path = Path(path)
    source = str(path)
    if path.is_dir():
        if path.suffix != ".zarr":
            raise DataError("a folder is read as a Zarr store only when named *.zarr", file=source)
        try:
            import zarr  # noqa: F401
        except ImportError:
            raise DataError(
                f"reading a Zarr store needs the zarr package: {LARGE_EXTRA}", file=source
            ) from None
        engine, kind = "zarr", "Zarr"
    elif path.is_file():
        engine, kind = None, "NetCDF"
    else:
        raise DataError("file not found", file=source)
    try:
        return xr.open_dataset(path, engine=engine, cache=False)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read as {kind}: {err}", file=source) from None


def read_stored(
    stored: xr.Dataset,
    *,
    series: Collection[str] | None = None,
    sites: Sequence[str] | None = None,
    dtype: str | np.dtype = "float64",
) -> xr.Dataset:
    """The variables of ``stored`` (:func:`open_stored`) read into memory in standard
    units: every attribute [site] (in float64) and the time series [time, site] named in
    ``series`` (all when ``None``; absent names are skipped) in ``dtype``, of the
    ``sites`` given (ids, in that order; all when ``None``). Volumetric streamflow is
    converted with the ``area`` attribute [km2]. Other variables are never read.

    Raises:
        DataError: naming the variable without ``units`` or ``role`` attrs or with a unit
            that cannot be converted, or listing site ids not in the data.
    """
    stored = stored.assign_coords(site=stored["site"].astype(str)) if "site" in stored else stored
    if sites is not None:
        stored = stored.isel(site=_site_indices(stored, sites))
    attributes = [n for n, v in stored.data_vars.items() if v.attrs.get("role") == "attribute"]
    wanted = [n for n in stored.data_vars if n not in attributes]
    if series is not None:
        wanted = [n for n in wanted if n in series]
    coords = {name: (c.dims, c.values, c.attrs) for name, c in stored.coords.items()}
    out = xr.Dataset(coords=coords, attrs=stored.attrs)
    for name in [*attributes, *wanted]:  # attributes first: streamflow needs the area in km2
        var = stored[name]
        if "units" not in var.attrs or "role" not in var.attrs:
            raise DataError("needs attrs 'units' and 'role'", variable=str(name))
        if var.dims == ("site", "time"):
            var = var.transpose("time", "site")
        area = out["area"].values if "area" in out and name != "area" else None
        if var.dims == ("time", "site"):
            values, unit = _series(str(name), var, area, np.dtype(dtype))
        else:
            values, unit = to_standard(str(name), var.values, var.attrs["units"])
        out[name] = (var.dims, values, {**var.attrs, "units": unit})
    return out


def _site_indices(stored: xr.Dataset, sites: Sequence[str]) -> list[int]:
    """Positions of ``sites`` in ``stored``; an unknown or repeated id is an error."""
    position = {str(s): i for i, s in enumerate(stored["site"].values)}
    unknown = [s for s in sites if s not in position]
    if unknown:
        raise DataError(f"site id(s) {unknown} not in the data")
    if len(set(sites)) < len(sites) or not sites:
        raise DataError(f"site ids must be distinct and at least one, got {list(sites)}")
    return [position[s] for s in sites]


def _series(
    name: str, var: xr.DataArray, area: np.ndarray | None, dtype: np.dtype
) -> tuple[np.ndarray, str]:
    """Series ``var`` [time, site] read once and converted to its standard unit (the
    unit :func:`~discover.data.units.to_standard` gives) in ``dtype``,
    :data:`SITE_BLOCK` sites at a time (``area`` [site] in km2 or ``None``)."""
    raw = var.values
    out = np.empty(raw.shape, dtype=dtype)
    for start in range(0, raw.shape[1], SITE_BLOCK):
        block = slice(start, start + SITE_BLOCK)
        block_area = None if area is None else area[block]
        out[:, block] = to_standard(name, raw[:, block], var.attrs["units"], area_km2=block_area)[0]
    return out, STANDARD_UNITS.get(name, var.attrs["units"])
