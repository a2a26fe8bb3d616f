"""Caravan loader on small CSV and NetCDF files written in the published layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from discover.data import DataError, load_caravan, validate_dataset

SITES = ["camels_01022500", "lamah_212"]


def _series(n: int, offset: float) -> pd.DataFrame:
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


def _layout(root: Path, n: int = 20) -> Path:
    for k, site in enumerate(SITES):
        source = site.split("_")[0]
        frame = _series(n, float(k))
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
        attrs = root / "attributes" / source
        attrs.mkdir(parents=True, exist_ok=True)
        other = {"gauge_id": site, "gauge_name": "X", "gauge_lat": 47.0 + k, "gauge_lon": 10.0}
        pd.DataFrame([{**other, "country": "Y", "area": 250.0 + k}]).to_csv(
            attrs / f"attributes_other_{source}.csv", index=False
        )
        pd.DataFrame([{"gauge_id": site, "p_mean": 2.0, "aridity": 0.8}]).to_csv(
            attrs / f"attributes_caravan_{source}.csv", index=False
        )
        pd.DataFrame([{"gauge_id": site, "ele_mt_sav": 500.0 + k}]).to_csv(
            attrs / f"attributes_hydroatlas_{source}.csv", index=False
        )
    return root


def test_csv_and_netcdf_give_the_same_dataset(tmp_path):
    root = _layout(tmp_path)
    from_csv = load_caravan(root, SITES, fmt="csv")
    from_nc = load_caravan(root, SITES, fmt="netcdf")
    xr.testing.assert_allclose(from_csv.drop_attrs(), from_nc.drop_attrs())
    assert list(from_csv["site"].values) == SITES
    assert from_csv["precipitation"].sel(site="lamah_212")[0] == pytest.approx(5.0)
    assert float(from_csv["latitude"].sel(site="lamah_212")) == 48.0
    assert float(from_csv["elevation"].sel(site="camels_01022500")) == 500.0
    assert from_csv["area"].attrs == {"units": "km2", "role": "attribute"}
    assert "gauge_name" not in from_csv and "country" not in from_csv
    assert "surface_pressure_mean" not in from_csv  # not asked for
    report = validate_dataset(from_csv)
    assert report.observation_missing["streamflow"] == pytest.approx(1 / 20)


def test_extra_variables_are_loaded_with_their_unit(tmp_path):
    root = _layout(tmp_path)
    variables = {
        "total_precipitation_sum": ("precipitation", "mm/day"),
        "surface_pressure_mean": ("surface_pressure", "kPa"),
        "streamflow": ("streamflow", "mm/day"),
    }
    ds = load_caravan(root, SITES[:1], variables=variables)
    assert ds["surface_pressure"].attrs == {"units": "kPa", "role": "forcing"}


def test_negative_pet_names_the_file(tmp_path):
    root = _layout(tmp_path)
    path = root / "timeseries" / "csv" / "lamah" / "lamah_212.csv"
    frame = pd.read_csv(path)
    frame.loc[6, "potential_evaporation_sum"] = -0.3
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="negative") as info:
        load_caravan(root, SITES)
    err = info.value
    assert (err.file, err.variable, err.site) == (str(path), "pet", "lamah_212")
    assert str(err.time)[:10] == "2000-01-07"


def test_gauge_without_attributes(tmp_path):
    root = _layout(tmp_path)
    with pytest.raises(DataError, match="not in the attribute tables: \\['camels_09999999'\\]"):
        load_caravan(root, ["camels_01022500", "camels_09999999"])


def test_missing_timeseries_file_and_bad_format(tmp_path):
    root = _layout(tmp_path)
    (root / "timeseries" / "netcdf" / "lamah" / "lamah_212.nc").unlink()
    with pytest.raises(DataError, match="file not found"):
        load_caravan(root, SITES, fmt="netcdf")
    with pytest.raises(DataError, match="fmt must be"):
        load_caravan(root, SITES, fmt="parquet")


def test_one_row_file(tmp_path):
    root = _layout(tmp_path, n=1)
    with pytest.raises(DataError, match="one-row data"):
        load_caravan(root, SITES)


def test_periods_without_overlap_in_one_file(tmp_path):
    root = _layout(tmp_path)
    path = root / "timeseries" / "csv" / "camels" / "camels_01022500.csv"
    frame = pd.read_csv(path)
    forcings = [c for c in frame.columns if c not in ("date", "streamflow")]
    frame.loc[10:, forcings] = np.nan
    frame.loc[:9, "streamflow"] = np.nan
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="do not overlap") as info:
        load_caravan(root, SITES)
    assert (info.value.file, info.value.site) == (str(path), "camels_01022500")
