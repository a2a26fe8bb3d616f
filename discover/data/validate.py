"""Checks that a dataset follows the container contract and holds usable data.

``validate_dataset`` raises ``DataError`` (naming variable, site and time) at the first
problem that would make a model run meaningless, and otherwise returns a ``DataReport``:
the shape of the data, the share of missing (masked) observations, how many forcing
values were filled, runoff ratios, and warnings that do not stop a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from discover.data.container import ROLES, SENTINELS, STANDARD_UNITS, DataError
from discover.data.select import variables

#: Standard attributes whose values must be finite (loaders and PET rely on them).
REQUIRED_FINITE = ("area", "latitude", "longitude", "elevation")
_NON_NEGATIVE = ("precipitation", "pet", "streamflow")
_RANGES = {"area": (0.0, np.inf), "latitude": (-90.0, 90.0), "longitude": (-180.0, 360.0)}
#: Plausible daily values of standard forcings (beyond the records measured on Earth: a
#: value outside says the unit is wrong, e.g. precipitation in 0.1 mm or kelvin).
PLAUSIBLE = {
    "precipitation": (0.0, 2000.0),
    "pet": (0.0, 50.0),
    "temperature": (-90.0, 60.0),
    "temperature_min": (-90.0, 60.0),
    "temperature_max": (-90.0, 60.0),
}


@dataclass
class DataReport:
    """What ``validate_dataset`` found. Shares are fractions in ``[0, 1]``."""

    n_sites: int
    n_times: int
    start: str
    end: str
    forcings: list[str]
    observations: list[str]
    attributes: list[str]
    observation_missing: dict[str, float] = field(default_factory=dict)
    observation_missing_by_site: dict[str, dict[str, float]] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)
    runoff_ratio: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"{self.n_sites} site(s) x {self.n_times} day(s), {self.start} .. {self.end}",
            f"forcings: {', '.join(self.forcings) or '-'}",
            f"observations: {', '.join(self.observations) or '-'}",
            f"attributes: {', '.join(self.attributes) or '-'}",
        ]
        for name, share in self.observation_missing.items():
            lines.append(f"{name}: {100 * share:.1f}% missing (masked)")
        for name, count in self.filled.items():
            lines.append(f"{name}: {count} value(s) filled")
        if self.runoff_ratio:
            low, high = min(self.runoff_ratio.values()), max(self.runoff_ratio.values())
            lines.append(f"runoff ratio (streamflow / precipitation): {low:.2f} .. {high:.2f}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _first(mask: xr.DataArray) -> tuple[str, object]:
    """Site and time of the first True in a ``[time, site]`` mask."""
    values = mask.transpose("time", "site").values
    t, s = np.argwhere(values)[0]
    return str(mask["site"].values[s]), mask["time"].values[t]


def _check_structure(ds: xr.Dataset) -> None:
    if not isinstance(ds, xr.Dataset):
        raise DataError(f"expected an xarray.Dataset, got {type(ds).__name__}")
    for dim in ("time", "site"):
        if dim not in ds.dims:
            raise DataError(f"dataset has no {dim!r} dimension (dims: {list(ds.dims)})")
    if ds.sizes["site"] == 0:
        raise DataError("empty data: no sites")
    if ds.sizes["time"] < 2:
        raise DataError(f"empty or one-row data: {ds.sizes['time']} time step(s), need >= 2")
    if not np.issubdtype(ds["time"].dtype, np.datetime64):
        raise DataError(f"time coordinate must be datetime64, got {ds['time'].dtype}")
    sites = [str(s) for s in ds["site"].values]
    if not all(isinstance(s, str) for s in ds["site"].values):
        raise DataError("site ids must be strings")
    seen: set[str] = set()
    for site in sites:
        if site in seen:
            raise DataError("duplicate site id", site=site)
        seen.add(site)
    if not ds.data_vars:
        raise DataError("dataset has no variables")
    for name, var in ds.data_vars.items():
        role, units = var.attrs.get("role"), var.attrs.get("units")
        if role not in ROLES:
            raise DataError(f"attrs['role'] is {role!r}, must be one of {ROLES}", variable=name)
        if not isinstance(units, str) or not units:
            raise DataError("missing attrs['units']", variable=name)
        want = ("site",) if role == "attribute" else ("time", "site")
        if set(var.dims) != set(want) or len(var.dims) != len(want):
            raise DataError(f"a {role} needs dims {want}, got {var.dims}", variable=name)
        if not np.issubdtype(var.dtype, np.number):
            raise DataError(f"values must be numeric, got {var.dtype}", variable=name)
        standard = STANDARD_UNITS.get(str(name))
        if standard is not None and units != standard:
            raise DataError(f"units {units!r}, the container needs {standard!r}", variable=name)


def _check_time(ds: xr.Dataset, freq: str | None) -> None:
    times = ds["time"].values
    step = np.diff(times.astype("datetime64[ns]").astype(np.int64))
    if np.any(step == 0):
        i = int(np.argmax(step == 0)) + 1
        raise DataError("duplicate time in the time index", time=times[i])
    if np.any(step < 0):
        i = int(np.argmax(step < 0)) + 1
        raise DataError("time index is not monotonic increasing", time=times[i])
    if freq is not None:
        expected = np.timedelta64(1, freq).astype("timedelta64[ns]").astype(np.int64)
        if np.any(step != expected):
            i = int(np.argmax(step != expected))
            raise DataError(
                f"time step is not 1 {freq}: next time is {str(times[i + 1])[:10]}",
                time=times[i],
            )


def _check_sentinels(ds: xr.Dataset, series: list[str]) -> None:
    for name in series:
        mask = ds[name].isin(SENTINELS)
        if bool(mask.any()):
            site, time = _first(mask)
            raise DataError(
                f"{int(mask.sum())} sentinel value(s) {SENTINELS} left unconverted: "
                "they mean 'missing' and must become NaN",
                variable=name,
                site=site,
                time=time,
            )


def _span(valid: np.ndarray, times: np.ndarray) -> str:
    idx = np.flatnonzero(valid)
    return f"{str(times[idx[0]])[:10]}..{str(times[idx[-1]])[:10]}"


def _any_finite(ds: xr.Dataset, names: list[str]) -> np.ndarray:
    """[time, site]: whether any of the series ``names`` is finite, one series at a time
    (no stacked copy of their values)."""
    found = np.zeros((ds.sizes["time"], ds.sizes["site"]), dtype=bool)
    for name in names:
        found |= np.isfinite(ds[name].transpose("time", "site").values)
    return found


def _check_overlap(ds: xr.Dataset, forcings: list[str], observations: list[str]) -> list[str]:
    warnings: list[str] = []
    if not forcings or not observations:
        return warnings
    times = ds["time"].values
    f_ok, o_ok = _any_finite(ds, forcings), _any_finite(ds, observations)
    for j, site in enumerate(ds["site"].values):
        f, o = f_ok[:, j], o_ok[:, j]
        if not o.any():
            warnings.append(f"site {site!r} has no observations")
            continue
        if f.any() and not (f & o).any():
            raise DataError(
                f"forcing period {_span(f, times)} and observation period "
                f"{_span(o, times)} do not overlap",
                site=str(site),
            )
    return warnings


def _check_forcings_finite(ds: xr.Dataset, forcings: list[str]) -> None:
    for name in forcings:
        bad = ~np.isfinite(ds[name])
        if bool(bad.any()):
            site, time = _first(bad)
            raise DataError(
                f"{int(bad.sum())} NaN/inf value(s) in a forcing; fill them with a named "
                "method (fill='linear' or 'climatology') or choose a period without gaps",
                variable=name,
                site=site,
                time=time,
            )


def _check_values(ds: xr.Dataset) -> None:
    for name in _NON_NEGATIVE:
        if name in ds.data_vars:
            negative = ds[name] < 0
            if bool(negative.any()):
                site, time = _first(negative)
                raise DataError(
                    f"{int(negative.sum())} negative value(s)", variable=name, site=site, time=time
                )
    for name in ("temperature", "temperature_min", "temperature_max"):
        if name in ds.data_vars:
            mean = float(ds[name].mean(skipna=True))
            if mean > 60.0:
                raise DataError(
                    f"mean {mean:.1f} degC is not plausible: the values look like kelvin",
                    variable=name,
                )
    for name, (low, high) in PLAUSIBLE.items():
        if name in ds.data_vars:
            out = (ds[name] < low) | (ds[name] > high)
            if bool(out.any()):
                site, time = _first(out)
                unit = STANDARD_UNITS[name]
                raise DataError(
                    f"{int(out.sum())} value(s) outside the plausible {low:g} .. {high:g} "
                    f"{unit}: is the column in {unit}?",
                    variable=name,
                    site=site,
                    time=time,
                )


def require_finite_attributes(ds: xr.Dataset, names: list[str], use: str) -> None:
    """Refuse a NaN or infinite value of any attribute in ``names`` (each [site]), which
    ``use`` (e.g. ``"model.parameters: attributes"``) feeds to a model at every site.

    Raises:
        DataError: naming the first such attribute and site, and how many sites lack it.
    """
    for name in names:
        bad = ~np.isfinite(ds[name].values.astype(float))
        if bad.any():
            site = str(ds["site"].values[int(np.argmax(bad))])
            raise DataError(
                f"attribute is NaN or inf ({int(bad.sum())} site(s) in all); {use} needs "
                "every attribute at every site: fill it, drop the attribute or the site",
                variable=name,
                site=site,
            )


def _check_attributes(ds: xr.Dataset, attributes: list[str]) -> list[str]:
    warnings: list[str] = []
    if not attributes:
        return warnings
    table = ds[attributes].to_array("attribute").transpose("site", "attribute")
    empty = ~np.isfinite(table).any("attribute")
    if bool(empty.any()):
        site = str(table["site"].values[int(np.argmax(empty.values))])
        raise DataError(
            "site has time series but no attribute values (site ids of time series and "
            "attributes do not match)",
            site=site,
        )
    for name in attributes:
        values = ds[name]
        bad = ~np.isfinite(values)
        if bool(bad.any()):
            site = str(values["site"].values[int(np.argmax(bad.values))])
            if name in REQUIRED_FINITE:
                raise DataError("attribute is NaN or inf", variable=name, site=site)
            warnings.append(f"attribute {name!r}: {int(bad.sum())} site(s) without a value")
        low, high = _RANGES.get(name, (-np.inf, np.inf))
        out = (values <= low) if name == "area" else (values < low)
        out = out | (values > high)
        if bool(out.any()):
            site = str(values["site"].values[int(np.argmax(out.values))])
            raise DataError(f"value outside ({low}, {high})", variable=name, site=site)
    return warnings


def _runoff_ratios(ds: xr.Dataset, max_ratio: float) -> dict[str, float]:
    if "streamflow" not in ds.data_vars or "precipitation" not in ds.data_vars:
        return {}
    q, p = ds["streamflow"], ds["precipitation"]
    both = np.isfinite(q) & np.isfinite(p)
    q_sum = q.where(both).sum("time").values
    p_sum = p.where(both).sum("time").values
    sites = [str(s) for s in ds["site"].values]
    ratios = {s: float(qs / ps) for s, qs, ps in zip(sites, q_sum, p_sum, strict=True) if ps > 0}
    for site, ratio in ratios.items():
        if ratio > max_ratio:
            raise DataError(
                f"runoff ratio {ratio:.1f} (streamflow / precipitation) is far above 1: "
                "streamflow is probably not in mm/day (ft3/s or m3/s given as mm/day?); "
                "declare its unit so the loader converts it with the basin area",
                variable="streamflow",
                site=site,
            )
    return ratios


def validate_dataset(
    ds: xr.Dataset, *, freq: str | None = "D", max_runoff_ratio: float = 2.0
) -> DataReport:
    """Check ``ds`` against the container contract and the data checks; return a report.

    Raises ``DataError`` on: missing dims, fewer than 2 time steps or no site, variables
    without ``units``/``role`` or with wrong dims, standard names in non-standard units,
    a time index with duplicates, out of order or (``freq="D"``) with missing days,
    sentinel values (-999) left in, forcing and observation periods that do not overlap,
    NaN/inf in forcings, negative precipitation, PET or streamflow, temperatures that look
    like kelvin, forcings outside :data:`PLAUSIBLE`, sites without attributes, NaN in
    ``area``/``latitude``/``longitude``/``elevation``, and a runoff ratio above
    ``max_runoff_ratio`` (streamflow in the wrong unit). NaN observations are allowed
    (masked) and their share is reported.
    """
    _check_structure(ds)
    _check_time(ds, freq)
    forcings, observations = variables(ds, "forcing"), variables(ds, "observation")
    attributes = variables(ds, "attribute")
    _check_sentinels(ds, forcings + observations)
    warnings = _check_overlap(ds, forcings, observations)
    _check_forcings_finite(ds, forcings)
    _check_values(ds)
    warnings += _check_attributes(ds, attributes)
    ratios = _runoff_ratios(ds, max_runoff_ratio)
    if "temperature_min" in ds.data_vars and "temperature_max" in ds.data_vars:
        swapped = int((ds["temperature_min"] > ds["temperature_max"]).sum())
        if swapped:
            warnings.append(f"temperature_min > temperature_max on {swapped} site-day(s)")
    missing = {n: float(np.isnan(ds[n]).mean()) for n in observations}
    by_site = {
        n: dict(
            zip(
                map(str, ds["site"].values),
                np.isnan(ds[n]).mean("time").values.tolist(),
                strict=True,
            )
        )
        for n in observations
    }
    filled = {n: int(ds[n].attrs["filled"]) for n in forcings if "filled" in ds[n].attrs}
    return DataReport(
        n_sites=ds.sizes["site"],
        n_times=ds.sizes["time"],
        start=str(ds["time"].values[0])[:10],
        end=str(ds["time"].values[-1])[:10],
        forcings=forcings,
        observations=observations,
        attributes=attributes,
        observation_missing=missing,
        observation_missing_by_site=by_site,
        filled=filled,
        runoff_ratio=ratios,
        warnings=warnings,
    )
