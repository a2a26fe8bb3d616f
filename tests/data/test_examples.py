"""The shipped real catchments: Fulda and the HYMOD example, loaded through load_csv."""

from __future__ import annotations

import numpy as np
import pytest

from discover.data import load_fulda, load_hymod, validate_dataset
from discover.data.examples import data_file


def _annual(ds, name: str) -> float:
    """Mean annual total [mm/yr] over the days where streamflow is observed."""
    observed = np.isfinite(ds["streamflow"])
    return float(ds[name].where(observed).mean()) * 365.25


def test_fulda_water_balance():
    ds = load_fulda()
    assert ds.sizes == {"time": 3653, "site": 1}
    assert str(ds["time"].values[0])[:10] == "1979-01-01"
    assert str(ds["time"].values[-1])[:10] == "1988-12-31"
    # long-term water balance of the Fulda at Grebenau, 1979-1988 [mm/yr]
    assert _annual(ds, "precipitation") == pytest.approx(839, rel=0.01)
    assert _annual(ds, "streamflow") == pytest.approx(332, rel=0.01)
    assert _annual(ds, "pet") == pytest.approx(585, rel=0.03)  # Oudin, latitude 50.6 N
    # Q / P about 0.4 and P - Q (about 507 mm/yr) below PET: a humid, energy-limited basin
    assert validate_dataset(ds).runoff_ratio["fulda"] == pytest.approx(332 / 839, rel=0.02)


def test_fulda_units_by_hand():
    ds = load_fulda()
    # first row of the file: Q = 143 m3/s over 2976.41 km2
    assert float(ds["streamflow"][0, 0]) == pytest.approx(143 * 86.4 / 2976.41)
    assert float(ds["temperature_min"][0, 0]) == -20.1
    assert ds["pet"].attrs["method"] == "pyet.oudin"
    hargreaves = load_fulda(pet="hargreaves")
    assert hargreaves["pet"].attrs["method"] == "pyet.hargreaves"
    assert float(hargreaves["pet"].mean()) != pytest.approx(float(ds["pet"].mean()))


def test_hymod():
    ds = load_hymod()
    report = validate_dataset(ds)
    assert ds.sizes == {"time": 1827, "site": 1}
    # discharge is missing for the first year (2012, 366 days)
    assert report.observation_missing["streamflow"] == pytest.approx(366 / 1827)
    assert bool(np.isnan(ds["streamflow"].sel(time="2012")).all())
    # last row of the file: 2.959312 l/s over 1.783 km2
    assert float(ds["streamflow"][-1, 0]) == pytest.approx(2.959312 * 0.0864 / 1.783)
    assert float(ds["pet"][1, 0]) == 0.26  # the Turc PET column, used as given


def test_shipped_files_and_attribution_exist():
    assert data_file("fulda_climate.csv").is_file()
    attribution = data_file("ATTRIBUTION.md").read_text()
    assert "MIT" in attribution and "hymod_input.csv" in attribution
