"""PET from temperature and latitude (pyet), checked against FAO-56 by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from discover.data import DataError, add_pet


def _extraterrestrial_radiation(doy: int, lat_deg: float) -> float:
    """FAO-56 eqs. 21-25 [MJ m-2 day-1]."""
    phi = np.deg2rad(lat_deg)
    dr = 1 + 0.033 * np.cos(2 * np.pi * doy / 365)
    delta = 0.409 * np.sin(2 * np.pi * doy / 365 - 1.39)
    ws = np.arccos(-np.tan(phi) * np.tan(delta))
    return (
        24 * 60 / np.pi * 0.0820 * dr
        * (ws * np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.sin(ws))
    )  # fmt: skip


def _dataset(temperature: list[float], start: str = "2001-06-21") -> xr.Dataset:
    time = pd.date_range(start, periods=len(temperature), freq="D")
    ds = xr.Dataset(coords={"time": time, "site": ["a", "b"]})
    t = np.array(temperature)[:, None] * np.ones((1, 2))
    ds["temperature"] = (("time", "site"), t, {"units": "degC", "role": "forcing"})
    ds["latitude"] = (("site",), [50.6, -10.0], {"units": "degrees_north", "role": "attribute"})
    return ds


def test_oudin_matches_hand_computation():
    ds = add_pet(_dataset([15.0, -6.0]))
    ra = _extraterrestrial_radiation(172, 50.6)  # 21 June
    expected = ra * (15.0 + 5.0) / (2.501 - 0.002361 * 15.0) / 100.0
    assert float(ds["pet"].sel(site="a")[0]) == pytest.approx(expected, rel=1e-3)
    assert expected == pytest.approx(3.4, abs=0.1)
    assert float(ds["pet"].sel(site="a")[1]) == 0.0  # T + 5 < 0: no PET
    # southern site in June (winter) gets less
    assert float(ds["pet"].sel(site="b")[0]) < float(ds["pet"].sel(site="a")[0])
    assert ds["pet"].attrs == {"units": "mm/day", "role": "forcing", "method": "pyet.oudin"}


def test_missing_inputs_and_unknown_method():
    ds = _dataset([15.0, 16.0])
    with pytest.raises(DataError, match="needs 'temperature_min'"):
        add_pet(ds, "hargreaves")
    with pytest.raises(DataError, match="unknown PET method 'turc'"):
        add_pet(ds, "turc")
    with pytest.raises(DataError, match="needs 'latitude'"):
        add_pet(ds.drop_vars("latitude"))
