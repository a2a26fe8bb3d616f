"""From per-site tables (as read from files) to a checked dataset container.

Every loader ends here: it reads each file into a time-indexed ``pandas.DataFrame``
with standard column names (``standardize`` converts the units), wraps it as a
``SiteSeries`` with the file it came from, and calls ``assemble``. ``assemble`` checks
what only the files can tell (time index, site ids, overlapping periods), builds the
``xarray.Dataset``, fills gaps and computes PET when asked, then runs
``validate_dataset``; an error found there is re-raised with the file it came from.
Nothing is returned unless every check passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from discover.data.container import STANDARD_UNITS, DataError, role_of
from discover.data.gaps import fill_gaps
from discover.data.pet import add_pet
from discover.data.units import to_standard
from discover.data.validate import validate_dataset


@dataclass(frozen=True)
class SiteSeries:
    """One site's time series from one file: ``frame`` has a ``DatetimeIndex`` and one
    column per variable (standard names, standard units; see ``standardize``)."""

    site: str
    frame: pd.DataFrame
    source: str


def check_frame(frame: pd.DataFrame, source: str) -> None:
    """Raise ``DataError`` naming ``source`` if the table is empty, has one row, or its
    time index is not datetime, has NaT or duplicates, or is not increasing."""
    if len(frame) == 0:
        raise DataError("empty data: no rows", file=source)
    if len(frame) == 1:
        raise DataError("one-row data: need at least 2 time steps", file=source)
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(f"time index is not datetime ({type(index).__name__})", file=source)
    if index.hasnans:
        raise DataError("time index has unreadable dates (NaT)", file=source)
    duplicated = index.duplicated()
    if duplicated.any():
        raise DataError("duplicate time in the time index", file=source, time=index[duplicated][0])
    if not index.is_monotonic_increasing:
        step = np.diff(index.asi8)
        raise DataError(
            "time index is not monotonic increasing",
            file=source,
            time=index[int(np.argmax(step < 0)) + 1],
        )


def standardize(
    frame: pd.DataFrame,
    columns: Mapping[str, tuple[str, str]],
    *,
    area_km2: float | None = None,
    source: str,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Pick and rename ``columns`` (``{file column: (name, unit)}``) and convert each to
    its standard unit; returns the new frame and ``{name: unit}``. Volumetric streamflow
    is converted to mm/day with ``area_km2``."""
    out, units = {}, {}
    for column, (name, unit) in columns.items():
        if column not in frame.columns:
            raise DataError(f"column {column!r} not found (has {list(frame.columns)})", file=source)
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        try:
            out[name], units[name] = to_standard(name, values, unit, area_km2=area_km2)
        except DataError as err:
            raise err.located(source) from None
    return pd.DataFrame(out, index=frame.index), units


