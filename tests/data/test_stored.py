"""NetCDF files and Zarr stores in the dataset layout, read lazily: only the series and
sites asked for, each in the dtype asked for, with the values the file holds."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from discover.config import parse_config
from discover.data import DataError, load_netcdf
from discover.workflows.hbv_data import HBV_SERIES, load_hbv_dataset

CFS_PER_MM_DAY_KM2 = 1 / (0.028316846592 * 86.4)
"""ft3/s of 1 mm/day over 1 km2."""


def _stored(container, n_sites: int = 3):
    """A container with streamflow in ft3/s, area in m2 and an unconvertible series, and
    the values each should load as (standard units)."""
    ds = container(n_sites=n_sites)
    expected = ds.copy(deep=True)
    ds["streamflow"] = ds["streamflow"] * ds["area"] * CFS_PER_MM_DAY_KM2
    ds["streamflow"].attrs = {"units": "ft3/s", "role": "observation"}
    ds["area"] = ds["area"] * 1e6
    ds["area"].attrs = {"units": "m2", "role": "attribute"}
    ds["temperature_min"] = ds["temperature"] - 3
    ds["temperature_min"].attrs = {"units": "furlongs", "role": "forcing"}
    return ds, expected


def test_netcdf_loads_the_values_of_the_file_in_the_dtype_asked(tmp_path, container):
    ds, expected = _stored(container)
    ds.transpose("site", "time").to_netcdf(tmp_path / "d.nc")  # [site, time] is accepted
    for dtype in ("float64", "float32"):
        back = load_netcdf(tmp_path / "d.nc", series=HBV_SERIES, dtype=dtype)
        for name in HBV_SERIES:
            assert back[name].dims == ("time", "site")
            assert back[name].dtype == np.dtype(dtype)
            want = expected[name].values.astype(dtype)
            if name == "streamflow":  # converted from ft3/s with the area (from m2)
                np.testing.assert_allclose(back[name].values, want, rtol=1e-6)
                assert back[name].attrs["units"] == "mm/day"
            else:
                np.testing.assert_array_equal(back[name].values, want)
        np.testing.assert_allclose(back["area"].values, expected["area"].values)
        assert back["area"].dtype == np.float64
        assert list(back["site"].values) == ["s0", "s1", "s2"]


def test_only_the_series_asked_for_are_read(tmp_path, container):
    ds, _ = _stored(container)
    ds.to_netcdf(tmp_path / "d.nc")
    back = load_netcdf(tmp_path / "d.nc", series=HBV_SERIES)
    assert sorted(back.data_vars) == sorted([*HBV_SERIES, "area", "latitude", "forest"])
    # the unread series' unit cannot be converted: reading it would fail
    with pytest.raises(DataError, match="no conversion from unit 'furlongs'") as info:
        load_netcdf(tmp_path / "d.nc")
    assert info.value.file == str(tmp_path / "d.nc")
    assert info.value.variable == "temperature_min"


def test_only_the_sites_asked_for_are_read_in_their_order(tmp_path, container):
    ds, expected = _stored(container, n_sites=4)
    ds.to_netcdf(tmp_path / "d.nc")
    back = load_netcdf(tmp_path / "d.nc", series=HBV_SERIES, sites=["s3", "s1"])
    assert list(back["site"].values) == ["s3", "s1"]
    np.testing.assert_array_equal(
        back["precipitation"].values, expected["precipitation"].sel(site=["s3", "s1"]).values
    )
    np.testing.assert_allclose(
        back["streamflow"].values, expected["streamflow"].sel(site=["s3", "s1"]).values
    )
    with pytest.raises(DataError, match=r"site id\(s\) \['s9'\] not in the data"):
        load_netcdf(tmp_path / "d.nc", series=HBV_SERIES, sites=["s1", "s9"])


def test_a_study_reads_its_series_and_gauges_in_its_dtype(tmp_path, container):
    ds, expected = _stored(container, n_sites=4)
    ds.to_netcdf(tmp_path / "d.nc")
    (tmp_path / "gauges.txt").write_text("s2\ns0  # two of four\n")
    spec = parse_config(
        {
            "data": {"source": "netcdf", "path": "d.nc", "gauges": "gauges.txt"},
            "model": {"type": "hbv"},
        }
    ).data
    back = load_hbv_dataset(spec, tmp_path, 0, dtype="float32")
    assert list(back["site"].values) == ["s2", "s0"]
    assert all(back[name].dtype == np.float32 for name in HBV_SERIES)
    assert "temperature_min" not in back
    np.testing.assert_array_equal(
        back["pet"].values, expected["pet"].sel(site=["s2", "s0"]).values.astype(np.float32)
    )


def test_zarr_store_loads_as_the_netcdf_file(tmp_path, container):
    pytest.importorskip("zarr", reason="zarr is not installed (the [large] extra)")
    ds, _ = _stored(container)
    ds.to_netcdf(tmp_path / "d.nc")
    ds.to_zarr(tmp_path / "d.zarr")
    from_zarr = load_netcdf(tmp_path / "d.zarr", series=HBV_SERIES, dtype="float32")
    from_netcdf = load_netcdf(tmp_path / "d.nc", series=HBV_SERIES, dtype="float32")
    assert from_zarr.identical(from_netcdf)


def test_zarr_without_the_package_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "d.zarr").mkdir()
    monkeypatch.setitem(sys.modules, "zarr", None)  # import zarr raises ImportError
    with pytest.raises(
        DataError, match=r"needs the zarr package: pip install 'discover-geo\[large\]'"
    ):
        load_netcdf(tmp_path / "d.zarr")


def test_a_folder_that_is_no_zarr_store_is_refused(tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(DataError, match=r"Zarr store only when named \*\.zarr"):
        load_netcdf(tmp_path / "data")
    with pytest.raises(DataError, match="file not found"):
        load_netcdf(tmp_path / "none.nc")
