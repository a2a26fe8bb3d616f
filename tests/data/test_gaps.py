"""Gap filling: only with a named method, counted, and never for observations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from discover.data import DataError, fill_gaps


def _forcing(values: np.ndarray, start: str = "2001-01-01") -> xr.Dataset:
    time = pd.date_range(start, periods=len(values), freq="D")
    ds = xr.Dataset(coords={"time": time, "site": ["a"]})
    ds["temperature"] = (("time", "site"), values[:, None], {"units": "degC", "role": "forcing"})
    ds["streamflow"] = (
        ("time", "site"),
        np.full((len(values), 1), np.nan),
        {"units": "mm/day", "role": "observation"},
    )
    return ds


def test_linear_interpolates_inside_and_holds_edges():
    ds = _forcing(np.array([np.nan, 1.0, np.nan, np.inf, 7.0, np.nan]))
    out = fill_gaps(ds, "linear")
    np.testing.assert_allclose(out["temperature"][:, 0], [1.0, 1.0, 3.0, 5.0, 7.0, 7.0])
    assert out["temperature"].attrs["filled"] == 4
    assert out["temperature"].attrs["fill_method"] == "linear"
    assert out["temperature"].attrs["units"] == "degC"
    assert np.isnan(out["streamflow"]).all()  # observations untouched


def test_climatology_uses_the_same_day_of_other_years():
    values = np.arange(3 * 365, dtype=float) % 365  # day-of-year pattern, 2001..2003
    values[365 + 40] = np.nan  # 2002-02-10
    out = fill_gaps(_forcing(values), "climatology")
    assert out["temperature"][365 + 40, 0] == pytest.approx(40.0)
    assert out["temperature"].attrs["filled"] == 1


def test_unfillable_gap_stays_nan():
    out = fill_gaps(_forcing(np.array([np.nan, np.nan, 5.0])), "climatology")
    assert int(np.isnan(out["temperature"]).sum()) == 2
    assert out["temperature"].attrs["filled"] == 0


def test_unknown_method_and_observation_are_refused():
    ds = _forcing(np.array([1.0, np.nan, 3.0]))
    with pytest.raises(DataError, match="unknown fill method 'mean'"):
        fill_gaps(ds, "mean")
    with pytest.raises(DataError, match="observations stay masked"):
        fill_gaps(ds, "linear", ["streamflow"])
    assert "filled" not in ds["temperature"].attrs  # the input is not modified
