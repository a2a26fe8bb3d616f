"""Tabular data for ODE models: observed states and forcings on a common time grid, in the
dataset container (``discover/data/container.py``) that HBV models read too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from discover.data.container import DataError
from discover.data.table import read_table

COORDINATES = ("time", "site")
"""The container's dimensions; no data column may take their names."""


def state_names(data: xr.Dataset) -> list[str]:
    """The states, in the order of the model's ``states``: the ``observation`` variables."""
    return _names(data, "observation")


def forcing_names(data: xr.Dataset) -> list[str]:
    """The forcings, in the table's column order: the ``forcing`` variables."""
    return _names(data, "forcing")


def states_array(data: xr.Dataset) -> np.ndarray:
    """Observed states [time, site, state]; NaN where not observed."""
    return _stacked(data, state_names(data))


def forcings_array(data: xr.Dataset) -> np.ndarray:
    """Forcing values [time, site, forcing]; always finite."""
    return _stacked(data, forcing_names(data))


def _names(data: xr.Dataset, role: str) -> list[str]:
    return [str(name) for name, v in data.data_vars.items() if v.attrs.get("role") == role]


def _stacked(data: xr.Dataset, names: list[str]) -> np.ndarray:
    """Variables ``names`` as one array [time, site, variable]."""
    shape = (data.sizes["time"], data.sizes["site"])
    if not names:
        return np.empty((*shape, 0))
    return np.stack([data[name].transpose(*COORDINATES).to_numpy() for name in names], axis=-1)


def split_index(data: xr.Dataset, fraction: float) -> int:
    """Number of leading time steps in the training part for a split ``fraction``.

    Raises:
        DataError: either part would hold no observation.
    """
    times, states = data["time"].to_numpy(), states_array(data)
    n = len(times)
    n_train = int(round(fraction * n))
    if n_train < 2:
        raise DataError(f"train split {fraction} leaves {n_train} time step(s) of {n} for training")
    if n_train >= n or not np.isfinite(states[n_train:]).any():
        raise DataError(
            f"train split {fraction} leaves no validation data after time "
            f"{times[n_train - 1]} in {data.attrs['source']}; lower train.split"
        )
    if not np.isfinite(states[1:n_train]).any():
        raise DataError(f"no observation in the training part of {data.attrs['source']}")
    return n_train


def read_ode_table(
    path: str | Path, time: str, states: list[str], site: str | None = None
) -> xr.Dataset:
    """Read a CSV or Parquet table (:func:`discover.data.table.read_table`): a time
    column, observed states, and forcings.

    Columns named like a state are observations (may be missing or hold NaN); every
    other numeric column (besides ``time`` and ``site``) is a forcing and must be finite.
    Spaces around column names are ignored.

    Returns:
        A dataset with dims (time, site): coordinates ``time`` (the table's times) and
        ``site`` (trajectory ids, ``"0"`` without a site column); one variable per state
        (``role: observation``, all NaN if the table lacks it) and per forcing
        (``role: forcing``); ``attrs["source"]`` names the file.

    Raises:
        DataError: missing file or column, bad time index, non-finite forcing, or no data.
    """
    path = Path(path)
    table = read_table(path)
    _check_columns(table, time, site, path)
    if site is None:
        table = table.assign(_site="0")
        site = "_site"
    value_columns = [c for c in table.columns if c not in (time, site)]
    for column in value_columns:
        if not pd.api.types.is_numeric_dtype(table[column]):
            raise DataError(f"column {column!r} of {path} is not numeric")
    if not pd.api.types.is_numeric_dtype(table[time]):
        raise DataError(f"time column {time!r} of {path} must be numeric")
    _check_time_index(table, time, site, path)
    if not any(s in table.columns for s in states):
        raise DataError(f"{path} has no column for any state {states}")
    forcing_names = [c for c in value_columns if c not in states]
    clash = [c for c in [*states, *forcing_names] if c in COORDINATES]
    if clash:
        raise DataError(
            f"column or state {clash[0]!r} of {path} has the name of a dataset coordinate "
            f"{COORDINATES}; rename it (the time and site columns are named by data.time "
            "and data.site)"
        )
    times, sites, observed, forcings = _on_grid(table, time, site, states, forcing_names)
    _check_values(forcings, observed, (times, sites, time), states, forcing_names, path)
    roles = [("observation", states, observed), ("forcing", forcing_names, forcings)]
    variables = {
        name: (COORDINATES, values[:, :, i], {"role": role})
        for role, names, values in roles
        for i, name in enumerate(names)
    }
    coords = {"time": times, "site": sites}
    return xr.Dataset(variables, coords=coords, attrs={"source": str(path)})


