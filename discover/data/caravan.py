"""Caravan (Kratzert et al. 2023, Scientific Data 10:61) in its published directory layout.

Layout followed::

    ROOT/timeseries/csv/<source>/<gauge_id>.csv      (column ``date``, one per variable)
    ROOT/timeseries/netcdf/<source>/<gauge_id>.nc    (dimension ``date``; same variables)
    ROOT/attributes/<source>/attributes_*_<source>.csv   (``caravan``, ``hydroatlas``,
                                                          ``other``; keyed by ``gauge_id``)

``gauge_id`` is ``<source>_<id>`` (e.g. ``camels_01022500``). Time series are daily
ERA5-Land aggregates plus observed streamflow: ``total_precipitation_sum`` [mm/d],
``temperature_2m_mean/min/max`` [degC], ``potential_evaporation_sum`` [mm/d],
``streamflow`` [mm/d]. ``attributes_other`` has ``gauge_lat``, ``gauge_lon`` and
``area`` [km2]; ``attributes_hydroatlas`` has ``ele_mt_sav`` (mean elevation [m]).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import xarray as xr

from discover.data.assemble import SiteSeries, assemble, standardize, standardize_attributes
from discover.data.container import DataError
from discover.data.table import read_csv

#: Caravan time-series column -> (name in the container, unit in Caravan).
CARAVAN_VARIABLES = {
    "total_precipitation_sum": ("precipitation", "mm/day"),
    "temperature_2m_mean": ("temperature", "degC"),
    "temperature_2m_min": ("temperature_min", "degC"),
    "temperature_2m_max": ("temperature_max", "degC"),
    "potential_evaporation_sum": ("pet", "mm/day"),
    "streamflow": ("streamflow", "mm/day"),
}
ATTRIBUTE_NAMES = {"gauge_lat": "latitude", "gauge_lon": "longitude", "ele_mt_sav": "elevation"}


def _read_timeseries(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        return read_csv(path, time_column="date")
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    with xr.open_dataset(path) as ds:
        if "date" not in ds.dims:
            raise DataError(f"no 'date' dimension (dims: {list(ds.dims)})", file=str(path))
        frame = ds.to_dataframe()
    return frame.set_index(pd.DatetimeIndex(frame.index, name="time"))


def read_caravan_attributes(root: Path, source: str) -> pd.DataFrame:
    """All ``attributes_*_<source>.csv`` tables joined on ``gauge_id`` (renamed to the
    standard names ``latitude``, ``longitude``, ``elevation``; ``area`` stays)."""
    folder = root / "attributes" / source
    paths = sorted(folder.glob(f"attributes_*_{source}.csv"))
    if not paths:
        raise DataError(f"no attributes_*_{source}.csv tables", file=str(folder))
    tables = []
    for path in paths:
        table = pd.read_csv(path, dtype=str)
        if "gauge_id" not in table.columns:
            raise DataError("no 'gauge_id' column", file=str(path))
        tables.append(table.set_index(table["gauge_id"].str.strip()).drop(columns="gauge_id"))
    return pd.concat(tables, axis=1, join="outer").rename(columns=ATTRIBUTE_NAMES)


def caravan_gauges(root: Path, fmt: str) -> list[str]:
    """Every gauge with a time-series file in ``root/timeseries/<fmt>/<source>/``, sorted."""
    suffix = "csv" if fmt == "csv" else "nc"
    folder = root / "timeseries" / fmt
    gauges = sorted(path.stem for path in folder.glob(f"*/*.{suffix}"))
    if not gauges:
        raise DataError(f"no time-series files */*.{suffix}", file=str(folder))
    return gauges


def load_caravan(
    root: str | Path,
    sites: Sequence[str] | None = None,
    *,
    fmt: str = "csv",
    variables: Mapping[str, tuple[str, str]] | None = None,
    pet: str | None = None,
    fill: str | None = None,
) -> xr.Dataset:
    """Load Caravan gauges ``sites`` (``<source>_<id>``; several sources may be mixed;
    ``None``: every gauge with a time-series file).

    ``fmt`` is ``"csv"`` or ``"netcdf"``. ``variables`` maps Caravan columns to
    ``(name, unit)`` (default ``CARAVAN_VARIABLES``: precipitation, temperature,
    temperature_min/max, pet, streamflow); ``pet`` names a ``pyet`` method used only if no
    ``pet`` column is loaded. Attributes: the numeric columns of all attribute tables.
    """
    if fmt not in ("csv", "netcdf"):
        raise DataError(f"fmt must be 'csv' or 'netcdf', got {fmt!r}")
    root = Path(root)
    if sites is None:
        sites = caravan_gauges(root, fmt)
    if not sites:
        raise DataError("no sites given")
    columns = dict(variables or CARAVAN_VARIABLES)
    by_source: dict[str, list[str]] = {}
    for site in sites:
        by_source.setdefault(site.split("_")[0], []).append(site)
    attribute_tables = []
    for source, gauges in by_source.items():
        table = read_caravan_attributes(root, source)
        missing = sorted(set(gauges) - set(table.index))
        if missing:
            raise DataError(
                f"site ids with time series but not in the attribute tables: {missing}",
                file=str(root / "attributes" / source),
            )
        attribute_tables.append(table.loc[gauges])
    attributes, attribute_units = standardize_attributes(pd.concat(attribute_tables))
    series, units = [], {}
    suffix = "csv" if fmt == "csv" else "nc"
    for site in sites:
        path = root / "timeseries" / fmt / site.split("_")[0] / f"{site}.{suffix}"
        frame, units = standardize(
            _read_timeseries(path, fmt),
            columns,
            area_km2=float(attributes.loc[site, "area"]) if "area" in attributes else None,
            source=str(path),
        )
        series.append(SiteSeries(site, frame, str(path)))
    return assemble(
        series, units, attributes=attributes, attribute_units=attribute_units,
        attribute_source=str(root / "attributes"), fill=fill, pet=pet,
        description=f"Caravan ({fmt}): {root}",
    )  # fmt: skip
