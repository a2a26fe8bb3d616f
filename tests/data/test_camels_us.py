"""CAMELS-US loader on small files written in the published layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from discover.data import DataError, load_camels_us, validate_dataset
from tests.data.layouts import (
    DAYMET_HEADER,
    GAUGES,
    MAURER_HEADER,
    write_attributes,
    write_forcing,
    write_streamflow,
)

DAYS = pd.date_range("1990-01-01", periods=12, freq="D")


def _layout(root: Path, gauges=tuple(GAUGES)):
    for g in gauges:
        write_forcing(root, "daymet", "cida", g, DAYS)
        flows = [100.0] * 12
        flags = ["A"] * 12
        flows[3], flags[3] = -999.0, "M"
        flags[5] = "A:e"
        write_streamflow(root, g, DAYS, flows, flags)
    write_attributes(root, gauges)
    return root


def test_loads_forcings_streamflow_and_attributes(tmp_path):
    ds = load_camels_us(_layout(tmp_path))
    assert list(ds["site"].values) == ["01013500", "03015500"]  # leading zeros kept
    assert ds.sizes["time"] == 12
    # 100 ft3/s over 2252.7 km2 (header area 2252.7e6 m2), by hand:
    expected = 100 * 0.028316846592 * 86400 * 1000 / 2252.7e6
    assert ds["streamflow"].sel(site="01013500")[0] == pytest.approx(expected)
    assert np.isnan(ds["streamflow"].sel(site="01013500")[3])  # -999 / M -> missing
    assert float(ds["area"].sel(site="03015500")) == pytest.approx(118.0)
    assert float(ds["latitude"].sel(site="01013500")) == pytest.approx(47.24)
    assert float(ds["longitude"].sel(site="01013500")) == pytest.approx(-68.58)
    assert ds["area_gages2"].attrs["units"] == "km2"
    assert "high_prec_timing" not in ds  # text column dropped
    # temperature is the mean of tmin and tmax: (5 + -3) / 2 on day 0
    assert ds["temperature"][0, 0] == pytest.approx(1.0)
    assert ds["pet"].attrs["method"] == "pyet.oudin"
    assert (ds["pet"] >= 0).all() and ds["pet"].attrs["units"] == "mm/day"
    report = validate_dataset(ds)
    assert report.observation_missing["streamflow"] == pytest.approx(1 / 12)


def test_drop_estimated_masks_ae_flags(tmp_path):
    ds = load_camels_us(_layout(tmp_path), ["01013500"], drop_estimated=True)
    assert np.isnan(ds["streamflow"][[3, 5], 0]).all()
    assert int(np.isnan(ds["streamflow"]).sum()) == 2


def test_maurer_with_capitalised_or_incomplete_header(tmp_path):
    root = _layout(tmp_path)
    write_forcing(root, "maurer", "maurer", "01013500", DAYS, header=MAURER_HEADER)
    write_forcing(root, "maurer", "maurer", "03015500", DAYS, header="Year Mnth Day Hr")
    ds = load_camels_us(root, forcing="maurer", pet="hargreaves")
    assert ds["precipitation"][1, 1] == pytest.approx(2.0)
    assert ds["pet"].attrs["method"] == "pyet.hargreaves"


def test_unexpected_header_is_refused(tmp_path):
    root = _layout(tmp_path)
    bad = DAYMET_HEADER.replace("tmax(C)\ttmin(C)", "tmin(C)\ttmax(C)")
    path = write_forcing(root, "daymet", "cida", "01013500", DAYS, header=bad)
    with pytest.raises(DataError, match="unexpected header") as info:
        load_camels_us(root)
    assert info.value.file == str(path)


def test_gauge_missing_from_attribute_tables(tmp_path):
    root = _layout(tmp_path)
    write_attributes(root, ["01013500"])
    with pytest.raises(DataError, match="not in the attribute tables: \\['03015500'\\]") as info:
        load_camels_us(root)
    assert info.value.file == str(root / "camels_attributes_v2.0")


def test_attribute_table_lists_gauge_without_series(tmp_path):
    root = _layout(tmp_path, gauges=("01013500",))
    write_attributes(root, list(GAUGES))
    with pytest.raises(DataError, match="without time series: \\['03015500'\\]"):
        load_camels_us(root)
    assert load_camels_us(root, ["01013500"]).sizes["site"] == 1  # a subset is fine


def test_streamflow_period_outside_forcing_period(tmp_path):
    root = _layout(tmp_path)
    later = pd.date_range("2001-01-01", periods=12, freq="D")
    path = write_streamflow(root, "03015500", later, [5.0] * 12, ["A"] * 12)
    with pytest.raises(DataError, match="do not overlap") as info:
        load_camels_us(root)
    assert info.value.site == "03015500"
    assert str(path) in str(info.value) and "2001-01-01..2001-01-12" in str(info.value)


def test_missing_forcing_day_needs_a_fill(tmp_path):
    root = _layout(tmp_path)
    path = write_forcing(root, "daymet", "cida", "01013500", DAYS.delete(4))
    with pytest.raises(DataError, match="NaN/inf") as info:
        load_camels_us(root)
    assert info.value.file == str(path) and str(info.value.time)[:10] == "1990-01-05"
    ds = load_camels_us(root, fill="linear")
    assert ds["precipitation"].attrs["filled"] == 1
    p = ds["precipitation"].sel(site="01013500").values
    assert p[4] == pytest.approx((p[3] + p[5]) / 2) and p[3] != p[5]


def test_streamflow_file_with_rows_of_another_gauge(tmp_path):
    root = _layout(tmp_path)
    path = root / "usgs_streamflow" / "01" / "01013500_streamflow_qc.txt"
    path.write_text(path.read_text().replace("01013500 1990 01 02", "01022500 1990 01 02"))
    with pytest.raises(DataError, match="gauge '01022500'") as info:
        load_camels_us(root)
    assert info.value.file == str(path)


def test_missing_streamflow_file(tmp_path):
    root = _layout(tmp_path)
    (root / "usgs_streamflow" / "03" / "03015500_streamflow_qc.txt").unlink()
    with pytest.raises(DataError, match="no streamflow for 03015500"):
        load_camels_us(root)
