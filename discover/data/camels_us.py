"""CAMELS-US (Newman et al. 2015; Addor et al. 2017) in its published directory layout.

Layout followed (``basin_dataset_public_v1p2`` plus the attribute tables)::

    ROOT/basin_mean_forcing/<forcing>/<huc2>/<gauge>_lump_<tag>_forcing_leap.txt
    ROOT/usgs_streamflow/<huc2>/<gauge>_streamflow_qc.txt
    ATTRIBUTES/camels_<topic>.txt          (topo, clim, hydro, soil, vege, geol, name)

``<forcing>`` is ``daymet`` (files tagged ``cida``), ``maurer`` or ``nldas``
(``maurer_extended``/``nldas_extended`` in later releases work the same way). A forcing
file starts with three lines: gauge latitude [deg], mean elevation [m], basin area [m2];
then the header ``Year Mnth Day Hr dayl(s) prcp(mm/day) srad(W/m2) swe(mm) tmax(C)
tmin(C) vp(Pa)`` (capitalised in maurer/nldas, and incomplete in a few maurer files,
so columns are read by position) and whitespace-separated daily rows. A streamflow file
has rows ``gauge year month day flow(ft3/s) flag`` with flag ``A`` (approved), ``A:e``
(approved, estimated) or ``M`` (missing, flow ``-999``). Attribute tables are ``;``
separated and keyed by ``gauge_id``; ``ATTRIBUTES`` defaults to
``ROOT/camels_attributes_v2.0`` or ``ROOT`` itself when it holds ``camels_*.txt``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from discover.data.assemble import SiteSeries, assemble, standardize, standardize_attributes
from discover.data.container import DataError
from discover.data.units import convert

FORCING_COLUMNS = (
    "year", "mnth", "day", "hr", "dayl(s)", "prcp(mm/day)", "srad(w/m2)", "swe(mm)",
    "tmax(c)", "tmin(c)", "vp(pa)",
)  # fmt: skip
#: Forcing-file column -> (name in the container, unit in the file).
FORCING_VARIABLES = {
    "prcp(mm/day)": ("precipitation", "mm/day"),
    "tmax(c)": ("temperature_max", "degC"),
    "tmin(c)": ("temperature_min", "degC"),
    "dayl(s)": ("daylength", "s"),
    "srad(w/m2)": ("radiation", "W/m2"),
    "swe(mm)": ("swe", "mm"),
    "vp(pa)": ("vapour_pressure", "Pa"),
}
#: Units of CAMELS attribute-table columns (Addor et al. 2017); others are "unknown".
ATTRIBUTE_UNITS = {
    "gauge_lat": "degrees_north",
    "longitude": "degrees_east",
    "elev_mean": "m",
    "slope_mean": "m/km",
    "area_gages2": "km2",
    "area_geospa_fabric": "km2",
    "p_mean": "mm/day",
    "pet_mean": "mm/day",
    "aridity": "1",
    "frac_snow": "1",
    "q_mean": "mm/day",
    "runoff_ratio": "1",
    "baseflow_index": "1",
    "frac_forest": "1",
    "soil_depth_pelletier": "m",
    "soil_depth_statsgo": "m",
    "soil_porosity": "1",
    "max_water_content": "m",
    "sand_frac": "percent",
    "silt_frac": "percent",
    "clay_frac": "percent",
    "carbonate_rocks_frac": "1",
    "geol_permeability": "log10(m2)",
}
QC_FLAGS = ("A", "A:e", "M")


def read_forcing_file(path: Path) -> tuple[pd.DataFrame, dict[str, float]]:
    """Read one forcing file: a daily frame (file columns, lower case) and its header
    values ``{"latitude": deg, "elevation": m, "area": m2}``."""
    source = str(path)
    with open(path, encoding="utf-8", errors="replace") as handle:
        head = [handle.readline() for _ in range(4)]
    try:
        header = {
            k: float(v) for k, v in zip(("latitude", "elevation", "area"), head, strict=False)
        }
    except ValueError:
        raise DataError(
            "first three lines must be latitude, elevation, area", file=source
        ) from None
    tokens = [t.lower() for t in head[3].split()]
    if len(tokens) == len(FORCING_COLUMNS) and tuple(tokens) != FORCING_COLUMNS:
        raise DataError(f"unexpected header {head[3].strip()!r}", file=source)
    try:
        frame = pd.read_csv(path, sep=r"\s+", skiprows=4, header=None)
    except pd.errors.EmptyDataError:
        raise DataError("empty data: no rows", file=source) from None
    if frame.shape[1] != len(FORCING_COLUMNS):
        raise DataError(f"{frame.shape[1]} columns, expected {len(FORCING_COLUMNS)}", file=source)
    frame.columns = list(FORCING_COLUMNS)
    time = pd.to_datetime(
        pd.DataFrame({"year": frame["year"], "month": frame["mnth"], "day": frame["day"]}),
        errors="coerce",
    )
    return frame.set_index(pd.DatetimeIndex(time, name="time")), header


def read_streamflow_file(path: Path, gauge: str, *, drop_estimated: bool = False) -> pd.DataFrame:
    """Read one USGS streamflow file into a daily frame with column ``flow`` [ft3/s];
    ``-999`` and flag ``M`` become NaN, and ``A:e`` too if ``drop_estimated``."""
    source = str(path)
    names = ["gauge", "year", "month", "day", "flow", "flag"]
    try:
        frame = pd.read_csv(path, sep=r"\s+", header=None, names=names, dtype={"gauge": str})
    except pd.errors.EmptyDataError:
        raise DataError("empty data: no rows", file=source) from None
    other = frame.loc[frame["gauge"].str.zfill(8) != gauge.zfill(8), "gauge"]
    if len(other):
        raise DataError(
            f"rows of gauge {other.iloc[0]!r} in the file of gauge {gauge!r}", file=source
        )
    unknown = sorted(set(frame["flag"].dropna()) - set(QC_FLAGS))
    if unknown:
        raise DataError(f"unknown quality flag(s) {unknown}; expected {QC_FLAGS}", file=source)
    masked = (frame["flow"] == -999) | (frame["flag"] == "M")
    if drop_estimated:
        masked |= frame["flag"] == "A:e"
    flow = frame["flow"].astype(float).where(~masked)
    time = pd.to_datetime(frame[["year", "month", "day"]], errors="coerce")
    return pd.DataFrame({"flow": flow.to_numpy()}, index=pd.DatetimeIndex(time, name="time"))


def _find(root: Path, pattern: str, what: str) -> Path:
    matches = sorted(root.glob(pattern))
    if not matches:
        raise DataError(f"no {what} matching {pattern}", file=str(root))
    if len(matches) > 1:
        raise DataError(f"several {what} files: {[str(m) for m in matches]}", file=str(root))
    return matches[0]


def read_attribute_tables(directory: Path) -> pd.DataFrame:
    """All ``camels_*.txt`` tables of ``directory`` joined on ``gauge_id`` (text ids)."""
    tables = []
    for path in sorted(directory.glob("camels_*.txt")):
        table = pd.read_csv(path, sep=";", dtype=str, encoding_errors="replace")
        if "gauge_id" not in table.columns:
            raise DataError("no 'gauge_id' column", file=str(path))
        table = table.set_index(table["gauge_id"].str.strip().str.zfill(8)).drop(columns="gauge_id")
        if table.index.duplicated().any():
            dup = table.index[table.index.duplicated()][0]
            raise DataError(f"gauge_id {dup!r} listed twice", file=str(path))
        tables.append(table)
    if not tables:
        raise DataError("no camels_*.txt attribute tables", file=str(directory))
    return pd.concat(tables, axis=1, join="outer").rename(columns={"gauge_lon": "longitude"})


def _attribute_dir(root: Path, attributes_dir: str | Path | None) -> Path | None:
    if attributes_dir is not None:
        return Path(attributes_dir)
    for candidate in (root / "camels_attributes_v2.0", root):
        if any(candidate.glob("camels_*.txt")):
            return candidate
    return None


def load_camels_us(
    root: str | Path,
    sites: Sequence[str] | None = None,
    *,
    forcing: str = "daymet",
    attributes_dir: str | Path | None = None,
    drop_estimated: bool = False,
    pet: str | None = "oudin",
    fill: str | None = None,
) -> xr.Dataset:
    """Load CAMELS-US gauges (all gauges with forcing files when ``sites`` is None).

    Forcings: ``precipitation`` [mm/day], ``temperature_min``/``temperature_max``
    [degC], ``temperature`` = their mean [degC], ``daylength`` [s], ``radiation`` [W/m2],
    ``swe`` [mm], ``vapour_pressure`` [Pa], and ``pet`` [mm/day] from ``pyet``
    (``pet="oudin"``/``"hargreaves"``; None leaves it out). Observation ``streamflow``
    [mm/day] = flow [ft3/s] converted with the forcing-file area. Attributes ``latitude``,
    ``elevation``, ``area`` [km2] from the forcing-file header, plus the numeric columns
    of the attribute tables (``gauge_lon`` renamed ``longitude``).
    """
    root = Path(root)
    forcing_root = root / "basin_mean_forcing" / forcing
    if not forcing_root.is_dir():
        raise DataError(f"no forcing folder for {forcing!r}", file=str(forcing_root))
    subset = sites is not None
    if sites is None:
        found = forcing_root.glob("*/*_lump_*_forcing_leap.txt")
        sites = sorted({p.name.split("_")[0] for p in found})
    series, headers, units = [], {}, {}
    for gauge in sites:
        parts, headers[gauge], units = _gauge_series(root, forcing_root, gauge, drop_estimated)
        series += parts
    head = pd.DataFrame.from_dict(headers, orient="index")
    table, table_units = standardize_attributes(head, {"area": "m2"})
    source = str(forcing_root)
    folder = _attribute_dir(root, attributes_dir)
    if folder is not None:
        extra = read_attribute_tables(folder)
        table = _join_attributes(table, extra, str(folder), subset=subset)
        table_units.update({c: ATTRIBUTE_UNITS.get(c, "unknown") for c in extra.columns})
        source = str(folder)
    return assemble(
        series,
        units,
        attributes=table,
        attribute_units=table_units,
        attribute_source=source,
        fill=fill,
        pet=pet,
        description=f"CAMELS-US {forcing}: {root}",
    )


def _gauge_series(
    root: Path, forcing_root: Path, gauge: str, drop_estimated: bool
) -> tuple[list[SiteSeries], dict[str, float], dict[str, str]]:
    """One gauge's forcings (with ``temperature``, the mean of min and max) and streamflow
    [mm/day] as two series, its forcing-file header and ``{name: unit}``."""
    path = _find(forcing_root, f"*/{gauge}_lump_*_forcing_leap.txt", f"forcing for {gauge}")
    raw, header = read_forcing_file(path)
    frame, units = standardize(raw, FORCING_VARIABLES, source=str(path))
    frame.insert(0, "temperature", (frame["temperature_min"] + frame["temperature_max"]) / 2)
    units = {"temperature": "degC", **units}
    q_path = _find(
        root / "usgs_streamflow", f"*/{gauge}_streamflow_qc.txt", f"streamflow for {gauge}"
    )
    flow = read_streamflow_file(q_path, gauge, drop_estimated=drop_estimated)
    area_km2 = float(convert(np.array(header["area"]), "m2", "km2"))
    q, q_units = standardize(
        flow, {"flow": ("streamflow", "ft3/s")}, area_km2=area_km2, source=str(q_path)
    )
    units.update(q_units)
    return [SiteSeries(gauge, frame, str(path)), SiteSeries(gauge, q, str(q_path))], header, units


def _join_attributes(
    header: pd.DataFrame, tables: pd.DataFrame, source: str, *, subset: bool
) -> pd.DataFrame:
    """Header attributes joined with the tables; every gauge must be in the tables, and
    (unless a subset of gauges was asked for) every gauge of the tables must have data."""
    missing = sorted(set(header.index) - set(tables.index))
    if missing:
        raise DataError(
            f"site ids with time series but not in the attribute tables: {missing}", file=source
        )
    surplus = sorted(set(tables.index) - set(header.index))
    if surplus and not subset:
        raise DataError(
            f"site ids in the attribute tables without time series: {surplus}", file=source
        )
    return header.join(tables, how="left")
