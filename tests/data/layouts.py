"""Writers of small CAMELS-US and Caravan folders in their published layouts, shared by
the loader tests and the CAMELS case-study test."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

DAYMET_HEADER = (
    "Year Mnth Day Hr\tdayl(s)\tprcp(mm/day)\tsrad(W/m2)\tswe(mm)\ttmax(C)\ttmin(C)\tvp(Pa)"
)
MAURER_HEADER = (
    "Year Mnth Day Hr\tDayl(s)\tPRCP(mm/day)\tSRAD(W/m2)\tSWE(mm)\tTmax(C)\tTmin(C)\tVp(Pa)"
)
GAUGES = {"01013500": ("01", 47.24, 2252.7), "03015500": ("03", 41.6, 118.0)}  # huc, lat, km2


def write_forcing(
    root: Path,
    source: str,
    tag: str,
    gauge: str,
    days: pd.DatetimeIndex,
    *,
    header: str = DAYMET_HEADER,
    gauges: dict = GAUGES,
    weather: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Path:
    """``basin_mean_forcing/<source>/<huc>/<gauge>_lump_<tag>_forcing_leap.txt``;
    ``weather`` = (prcp [mm/day], tmax, tmin [degC]) per day, by default a ramp."""
    huc, lat, area = gauges[gauge]
    folder = root / "basin_mean_forcing" / source / huc
    folder.mkdir(parents=True, exist_ok=True)
    if weather is None:
        i = np.arange(len(days))
        weather = (2.0 * (i % 3), 5.0 + i, -3.0 + i)
    lines = [f"{lat}", "250", f"{area * 1e6:.0f}", header]
    for day, prcp, tmax, tmin in zip(days, *weather, strict=True):
        lines.append(
            f"{day:%Y %m %d} 12\t30000.0\t{prcp:.2f}\t150.0\t0.00\t{tmax:.2f}\t{tmin:.2f}\t400.0"
        )
    path = folder / f"{gauge}_lump_{tag}_forcing_leap.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_streamflow(root: Path, gauge: str, days, flows, flags, *, gauges: dict = GAUGES) -> Path:
    """``usgs_streamflow/<huc>/<gauge>_streamflow_qc.txt``: flows [ft3/s] and QC flags."""
    folder = root / "usgs_streamflow" / gauges[gauge][0]
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        f"{gauge} {d:%Y %m %d} {q:8.2f} {f}" for d, q, f in zip(days, flows, flags, strict=True)
    ]
    path = folder / f"{gauge}_streamflow_qc.txt"
    path.write_text("\n".join(rows) + "\n")
    return path


def write_attributes(root: Path, names: Sequence[str], *, gauges: dict = GAUGES) -> Path:
    """``camels_attributes_v2.0/camels_topo.txt`` and ``camels_clim.txt`` for ``names``;
    ``p_mean`` and ``aridity`` differ from gauge to gauge, ``high_prec_timing`` is text."""
    folder = root / "camels_attributes_v2.0"
    folder.mkdir(parents=True, exist_ok=True)
    topo = ["gauge_id;gauge_lat;gauge_lon;elev_mean;slope_mean;area_gages2"]
    clim = ["gauge_id;p_mean;aridity;high_prec_timing"]
    for k, g in enumerate(names):
        topo.append(f"{g};{gauges[g][1]};-68.58;{250.31 + 40 * k};21.64;{gauges[g][2]}")
        clim.append(f"{g};{3.13 - 0.2 * k:.2f};{0.63 + 0.1 * k:.2f};son")
    (folder / "camels_topo.txt").write_text("\n".join(topo) + "\n")
    (folder / "camels_clim.txt").write_text("\n".join(clim) + "\n")
    return folder


CARAVAN_SITES = ["camels_01022500", "lamah_212"]


def caravan_series(n: int, offset: float) -> pd.DataFrame:
    """A Caravan time series of ``n`` days from 2000-01-01 (the first streamflow missing)."""
    days = pd.date_range("2000-01-01", periods=n, freq="D")
    return pd.DataFrame(
        {
            "date": days,
            "total_precipitation_sum": np.where(np.arange(n) % 2 == 0, 4.0 + offset, 0.0),
            "temperature_2m_mean": np.linspace(0.0, 10.0, n) + offset,
            "temperature_2m_min": np.linspace(-4.0, 6.0, n) + offset,
            "temperature_2m_max": np.linspace(4.0, 14.0, n) + offset,
            "potential_evaporation_sum": np.full(n, 1.2),
            "surface_pressure_mean": np.full(n, 98.0),
            "streamflow": np.r_[np.nan, np.full(n - 1, 0.8)],
        }
    )


def write_caravan(root: Path, n: int = 20, sites: Sequence[str] = CARAVAN_SITES) -> Path:
    """``timeseries/csv``, ``timeseries/netcdf`` and ``attributes`` of ``sites``."""
    tables: dict[tuple[str, str], list[dict]] = {}
    for k, site in enumerate(sites):
        source = site.split("_")[0]
        frame = caravan_series(n, float(k))
        csv = root / "timeseries" / "csv" / source
        nc = root / "timeseries" / "netcdf" / source
        csv.mkdir(parents=True, exist_ok=True)
        nc.mkdir(parents=True, exist_ok=True)
        out = frame.copy()
        out["date"] = out["date"].dt.strftime("%Y-%m-%d")
        out.to_csv(csv / f"{site}.csv", index=False)
        ds = frame.set_index("date").to_xarray()
        ds["streamflow"].attrs["units"] = "mm/d"
        ds.to_netcdf(nc / f"{site}.nc")
        other = {"gauge_id": site, "gauge_name": "X", "gauge_lat": 47.0 + k, "gauge_lon": 10.0}
        rows = {
            "other": {**other, "country": "Y", "area": 250.0 + k},
            "caravan": {"gauge_id": site, "p_mean": 2.0 + 0.1 * k, "aridity": 0.8},
            "hydroatlas": {"gauge_id": site, "ele_mt_sav": 500.0 + k},
        }
        for table, row in rows.items():
            tables.setdefault((source, table), []).append(row)
    for (source, table), rows in tables.items():
        folder = root / "attributes" / source
        folder.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(folder / f"attributes_{table}_{source}.csv", index=False)
    return root


#: Columns of the published CAMELS-US attribute tables (Addor et al. 2017), ``gauge_id``
#: first; text columns are marked ``:text``.
CAMELS_TABLES = {
    "clim": "p_mean pet_mean p_seasonality frac_snow aridity high_prec_freq high_prec_dur "
    "high_prec_timing:text low_prec_freq low_prec_dur low_prec_timing:text",
    "geol": "geol_1st_class:text glim_1st_class_frac geol_2nd_class:text glim_2nd_class_frac "
    "carbonate_rocks_frac geol_porostiy geol_permeability",
    "topo": "gauge_lat gauge_lon elev_mean slope_mean area_gages2 area_geospa_fabric",
    "vege": "frac_forest lai_max lai_diff gvf_max gvf_diff dom_land_cover_frac "
    "dom_land_cover:text root_depth_50 root_depth_99",
    "soil": "soil_depth_pelletier soil_depth_statsgo soil_porosity soil_conductivity "
    "max_water_content sand_frac silt_frac clay_frac water_frac organic_frac other_frac",
}


def write_camels_tables(
    folder: Path, gauges: dict, rng: np.random.Generator, *, blank: tuple[str, str] | None = None
) -> Path:
    """Every table of :data:`CAMELS_TABLES` in ``folder`` with random positive numbers
    (latitude and area from ``gauges``); ``blank`` = (gauge, column) is left empty."""
    folder.mkdir(parents=True, exist_ok=True)
    for table, header in CAMELS_TABLES.items():
        columns = [c.split(":") for c in header.split()]
        lines = [";".join(["gauge_id", *(c[0] for c in columns)])]
        for gauge, (_, lat, area) in gauges.items():
            given = {"gauge_lat": lat, "gauge_lon": -90.0, "area_gages2": area}
            cells = []
            for name, *kind in columns:
                value = "text" if kind else f"{given.get(name, rng.uniform(0.1, 1.0)):.4f}"
                cells.append("" if blank == (gauge, name) else value)
            lines.append(";".join([gauge, *cells]))
        (folder / f"camels_{table}.txt").write_text("\n".join(lines) + "\n")
    return folder
