"""Caravan loader on small CSV and NetCDF files written in the published layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from discover.data import DataError, load_caravan, validate_dataset
from tests.data.layouts import CARAVAN_SITES, write_caravan

SITES = CARAVAN_SITES


def test_csv_and_netcdf_give_the_same_dataset(tmp_path):
    root = write_caravan(tmp_path)
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
    root = write_caravan(tmp_path)
    variables = {
        "total_precipitation_sum": ("precipitation", "mm/day"),
        "surface_pressure_mean": ("surface_pressure", "kPa"),
        "streamflow": ("streamflow", "mm/day"),
    }
    ds = load_caravan(root, SITES[:1], variables=variables)
    assert ds["surface_pressure"].attrs == {"units": "kPa", "role": "forcing"}


def test_negative_pet_names_the_file(tmp_path):
    root = write_caravan(tmp_path)
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
    root = write_caravan(tmp_path)
    with pytest.raises(DataError, match="not in the attribute tables: \\['camels_09999999'\\]"):
        load_caravan(root, ["camels_01022500", "camels_09999999"])


def test_missing_timeseries_file_and_bad_format(tmp_path):
    root = write_caravan(tmp_path)
    (root / "timeseries" / "netcdf" / "lamah" / "lamah_212.nc").unlink()
    with pytest.raises(DataError, match="file not found"):
        load_caravan(root, SITES, fmt="netcdf")
    with pytest.raises(DataError, match="fmt must be"):
        load_caravan(root, SITES, fmt="parquet")


def test_one_row_file(tmp_path):
    root = write_caravan(tmp_path, n=1)
    with pytest.raises(DataError, match="one-row data"):
        load_caravan(root, SITES)


def test_periods_without_overlap_in_one_file(tmp_path):
    root = write_caravan(tmp_path)
    path = root / "timeseries" / "csv" / "camels" / "camels_01022500.csv"
    frame = pd.read_csv(path)
    forcings = [c for c in frame.columns if c not in ("date", "streamflow")]
    frame.loc[10:, forcings] = np.nan
    frame.loc[:9, "streamflow"] = np.nan
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="do not overlap") as info:
        load_caravan(root, SITES)
    assert (info.value.file, info.value.site) == (str(path), "camels_01022500")