def standardize_attributes(
    table: pd.DataFrame, units: Mapping[str, str] | None = None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Convert standard attributes (e.g. ``area`` given in m2) in a site-indexed table to
    their standard units; returns the table (site ids as text) and ``{column: unit}``."""
    out = table.set_axis([str(i).strip() for i in table.index], axis=0)
    result: dict[str, str] = {}
    for name in table.columns:
        unit = (units or {}).get(name, STANDARD_UNITS.get(name, "unknown"))
        if name in STANDARD_UNITS:
            values = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=float)
            out[name], unit = to_standard(name, values, unit)
        result[name] = unit
    return out, result


def check_site_ids(have: set[str], listed: set[str], source: str) -> None:
    """Raise ``DataError`` naming ``source`` unless the site ids with time series
    (``have``) and those in the attribute table (``listed``) are the same."""
    if have - listed:
        raise DataError(
            f"site ids with time series but not in the attribute table: {sorted(have - listed)}",
            file=source,
        )
    if listed - have:
        raise DataError(
            f"site ids in the attribute table without time series: {sorted(listed - have)}",
            file=source,
        )


def _check_overlap(parts: list[SiteSeries], roles: Mapping[str, str]) -> None:
    forcing = [p for p in parts if any(roles[c] == "forcing" for c in p.frame.columns)]
    observed = [p for p in parts if any(roles[c] == "observation" for c in p.frame.columns)]
    for f in forcing:
        for o in observed:
            if f is o:
                continue
            obs = o.frame[[c for c in o.frame.columns if roles[c] == "observation"]]
            valid = obs.index[obs.notna().any(axis=1)]
            if len(valid) and (
                valid.max() < f.frame.index.min() or valid.min() > f.frame.index.max()
            ):
                raise DataError(
                    f"forcing period {f.frame.index.min():%Y-%m-%d}..{f.frame.index.max():%Y-%m-%d}"
                    f" ({f.source}) and observation period {valid.min():%Y-%m-%d}.."
                    f"{valid.max():%Y-%m-%d} ({o.source}) do not overlap",
                    site=f.site,
                )


def _time_axis(
    series: Sequence[SiteSeries], roles: Mapping[str, str], freq: str
) -> pd.DatetimeIndex:
    with_forcing = [
        s.frame.index for s in series if any(roles[c] == "forcing" for c in s.frame.columns)
    ]
    indexes = with_forcing or [s.frame.index for s in series]
    start = min(i.min() for i in indexes)
    end = max(i.max() for i in indexes)
    return pd.date_range(start, end, freq=freq, name="time")


def _locate(err: DataError, ds: xr.Dataset, sources: Mapping[tuple[str, str], str]) -> DataError:
    """The error with the file of its (site, role); a site-wide error (no variable) gets
    the site's time-series file when there is only one."""
    if err.site is None:
        return err
    if err.variable is None:
        files = {
            f for (site, role), f in sources.items() if site == err.site and role != "attribute"
        }
        return err.located(files.pop()) if len(files) == 1 else err
    role = ds[err.variable].attrs.get("role", "") if err.variable in ds.data_vars else ""
    return err.located(sources.get((err.site, role)))


def assemble(
    series: Sequence[SiteSeries],
    units: Mapping[str, str],
    *,
    attributes: pd.DataFrame | None = None,
    attribute_units: Mapping[str, str] | None = None,
    attribute_source: str = "attributes",
    roles: Mapping[str, str] | None = None,
    fill: str | None = None,
    pet: str | None = None,
    freq: str = "D",
    description: str = "",
) -> xr.Dataset:
    """Build, complete and check the dataset container from per-site tables.

    ``units`` gives the unit of every time-series variable (standard names must already be
    in standard units); ``roles`` overrides the role of non-standard names (default
    ``"forcing"``). ``attributes`` is indexed by site id (numeric columns are kept; their
    units come from ``attribute_units`` or the standard table, else ``"unknown"``); its
    site ids must match those of ``series`` exactly. The time axis spans the forcing
    period at step ``freq``; days missing in a file become gaps. ``fill`` names a gap-fill
    method (see ``fill_gaps``), ``pet`` a PET method used when no ``pet`` variable exists.
    """
    if not series:
        raise DataError("no time series to load")
    role = {n: (roles or {}).get(n, role_of(n)) for n in units}
    by_site, sources = _by_site(series, role)
    if attributes is not None:
        attributes = attributes.set_axis([str(i) for i in attributes.index], axis=0)
        check_site_ids({s.site for s in series}, set(attributes.index), attribute_source)
        sources.update({(site, "attribute"): attribute_source for site in attributes.index})
    for parts in by_site.values():
        _check_overlap(parts, role)
    time = _time_axis(series, role, freq)
    sites = list(by_site)
    data = _on_time_axis(by_site, units, time)
    ds = xr.Dataset(coords={"time": time, "site": np.array(sites, dtype=str)})
    for name, values in data.items():
        ds[name] = (("time", "site"), values, {"units": units[name], "role": role[name]})
    if attributes is not None:
        _add_attributes(ds, attributes, sites, attribute_units)
    ds.attrs["source"] = description
    try:
        return finish(ds, fill=fill, pet=pet, freq=freq)
    except DataError as err:
        raise _locate(err, ds, sources) from None


def _by_site(
    series: Sequence[SiteSeries], role: Mapping[str, str]
) -> tuple[dict[str, list[SiteSeries]], dict[tuple[str, str], str]]:
    """Check each table (:func:`check_frame`, every column with a unit) and group them by
    site; also the file of each (site, role)."""
    by_site: dict[str, list[SiteSeries]] = {}
    sources: dict[tuple[str, str], str] = {}
    for part in series:
        check_frame(part.frame, part.source)
        unknown = [c for c in part.frame.columns if c not in role]
        if unknown:
            raise DataError(f"variables without a declared unit: {unknown}", file=part.source)
        by_site.setdefault(part.site, []).append(part)
        for column in part.frame.columns:
            sources[(part.site, role[column])] = part.source
    return by_site, sources


def _on_time_axis(
    by_site: Mapping[str, list[SiteSeries]], units: Mapping[str, str], time: pd.DatetimeIndex
) -> dict[str, np.ndarray]:
    """Each variable of ``units`` as [time, site] on ``time`` (NaN where a file has no
    row); every site must provide every variable."""
    data = {n: np.full((len(time), len(by_site)), np.nan) for n in units}
    for j, (site, parts) in enumerate(by_site.items()):
        provided: set[str] = set()
        for part in parts:
            frame = part.frame.reindex(time)
            for column in part.frame.columns:
                data[column][:, j] = frame[column].to_numpy(dtype=float)
                provided.add(column)
        missing = sorted(set(units) - provided)
        if missing:
            files = sorted({p.source for p in parts})
            raise DataError(f"variables {missing} missing in {files}", site=site)
    return data


def _add_attributes(
    ds: xr.Dataset,
    attributes: pd.DataFrame,
    sites: list[str],
    attribute_units: Mapping[str, str] | None,
) -> None:
    """Add the numeric columns of ``attributes`` (site-indexed) to ``ds`` as [site]
    variables in the order of ``sites``; text columns are left out."""
    numeric = attributes.loc[sites].apply(pd.to_numeric, errors="coerce")
    for name in attributes.columns:
        if numeric[name].isna().all() and attributes[name].notna().any():
            continue  # a text column (names, classes): not an attribute for models
        unit = (attribute_units or {}).get(name, STANDARD_UNITS.get(name, "unknown"))
        ds[name] = (("site",), numeric[name].to_numpy(dtype=float))
        ds[name].attrs = {"units": unit, "role": "attribute"}


def finish(
    ds: xr.Dataset, *, fill: str | None = None, pet: str | None = None, freq: str | None = "D"
) -> xr.Dataset:
    """Fill gaps (if ``fill`` names a method), add PET (if ``pet`` names a method and none
    exists), then validate; returns the completed dataset or raises ``DataError``."""
    if fill is not None:
        ds = fill_gaps(ds, fill)
    if pet is not None and "pet" not in ds.data_vars:
        ds = add_pet(ds, pet)
    validate_dataset(ds, freq=freq)
    return ds
