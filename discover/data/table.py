"""Plain CSV and NetCDF files into the dataset container.

CSV: one table with a time column and one column per variable, either for one site
(wide) or for many sites (long, with a site column). ``columns`` declares what each
file column is: ``{"Q": ("streamflow", "m3/s"), "P": ("precipitation", "mm/day")}``;
undeclared columns are ignored. Attributes come as a site-indexed table (a
``DataFrame`` or a CSV whose first column, or ``site_column``, holds site ids).

Per-site tables (``load_site_tables``, ``data.source: table`` of an HBV model): one
CSV/Parquet file per site, or one long table with a ``site`` column, whose columns carry
the standard names (:data:`SITE_TABLE_COLUMNS`), and a site-attribute table.

NetCDF (or Zarr): a dataset already in the container layout (dims ``time`` and
``site``, attrs ``units`` and ``role`` on every variable), read lazily; units are
converted to the standard ones.

Every layout, with an example: ``docs/data.md``.
"""

from __future__ import annotations

import glob
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from discover.data.assemble import (
    SiteSeries,
    assemble,
    check_site_ids,
    finish,
    standardize,
    standardize_attributes,
)
from discover.data.container import STANDARD_UNITS, DataError
from discover.data.stored import open_stored, read_stored


def strip_column_names(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """``frame`` with spaces around its column names removed (a header ``t,x, y`` names
    ``y``, not ``" y"``).

    Raises:
        DataError: two columns have the same name once stripped.
    """
    names = [str(c).strip() for c in frame.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(
            f"columns {repeated} appear more than once (spaces around names are ignored)",
            file=source,
        )
    return frame.set_axis(names, axis=1)


def read_table(
    path: str | Path,
    *,
    sep: str = ",",
    comment: str | None = None,
    dtype: type | Mapping[str, type] | None = None,
) -> pd.DataFrame:
    """Read a CSV (or, by its ``.parquet`` suffix, a Parquet file) with the spaces around
    its column names removed; ``sep``, ``comment`` and ``dtype`` apply to CSV.

    Raises:
        DataError: naming the file, when it is missing or unreadable, or two of its columns
            have the same name once stripped.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    parquet = path.suffix == ".parquet"
    try:
        if parquet:
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep=sep, comment=comment, dtype=dtype)
    except (ValueError, OSError, ImportError) as err:  # pandas' parser errors are ValueErrors
        kind = "Parquet" if parquet else "CSV"
        raise DataError(f"cannot read as {kind}: {err}", file=str(path)) from None
    return strip_column_names(frame, str(path))


def read_csv(
    path: str | Path,
    *,
    time_column: str,
    time_format: str | None = None,
    dayfirst: bool = False,
    sep: str = ",",
    comment: str | None = None,
    dtype: Mapping[str, type] | None = None,
) -> pd.DataFrame:
    """Read a CSV (:func:`read_table`) into a frame indexed by its parsed ``time_column``
    (named ``time``).

    Spaces around column names are ignored. Unreadable dates become NaT (``assemble``
    reports them with the file). ``comment``
    skips lines starting with that character (e.g. a units row starting with ``#``).
    """
    frame = read_table(path, sep=sep, comment=comment, dtype=dtype)
    if time_column not in frame.columns:
        raise DataError(
            f"time column {time_column!r} not found (has {list(frame.columns)})", file=str(path)
        )
    time = pd.to_datetime(
        frame[time_column].astype(str), format=time_format, dayfirst=dayfirst, errors="coerce"
    )
    return frame.drop(columns=time_column).set_index(pd.DatetimeIndex(time, name="time"))


def read_attributes(
    path: str | Path, *, site_column: str | None = None, sep: str = ","
) -> pd.DataFrame:
    """A site-indexed attribute table from CSV (site ids kept as text, e.g. leading zeros)."""
    frame = read_table(path, sep=sep, dtype=str)
    key = site_column or str(frame.columns[0])
    if key not in frame.columns:
        raise DataError(f"site column {key!r} not found", file=str(path))
    return frame.set_index(frame[key].astype(str).str.strip()).drop(columns=key)


def load_csv(
    path: str | Path,
    columns: Mapping[str, tuple[str, str]],
    *,
    time_column: str = "time",
    site_column: str | None = None,
    site: str | None = None,
    attributes: pd.DataFrame | str | Path | None = None,
    attribute_units: Mapping[str, str] | None = None,
    roles: Mapping[str, str] | None = None,
    time_format: str | None = None,
    dayfirst: bool = False,
    sep: str = ",",
    comment: str | None = None,
    fill: str | None = None,
    pet: str | None = None,
) -> xr.Dataset:
    """Load a wide (one site, id ``site`` or the file stem) or long (``site_column``) CSV.

    ``columns`` maps file columns to ``(name, unit)``; streamflow in m3/s, ft3/s or l/s
    is converted to mm/day with the site's ``area`` attribute [km2 unless
    ``attribute_units`` says otherwise]. ``fill``/``pet`` as in ``assemble``.
    """
    source = str(path)
    frame = read_csv(
        path,
        time_column=time_column,
        time_format=time_format,
        dayfirst=dayfirst,
        sep=sep,
        comment=comment,
        dtype={site_column: str} if site_column else None,
    )
    groups = _site_groups(frame, site_column, site or Path(path).stem, source)
    table, units_of_attributes = None, None
    attributes_path = None if isinstance(attributes, pd.DataFrame) else attributes
    if attributes is not None:
        if attributes_path is not None:
            attributes = read_attributes(attributes_path, site_column=site_column)
        table, units_of_attributes = standardize_attributes(attributes, attribute_units)
        check_site_ids(set(groups), set(table.index), str(attributes_path or path))
    series, units = _site_series(groups, columns, table, source)
    return assemble(
        series,
        units,
        attributes=table,
        attribute_units=units_of_attributes,
        attribute_source=str(attributes_path or path),
        roles=roles,
        fill=fill,
        pet=pet,
        description=source,
    )


def _site_groups(
    frame: pd.DataFrame, site_column: str | None, site: str, source: str
) -> dict[str, pd.DataFrame]:
    """The table of each site: grouped by ``site_column`` (long CSV), else all of it for
    ``site`` (wide CSV)."""
    if site_column is None:
        return {site: frame}
    if site_column not in frame.columns:
        raise DataError(f"site column {site_column!r} not found", file=source)
    return {str(s).strip(): g.drop(columns=site_column) for s, g in frame.groupby(site_column)}


def _site_series(
    groups: Mapping[str, pd.DataFrame],
    columns: Mapping[str, tuple[str, str]],
    table: pd.DataFrame | None,
    source: str,
) -> tuple[list[SiteSeries], dict[str, str]]:
    """Each site's ``columns`` in standard units (volumetric streamflow converted with the
    site's ``area`` in ``table`` when there is one), and ``{name: unit}``."""
    series, units = [], {}
    for site_id, group in groups.items():
        area = None
        if table is not None and "area" in table.columns and site_id in table.index:
            area = float(table.loc[site_id, "area"])
        converted, units = standardize(group, columns, area_km2=area, source=source)
        series.append(SiteSeries(site_id, converted, source))
    return series, units


PET_INPUTS = ("temperature", "temperature_min", "temperature_max")
"""Series a PET formula may read (:func:`~discover.data.pet.add_pet`)."""


def load_netcdf(
    path: str | Path,
    *,
    fill: str | None = None,
    pet: str | None = None,
    series: Collection[str] | None = None,
    sites: Sequence[str] | None = None,
    dtype: str | np.dtype = "float64",
) -> xr.Dataset:
    """Load a NetCDF file, or a Zarr store (a ``*.zarr`` folder; needs ``zarr``), in the
    container layout, reading lazily (:mod:`discover.data.stored`): only the time series
    named in ``series`` (all when ``None``), of the ``sites`` given (all when ``None``),
    are read, each once, into ``dtype``; every attribute [site] is read. Units are
    converted to the standard ones (volumetric streamflow with the ``area`` attribute);
    fill/add PET if asked (``pet`` also reads the temperatures it needs); validate."""
    source = str(path)
    if series is not None and pet is not None:
        series = {*series, *PET_INPUTS}
    try:
        with open_stored(path) as stored:
            ds = read_stored(stored, series=series, sites=sites, dtype=dtype)
        return finish(ds, fill=fill, pet=pet)
    except DataError as err:
        raise err.located(source) from None


SITE_TABLE_COLUMNS = (
    "precipitation",
    "temperature",
    "temperature_min",
    "temperature_max",
    "pet",
    "streamflow",
)
"""Columns a per-site table may hold (standard names; units in ``STANDARD_UNITS``):
``precipitation`` and ``streamflow`` [mm/day] are required, and ``temperature`` [degC]
or both ``temperature_min`` and ``temperature_max`` (their mean becomes ``temperature``);
``pet`` [mm/day] is computed by Oudin's formula from temperature and the ``latitude``
attribute when absent."""

TABLE_SUFFIXES = (".csv", ".parquet")
"""File types of a folder of per-site tables."""


def table_files(path: str | Path) -> list[Path]:
    """The files ``path`` names: itself, every CSV/Parquet file in a folder, or those a
    pattern (``catchments/*.csv``) matches, sorted.

    Raises:
        DataError: naming ``path`` when it names no file.
    """
    path = Path(path)
    if path.is_dir():
        found = [f for f in path.iterdir() if f.suffix in TABLE_SUFFIXES and f.is_file()]
    elif any(c in str(path) for c in "*?["):
        found = [Path(f) for f in glob.glob(str(path)) if Path(f).is_file()]
    else:
        return [path]
    if not found:
        raise DataError(f"no {' or '.join(TABLE_SUFFIXES)} file found", file=str(path))
    return sorted(found)


def load_site_tables(
    path: str | Path,
    *,
    attributes: str | Path | None = None,
    time_column: str = "date",
    site_column: str = "site",
    units: Mapping[str, str] | None = None,
    fill: str | None = None,
) -> xr.Dataset:
    """Daily data of many sites from per-site tables (layout: ``docs/data.md``).

    ``path`` is a file, a folder or a pattern (:func:`table_files`); a file with a
    ``site_column`` holds the rows of many sites (long table), one without it those of
    the site named by its file name. Columns are :data:`SITE_TABLE_COLUMNS` in standard
    units unless ``units`` (``{column: unit}``) says otherwise (volumetric streamflow is
    converted with the site's ``area`` attribute, km2); other columns are ignored.
    ``attributes``: a CSV/Parquet table, one row per site, ids in ``site_column``.
    ``fill``: a gap-fill method for forcings (see ``assemble``).

    Raises:
        DataError: naming the file (and site) of a missing column, a site found twice,
            site ids that differ between tables and attributes, or bad values.
    """
    units = dict(units or {})
    unknown = sorted(set(units) - set(SITE_TABLE_COLUMNS))
    if unknown:
        raise DataError(
            f"data.units: {unknown} are not columns of a site table {SITE_TABLE_COLUMNS}"
        )
    table, attribute_units = None, None
    if attributes is not None:
        read = read_attributes(attributes, site_column=site_column)
        table, attribute_units = standardize_attributes(read)
    series, found = _read_sites(path, time_column, site_column, units, table)
    names = {n: STANDARD_UNITS[n] for one in series for n in one.frame.columns}
    if table is not None:
        check_site_ids(set(found), set(table.index), str(attributes))
    if "pet" not in names and (table is None or "latitude" not in table.columns):
        raise DataError(
            "no 'pet' column: give one, or a 'latitude' attribute (data.attributes) from "
            "which PET is computed by Oudin's formula",
            file=str(path),
        )
    return assemble(
        series,
        names,
        attributes=table,
        attribute_units=attribute_units,
        attribute_source=str(attributes),
        fill=fill,
        pet="oudin",
        description=str(path),
    )


def _read_sites(
    path: str | Path,
    time_column: str,
    site_column: str,
    units: dict[str, str],
    table: pd.DataFrame | None,
) -> tuple[list[SiteSeries], dict[str, str]]:
    """Every site's series from the tables at ``path`` and the file each site came from.

    Raises:
        DataError: a site found twice (naming both files), or a bad table.
    """
    series: list[SiteSeries] = []
    found: dict[str, str] = {}
    for file in table_files(path):
        source = str(file)
        frame = read_csv(file, time_column=time_column, dtype={site_column: str})
        column = site_column if site_column in frame.columns else None
        for site, group in _site_groups(frame, column, file.stem, source).items():
            if site in found:
                raise DataError(f"site {site!r} is also in {found[site]}", file=source)
            found[site] = source
            series.append(_site_table(site, group, units, table, source))
    return series, found


def _site_table(
    site: str,
    frame: pd.DataFrame,
    units: Mapping[str, str],
    attributes: pd.DataFrame | None,
    source: str,
) -> SiteSeries:
    """One site's columns of :data:`SITE_TABLE_COLUMNS` in standard units; a
    ``temperature`` column, else the mean of ``temperature_min`` and ``_max``, is kept as
    ``temperature`` (those two are dropped, so that sites may give either)."""
    present = [c for c in SITE_TABLE_COLUMNS if c in frame.columns]
    missing = [c for c in ("precipitation", "streamflow") if c not in present]
    if "temperature" not in present:
        missing += [c for c in ("temperature_min", "temperature_max") if c not in present]
    if missing:
        raise DataError(
            f"columns {missing} missing (has {list(frame.columns)}); a site table needs "
            "precipitation, streamflow and temperature (or temperature_min and _max)",
            file=source,
            site=site,
        )
    area = None
    if attributes is not None and "area" in attributes.columns and site in attributes.index:
        area = float(attributes.loc[site, "area"])
    columns = {c: (c, units.get(c, STANDARD_UNITS[c])) for c in present}
    converted, _ = standardize(frame, columns, area_km2=area, source=source)
    if "temperature" not in converted.columns:
        mean = (converted["temperature_min"] + converted["temperature_max"]) / 2
        converted.insert(0, "temperature", mean)
    extremes = [c for c in ("temperature_min", "temperature_max") if c in converted.columns]
    return SiteSeries(site, converted.drop(columns=extremes), source)
