"""Plain CSV and NetCDF loaders: files written into tmp_path and loaded back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from discover.data import DataError, load_csv, load_netcdf, validate_dataset

COLUMNS = {
    "P": ("precipitation", "mm/day"),
    "T": ("temperature", "degC"),
    "E": ("pet", "mm/day"),
    "Q": ("streamflow", "m3/s"),
}


def _wide(path: Path, n: int = 10, **changes) -> Path:
    frame = pd.DataFrame(
        {
            "time": pd.date_range("2010-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "P": np.linspace(0.0, 9.0, n),
            "T": np.linspace(-2.0, 7.0, n),
            "E": np.full(n, 1.5),
            "Q": np.full(n, 0.5),
        }
    )
    for column, (row, value) in changes.items():
        frame.loc[row, column] = value
    frame.to_csv(path, index=False)
    return path


def _attributes(path: Path, sites: list[str], area: float = 43.2) -> Path:
    pd.DataFrame({"site": sites, "area": area, "latitude": 45.0}).to_csv(path, index=False)
    return path


def test_wide_csv_converts_streamflow_with_area(tmp_path):
    path = _wide(tmp_path / "gauge.csv")
    ds = load_csv(path, COLUMNS, site="g1", attributes=_attributes(tmp_path / "a.csv", ["g1"]))
    assert list(ds["site"].values) == ["g1"]
    # 0.5 m3/s over 43.2 km2 = 0.5 * 86.4 / 43.2 = 1.0 mm/day
    np.testing.assert_allclose(ds["streamflow"].values, 1.0)
    assert ds["streamflow"].attrs == {"units": "mm/day", "role": "observation"}
    assert ds["area"].attrs == {"units": "km2", "role": "attribute"}
    np.testing.assert_allclose(ds["precipitation"][:, 0], np.linspace(0.0, 9.0, 10))


def test_long_csv_with_site_column_and_attribute_units(tmp_path):
    rows = []
    for site, q in (("001", 1.0), ("002", 2.0)):
        for day in pd.date_range("2010-01-01", periods=5):
            rows.append({"date": day.strftime("%Y-%m-%d"), "id": site, "P": 4.0, "Q": q})
    pd.DataFrame(rows).to_csv(tmp_path / "long.csv", index=False)
    attributes = pd.DataFrame({"area": [86.4e6, 172.8e6]}, index=["001", "002"])
    ds = load_csv(
        tmp_path / "long.csv",
        {"P": ("precipitation", "mm"), "Q": ("streamflow", "m3/s")},
        time_column="date",
        site_column="id",
        attributes=attributes,
        attribute_units={"area": "m2"},
    )
    assert list(ds["site"].values) == ["001", "002"]  # ids stay text (leading zeros)
    np.testing.assert_allclose(ds["area"].values, [86.4, 172.8])
    np.testing.assert_allclose(ds["streamflow"][0].values, [1.0, 1.0])


def test_site_ids_of_series_and_attributes_must_match(tmp_path):
    path = _wide(tmp_path / "gauge.csv")
    attributes = _attributes(tmp_path / "attrs.csv", ["other"])
    with pytest.raises(DataError, match="not in the attribute table: \\['g1'\\]") as info:
        load_csv(path, COLUMNS, site="g1", attributes=attributes)
    assert info.value.file == str(attributes)


def test_nan_forcing_names_the_file(tmp_path):
    path = _wide(tmp_path / "gauge.csv", T=(3, np.nan))
    attributes = _attributes(tmp_path / "a.csv", ["g1"])
    with pytest.raises(DataError, match="NaN/inf") as info:
        load_csv(path, COLUMNS, site="g1", attributes=attributes)
    assert info.value.file == str(path)
    assert str(path) in str(info.value) and "2010-01-04" in str(info.value)
    ds = load_csv(path, COLUMNS, site="g1", attributes=attributes, fill="linear")
    assert ds["temperature"][3, 0] == pytest.approx(1.0)
    assert validate_dataset(ds).filled == {"temperature": 1}


def test_duplicate_and_unordered_dates_name_file_and_time(tmp_path):
    path = _wide(tmp_path / "dup.csv", time=(4, "2010-01-04"))
    with pytest.raises(DataError, match="duplicate time") as info:
        load_csv(path, COLUMNS, attributes=_attributes(tmp_path / "a.csv", ["dup"]))
    assert info.value.file == str(path) and str(info.value.time)[:10] == "2010-01-04"
    path = _wide(tmp_path / "order.csv", time=(4, "2010-01-30"))
    with pytest.raises(DataError, match="not monotonic") as info:
        load_csv(path, COLUMNS, attributes=_attributes(tmp_path / "b.csv", ["order"]))
    assert str(info.value.time)[:10] == "2010-01-06"


def test_unreadable_date(tmp_path):
    path = _wide(tmp_path / "g.csv", time=(2, "not a date"))
    with pytest.raises(DataError, match="unreadable dates"):
        load_csv(path, COLUMNS, attributes=_attributes(tmp_path / "a.csv", ["g"]))


@pytest.mark.parametrize("n", [0, 1])
def test_empty_or_one_row_file(tmp_path, n):
    path = _wide(tmp_path / "g.csv", n=n)
    with pytest.raises(DataError, match="(empty|one-row) data") as info:
        load_csv(path, COLUMNS, attributes=_attributes(tmp_path / "a.csv", ["g"]))
    assert info.value.file == str(path)


def test_streamflow_unit_mislabelled_is_caught(tmp_path):
    path = _wide(tmp_path / "g.csv")
    columns = {**COLUMNS, "Q": ("streamflow", "mm/day")}
    pd.read_csv(path).assign(Q=800.0).to_csv(path, index=False)  # ft3/s-sized numbers
    with pytest.raises(DataError, match="runoff ratio") as info:
        load_csv(path, columns, attributes=_attributes(tmp_path / "a.csv", ["g"]))
    assert info.value.file == str(path)


def test_missing_column_and_file(tmp_path):
    path = _wide(tmp_path / "g.csv")
    with pytest.raises(DataError, match="column 'R' not found"):
        load_csv(path, {"R": ("precipitation", "mm/day")}, attributes=None)
    with pytest.raises(DataError, match="file not found"):
        load_csv(tmp_path / "nope.csv", COLUMNS)


def test_netcdf_round_trip_and_unit_conversion(tmp_path, container):
    ds = container()
    ds.to_netcdf(tmp_path / "ok.nc")
    back = load_netcdf(tmp_path / "ok.nc")
    np.testing.assert_allclose(back["streamflow"], ds["streamflow"])
    assert list(back["site"].values) == ["s0", "s1"]
    in_cfs = ds.copy()
    in_cfs["streamflow"] = ds["streamflow"] * ds["area"] / (0.028316846592 * 86.4)
    in_cfs["streamflow"].attrs = {"units": "cfs", "role": "observation"}
    in_cfs["area"] = ds["area"] * 1e6
    in_cfs["area"].attrs = {"units": "m2", "role": "attribute"}
    in_cfs.to_netcdf(tmp_path / "cfs.nc")
    back = load_netcdf(tmp_path / "cfs.nc")
    np.testing.assert_allclose(back["streamflow"], ds["streamflow"])
    np.testing.assert_allclose(back["area"], ds["area"])
    assert back["streamflow"].attrs["units"] == "mm/day"


def test_netcdf_errors_name_the_file(tmp_path, container):
    ds = container()
    ds["pet"][0, 0] = -1.0
    ds.to_netcdf(tmp_path / "bad.nc")
    with pytest.raises(DataError, match="negative") as info:
        load_netcdf(tmp_path / "bad.nc")
    assert info.value.file == str(tmp_path / "bad.nc")


def test_sentinel_in_csv_names_file_site_and_time(tmp_path):
    path = _wide(tmp_path / "g.csv", Q=(6, -999.0))
    attributes = pd.DataFrame({"area": [86.4]}, index=["g"])
    columns = {**COLUMNS, "Q": ("streamflow", "mm/day")}
    with pytest.raises(DataError, match="sentinel") as info:
        load_csv(path, columns, attributes=attributes)
    err = info.value
    assert (err.file, err.variable, err.site) == (str(path), "streamflow", "g")
    assert str(err.time)[:10] == "2010-01-07"