def _check_columns(table: pd.DataFrame, time: str, site: str | None, path: Path) -> None:
    """The time column, the site column (when named) and at least 3 rows are there."""
    if time not in table.columns:
        raise DataError(f"{path} has no time column {time!r}; columns: {list(table.columns)}")
    if site is not None and site not in table.columns:
        raise DataError(f"{path} has no site column {site!r}; columns: {list(table.columns)}")
    if len(table) < 3:
        raise DataError(f"{path} has {len(table)} row(s); at least 3 time steps are needed")


def _on_grid(
    table: pd.DataFrame, time: str, site: str, states: list[str], forcing_names: list[str]
) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """Times [time], site ids [site], observed states [time, site, state] (NaN where a
    state has no column or row) and forcings [time, site, forcing] on the grid of every
    time by every site."""
    table[site] = table[site].astype(str)
    sites = list(dict.fromkeys(table[site]))
    times = np.sort(table[time].unique()).astype(float)
    grid = pd.MultiIndex.from_product([times, sites], names=[time, site])
    wide = table.set_index([time, site]).reindex(grid)
    observed = np.full((len(times), len(sites), len(states)), np.nan)
    for i, name in enumerate(states):
        if name in wide.columns:
            observed[:, :, i] = wide[name].to_numpy(float).reshape(len(times), len(sites))
    forcings = wide[forcing_names].to_numpy(float).reshape(len(times), len(sites), -1)
    return times, sites, observed, forcings


def _check_values(
    forcings: np.ndarray,
    observed: np.ndarray,
    where: tuple[np.ndarray, list[str], str],
    states: list[str],
    forcing_names: list[str],
    path: Path,
) -> None:
    """Every forcing is finite and no observation is infinite; ``where`` holds the times,
    site ids and time column name for the message."""
    times, sites, time = where
    bad = ~np.isfinite(forcings)
    if bad.any():
        t, s, f = np.argwhere(bad)[0]
        raise DataError(
            f"forcing {forcing_names[f]!r} in {path} is missing or not finite at "
            f"{time}={times[t]} (site {sites[s]}); {int(bad.sum())} value(s) in all"
        )
    infinite = np.isinf(observed)
    if infinite.any():
        t, s, i = np.argwhere(infinite)[0]
        raise DataError(
            f"observation {states[i]!r} in {path} is infinite at {time}={times[t]} "
            f"(site {sites[s]}); {int(infinite.sum())} value(s) in all (use NaN for missing)"
        )


def _check_time_index(table: pd.DataFrame, time: str, site: str, path: Path) -> None:
    for site_id, group in table.groupby(site, sort=False):
        values = group[time].to_numpy(float)
        if not np.isfinite(values).all():
            raise DataError(f"time column {time!r} of {path} has missing values (site {site_id})")
        steps = np.diff(values)
        if (steps == 0).any():
            row = int(np.argmax(steps == 0)) + 1
            raise DataError(f"duplicate time {values[row]} in {path} (site {site_id})")
        if (steps < 0).any():
            row = int(np.argmax(steps < 0)) + 1
            raise DataError(
                f"time column {time!r} of {path} is not increasing at {values[row]} "
                f"(site {site_id}); sort the table"
            )
