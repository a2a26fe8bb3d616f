"""Per-site tables (data.source: table) as an HBV study: the layout of docs/data.md, one
file per site or one long table, CSV or Parquet, and the errors for bad tables."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from discover.config import StudyConfig
from discover.data.container import DataError
from discover.study import Study
from discover.workflows.hbv_data import load_hbv_dataset

DOC = Path(__file__).parents[2] / "docs" / "data.md"
SITES = ("upper", "lower", "east")
AREAS = {"upper": 120.0, "lower": 340.0, "east": 85.0}


def _weather(site: int, days: int = 500) -> pd.DataFrame:
    """Daily columns of one site: precipitation, temperature, pet, streamflow (mm/day, °C)."""
    rng = np.random.default_rng(site)
    dates = pd.date_range("2006-01-01", periods=days, freq="D")
    season = np.sin(2 * np.pi * (dates.dayofyear.values - 110) / 365)
    rain = np.round(rng.gamma(0.6, 6.0, days) * (rng.random(days) < 0.5), 1)
    flow = 0.4 + 0.5 * np.convolve(rain, np.ones(30) / 30, mode="same")
    return pd.DataFrame(
        {
            "date": dates.strftime("%Y-%m-%d"),
            "precipitation": rain,
            "temperature": np.round(8 + 10 * season + rng.normal(0, 2, days), 1),
            "pet": np.round(np.clip(1.5 + 1.4 * season, 0.1, None), 2),
            "streamflow": np.round(flow, 3),
        }
    )


def _attributes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site": list(SITES),
            "area": [AREAS[s] for s in SITES],
            "latitude": [50.5, 51.2, 49.8],
            "forest_fraction": [0.4, 0.2, 0.6],
        }
    )


def _write_sites(folder: Path, suffix: str = ".csv") -> dict[str, pd.DataFrame]:
    """One table per site in ``folder/catchments`` and ``folder/attributes.csv``."""
    (folder / "catchments").mkdir()
    frames = {site: _weather(i) for i, site in enumerate(SITES)}
    for site, frame in frames.items():
        path = folder / "catchments" / f"{site}{suffix}"
        frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    _attributes().to_csv(folder / "attributes.csv", index=False)
    return frames


def _config(data: dict) -> StudyConfig:
    return StudyConfig.model_validate(
        {
            "name": "tables",
            "data": data,
            "model": {"type": "hbv", "spinup": 1},
            "train": {"period": ["2006-01-01", "2006-12-31"], "iterations": 3},
            "test": {"period": ["2007-01-01", "2007-05-15"]},
            "distill": None,
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_folder_of_site_tables_is_an_hbv_study_that_trains(tmp_path, suffix):
    frames = _write_sites(tmp_path, suffix)
    config = _config({"source": "table", "path": "catchments", "attributes": "attributes.csv"})
    study = Study(config, tmp_path)
    workflow = study.workflow
    assert sorted(workflow.sites) == sorted(SITES)
    assert workflow.attribute_names == ["area", "latitude", "forest_fraction"]
    for j, site in enumerate(workflow.sites):
        expected = frames[site]["streamflow"].to_numpy()[: workflow.observed.shape[0]]
        np.testing.assert_allclose(workflow.observed[:, j, 0], expected)
    before = float(workflow.loss("train").detach())
    study.fit()
    after = float(workflow.loss("train").detach())
    assert np.isfinite(before) and np.isfinite(after) and after != before
    assert str(pd.Timestamp(workflow.times_index()[-1]).date()) == "2007-05-15"


def test_a_long_table_with_units_and_minimum_maximum_temperature(tmp_path):
    rows = []
    for i, site in enumerate(SITES):
        frame = _weather(i, days=400).assign(site=site)
        frame["temperature_min"] = frame["temperature"] - 4
        frame["temperature_max"] = frame["temperature"] + 4
        # streamflow in m3/s: mm/day * area [km2] / 86.4
        frame["streamflow"] = frame["streamflow"] * AREAS[site] / 86.4
        rows.append(frame.drop(columns=["temperature", "pet"]))
    pd.concat(rows).to_csv(tmp_path / "all.csv", index=False)
    _attributes().to_csv(tmp_path / "attributes.csv", index=False)
    spec = _config(
        {
            "source": "table",
            "path": "all.csv",
            "attributes": "attributes.csv",
            "units": {"streamflow": "m3/s"},
        }
    ).data
    ds = load_hbv_dataset(spec, tmp_path, seed=0)
    upper = _weather(0, days=400)
    np.testing.assert_allclose(ds["streamflow"].sel(site="upper").values, upper["streamflow"])
    np.testing.assert_allclose(ds["temperature"].sel(site="upper").values, upper["temperature"])
    assert ds["pet"].attrs["method"] == "pyet.oudin"  # computed: the table has no pet
    assert np.all(ds["pet"].values >= 0)


def test_bad_site_tables_are_refused_naming_file_and_site(tmp_path):
    _write_sites(tmp_path)
    spec = _config({"source": "table", "path": "catchments", "attributes": "attributes.csv"}).data
    broken = _weather(1).drop(columns=["streamflow"])
    broken.to_csv(tmp_path / "catchments" / "lower.csv", index=False)
    with pytest.raises(DataError, match=r"lower\.csv, site 'lower': columns \['streamflow'\]"):
        load_hbv_dataset(spec, tmp_path, seed=0)
    _weather(1).to_csv(tmp_path / "catchments" / "lower.csv", index=False)
    _weather(3).to_csv(tmp_path / "catchments" / "west.csv", index=False)
    with pytest.raises(DataError, match=r"attributes\.csv: site ids .* not in the attribute.*west"):
        load_hbv_dataset(spec, tmp_path, seed=0)
    (tmp_path / "catchments" / "west.csv").unlink()
    hot = _weather(2)
    hot["temperature"] += 273.15
    hot.to_csv(tmp_path / "catchments" / "east.csv", index=False)
    with pytest.raises(DataError, match="temperature.*kelvin"):
        load_hbv_dataset(spec, tmp_path, seed=0)


def test_a_table_without_pet_needs_latitude(tmp_path):
    (tmp_path / "catchments").mkdir()
    _weather(0).drop(columns=["pet"]).to_csv(tmp_path / "catchments" / "a.csv", index=False)
    spec = _config({"source": "table", "path": "catchments/*.csv"}).data
    with pytest.raises(DataError, match="no 'pet' column"):
        load_hbv_dataset(spec, tmp_path, seed=0)


def test_the_example_of_docs_data_md_loads(tmp_path):
    """Every block of docs/data.md marked ``file=...`` is written there; the config's data
    section loads as the doc says and the whole config validates."""
    text = DOC.read_text()
    blocks = re.findall(r"```\w+ file=(\S+)\n(.*?)```", text, flags=re.S)
    assert {name for name, _ in blocks} >= {"attributes.csv", "config.yaml"}
    for name, body in blocks:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body)
    raw = yaml.safe_load((tmp_path / "config.yaml").read_text())
    config = StudyConfig.model_validate(raw)
    ds = load_hbv_dataset(config.data, tmp_path, seed=0)
    assert sorted(ds["site"].values) == ["fulda_upper", "lahn"]
    assert str(ds["time"].values[0])[:10] == "2006-01-01" and ds.sizes["time"] == 4
    # the missing streamflow cell is missing; lahn's temperature is the mean of min and max
    assert np.isnan(ds["streamflow"].sel(site="fulda_upper").values[2])
    np.testing.assert_allclose(ds["temperature"].sel(site="lahn").values[0], (-1.2 + 4.3) / 2)
    assert float(ds["forest_fraction"].sel(site="lahn")) == 0.37
    assert ds["precipitation"].attrs["units"] == "mm/day"
