"""Plain CSV and NetCDF files into the dataset container.

CSV: one table with a time column and one column per variable, either for one site
(wide) or for many sites (long, with a site column). ``columns`` declares what each
file column is: ``{"Q": ("streamflow", "m3/s"), "P": ("precipitation", "mm/day")}``;
undeclared columns are ignored. Attributes come as a site-indexed table (a
``DataFrame`` or a CSV whose first column, or ``site_column``, holds site ids).

NetCDF: a file already in the container layout (dims ``time`` and ``site``, attrs
``units`` and ``role`` on every variable); units are converted to the standard ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

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
from discover.data.container import DataError
from discover.data.units import to_standard


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
    return frame.set_index(frame[key].str.strip()).drop(columns=key)


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


def load_netcdf(path: str | Path, *, fill: str | None = None, pet: str | None = None) -> xr.Dataset:
    """Load a NetCDF file in the container layout; convert units to the standard ones
    (volumetric streamflow with the ``area`` attribute), fill/add PET if asked, validate."""
    source = str(path)
    if not Path(path).is_file():
        raise DataError("file not found", file=source)
    ds = xr.load_dataset(path)
    try:
        # attributes first, so that streamflow is converted with the area in km2
        names = sorted(ds.data_vars, key=lambda n: ds[n].attrs.get("role") != "attribute")
        for name in names:
            var = ds[name]
            if "units" not in var.attrs or "role" not in var.attrs:
                raise DataError("needs attrs 'units' and 'role'", variable=str(name))
            if var.dims == ("site", "time"):
                var = var.transpose("time", "site")
            area = None
            if "area" in ds.data_vars and name != "area" and var.dims == ("time", "site"):
                area = ds["area"].values
            values, unit = to_standard(str(name), var.values, var.attrs["units"], area_km2=area)
            ds[name] = (var.dims, values, {**var.attrs, "units": unit})
        ds = ds.assign_coords(site=ds["site"].astype(str)) if "site" in ds.coords else ds
        return finish(ds, fill=fill, pet=pet)
    except DataError as err:
        raise err.located(source) from None
