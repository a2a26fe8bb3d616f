"""validate_dataset: the container contract and the data checks, one bad input per test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from discover.data import DataError, fill_gaps, validate_dataset


def test_valid_container_gives_report(container):
    ds = container(n_sites=3, n_days=40)
    report = validate_dataset(ds)
    assert (report.n_sites, report.n_times) == (3, 40)
    assert report.forcings == ["precipitation", "temperature", "pet"]
    assert report.observations == ["streamflow"]
    assert report.attributes == ["area", "latitude", "forest"]
    assert report.observation_missing == {"streamflow": 0.0}
    expected = float(ds["streamflow"].sum("time")[0] / ds["precipitation"].sum("time")[0])
    assert report.runoff_ratio["s0"] == pytest.approx(expected)
    assert "3 site(s) x 40 day(s)" in str(report)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_forcing_names_variable_site_time(container, bad):
    ds = container()
    ds["temperature"][5, 1] = bad
    with pytest.raises(DataError, match="NaN/inf") as info:
        validate_dataset(ds)
    err = info.value
    assert (err.variable, err.site, str(err.time)[:10]) == ("temperature", "s1", "2001-01-06")
    assert "'temperature'" in str(err) and "'s1'" in str(err) and "2001-01-06" in str(err)


def test_nan_forcing_passes_after_named_fill(container):
    ds = container()
    ds["precipitation"][[3, 4, 10], 0] = np.nan
    report = validate_dataset(fill_gaps(ds, "linear"))
    assert report.filled == {"precipitation": 3}
    assert "precipitation: 3 value(s) filled" in str(report)


def test_nan_observations_are_masked_and_their_share_reported(container):
    ds = container(n_sites=2, n_days=50)
    ds["streamflow"][:5, 0] = np.nan
    report = validate_dataset(ds)
    assert report.observation_missing["streamflow"] == pytest.approx(5 / 100)
    assert report.observation_missing_by_site["streamflow"] == {"s0": 0.1, "s1": 0.0}
    assert np.isnan(ds["streamflow"][0, 0])  # left as NaN (masked), not filled


@pytest.mark.parametrize("name", ["precipitation", "pet"])
def test_negative_precipitation_or_pet(container, name):
    ds = container()
    ds[name][7, 0] = -0.5
    with pytest.raises(DataError, match="negative") as info:
        validate_dataset(ds)
    assert (info.value.variable, info.value.site) == (name, "s0")
    assert str(info.value.time)[:10] == "2001-01-08"


@pytest.mark.parametrize("name", ["streamflow", "temperature"])
def test_unconverted_sentinel(container, name):
    ds = container()
    ds[name][2:4, 1] = -999.0
    with pytest.raises(DataError, match="sentinel") as info:
        validate_dataset(ds)
    assert (info.value.variable, info.value.site) == (name, "s1")
    assert "2 sentinel" in str(info.value)


def _with_time(ds: xr.Dataset, times: list[str]) -> xr.Dataset:
    return ds.isel(time=slice(0, len(times))).assign_coords(time=pd.to_datetime(times))


def test_time_not_monotonic(container):
    ds = _with_time(container(), ["2001-01-01", "2001-01-03", "2001-01-02", "2001-01-04"])
    with pytest.raises(DataError, match="not monotonic") as info:
        validate_dataset(ds)
    assert str(info.value.time)[:10] == "2001-01-02"


def test_time_with_duplicates(container):
    ds = _with_time(container(), ["2001-01-01", "2001-01-02", "2001-01-02", "2001-01-03"])
    with pytest.raises(DataError, match="duplicate time") as info:
        validate_dataset(ds)
    assert str(info.value.time)[:10] == "2001-01-02"


def test_missing_day_in_daily_index(container):
    ds = _with_time(container(), ["2001-01-01", "2001-01-02", "2001-01-05", "2001-01-06"])
    with pytest.raises(DataError, match="not 1 D"):
        validate_dataset(ds)
    assert validate_dataset(ds, freq=None).n_times == 4


def test_forcing_and_observation_periods_do_not_overlap(container):
    ds = container(n_days=40)
    for name in ("precipitation", "temperature", "pet"):
        ds[name][20:, 0] = np.nan
    ds["streamflow"][:20, 0] = np.nan
    with pytest.raises(DataError, match="do not overlap") as info:
        validate_dataset(ds)
    assert info.value.site == "s0"
    assert "2001-01-01..2001-01-20" in str(info.value)
    assert "2001-01-21..2001-02-09" in str(info.value)


def test_site_without_attributes(container):
    ds = container(n_sites=3)
    for name in ("area", "latitude", "forest"):
        ds[name][2] = np.nan
    with pytest.raises(DataError, match="no attribute values") as info:
        validate_dataset(ds)
    assert info.value.site == "s2"


def test_nan_in_a_required_attribute_is_an_error_in_others_a_warning(container):
    ds = container()
    ds["forest"][0] = np.nan
    assert "attribute 'forest': 1 site(s) without a value" in validate_dataset(ds).warnings
    ds["area"][1] = np.nan
    with pytest.raises(DataError, match="NaN or inf") as info:
        validate_dataset(ds)
    assert (info.value.variable, info.value.site) == ("area", "s1")


def test_streamflow_in_cfs_labelled_mm_per_day_is_caught_by_runoff_ratio(container):
    ds = container()
    area = ds["area"].values
    ds["streamflow"] = ds["streamflow"] * (area / 2.446575545)  # mm/day -> ft3/s values
    ds["streamflow"].attrs = {"units": "mm/day", "role": "observation"}
    with pytest.raises(DataError, match="runoff ratio .* far above 1") as info:
        validate_dataset(ds)
    assert info.value.variable == "streamflow"


def test_temperature_in_kelvin(container):
    ds = container()
    ds["temperature"] = ds["temperature"] + 273.15
    ds["temperature"].attrs = {"units": "degC", "role": "forcing"}
    with pytest.raises(DataError, match="kelvin"):
        validate_dataset(ds)


@pytest.mark.parametrize("n_days", [0, 1])
def test_empty_or_one_row(container, n_days):
    ds = container().isel(time=slice(0, n_days))
    with pytest.raises(DataError, match="empty or one-row"):
        validate_dataset(ds)


def test_no_sites(container):
    with pytest.raises(DataError, match="no sites"):
        validate_dataset(container().isel(site=slice(0, 0)))


def test_contract_attrs_units_role_and_dims(container):
    ds = container()
    del ds["pet"].attrs["units"]
    with pytest.raises(DataError, match="missing attrs\\['units'\\]"):
        validate_dataset(ds)
    ds = container()
    ds["pet"].attrs["role"] = "input"
    with pytest.raises(DataError, match="role"):
        validate_dataset(ds)
    ds = container()
    ds["pet"].attrs["units"] = "mm/d"
    with pytest.raises(DataError, match="needs 'mm/day'"):
        validate_dataset(ds)
    ds = container()
    ds["forest"] = ds["forest"].expand_dims(time=ds["time"])
    with pytest.raises(DataError, match="needs dims \\('site',\\)"):
        validate_dataset(ds)


def test_site_ids_must_be_unique_strings(container):
    ds = container().assign_coords(site=["a", "a"])
    with pytest.raises(DataError, match="duplicate site id"):
        validate_dataset(ds)
    with pytest.raises(DataError, match="strings"):
        validate_dataset(container().assign_coords(site=[1, 2]))


def test_min_above_max_is_a_warning(container):
    ds = container()
    ds["temperature_min"] = ds["temperature"] - 2
    ds["temperature_max"] = ds["temperature"] + 2
    for name in ("temperature_min", "temperature_max"):
        ds[name].attrs = {"units": "degC", "role": "forcing"}
    ds["temperature_min"][0, 0] = 50.0
    assert "temperature_min > temperature_max on 1 site-day(s)" in validate_dataset(ds).warnings
