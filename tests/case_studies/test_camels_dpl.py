"""The CAMELS dPL case study (case_studies/camels_dpl) end to end on a small synthetic
dataset written in the exact CAMELS-US layout, its sizes shrunk to seconds: four gauges,
1980-08-01..1981-01-31, the config's model (LSTM parameters, neural ET bounded by PET,
mini-batches, distillation of the ET slot) with small networks and few steps. The
config's attribute list must name columns of the published attribute tables."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import sympy
import xarray as xr
import yaml

from discover.study import Study
from tests.data.layouts import write_camels_tables, write_forcing, write_streamflow

CASE = Path(__file__).parents[2] / "case_studies" / "camels_dpl"
GAUGES = {  # huc, latitude [deg], area [km2]
    "01013500": ("01", 47.24, 2252.7),
    "01022500": ("01", 44.61, 573.6),
    "03015500": ("03", 41.60, 118.0),
    "08023080": ("12", 31.90, 300.0),
}
DAYS = pd.date_range("1980-08-01", "1981-01-31", freq="D")
FT3_PER_M3 = 1 / 0.028316846592


def write_camels(root: Path, rng: np.random.Generator) -> None:
    """Forcings, streamflow (a linear reservoir of precipitation) and attribute tables of
    :data:`GAUGES` in the layout the config expects (``data/...``); one attribute blank."""
    data = root / "data"
    season = np.sin(2 * np.pi * (DAYS.dayofyear.to_numpy() - 110) / 365.25)
    for k, gauge in enumerate(GAUGES):
        prcp = rng.gamma(0.6, 6.0, len(DAYS)) * (rng.random(len(DAYS)) < 0.4)
        tmean = 8.0 + 2.0 * k + 12.0 * season + rng.normal(0.0, 2.0, len(DAYS))
        forcing = data / "basin_dataset_public_v1p2"
        write_forcing(
            forcing, "daymet", "cida", gauge, DAYS, gauges=GAUGES,
            weather=(prcp, tmean + 5.0, tmean - 5.0),
        )  # fmt: skip
        store, flow = 50.0, np.empty(len(DAYS))
        for i, p in enumerate(prcp):
            store += 0.4 * p
            flow[i] = 0.05 * store
            store -= flow[i]
        cfs = flow * GAUGES[gauge][2] * 1e3 / 86400 * FT3_PER_M3  # mm/day -> ft3/s
        flags = np.where(rng.random(len(DAYS)) < 0.02, "M", "A")
        write_streamflow(
            forcing, gauge, DAYS, np.where(flags == "M", -999.0, cfs), flags, gauges=GAUGES
        )
    tables = data / "camels_attributes_v2.0"
    write_camels_tables(tables, GAUGES, rng, blank=("03015500", "geol_porostiy"))


def shrunk_config(folder: Path) -> dict:
    """The case study's config with sizes for seconds; data, model and stages as given."""
    config = yaml.safe_load((CASE / "config.yaml").read_text())
    config["model"].update(nmul=2, lstm_hidden=8, warmup=61)
    config["model"]["neural"]["evapotranspiration"]["hidden"] = [8]
    config["train"].update(
        period=["1980-10-01", "1980-12-15"],
        batch={"sites": 2, "days": 60, "warmup": 30},
        iterations=4, eval_every=2, checkpoint_every=2,
    )  # fmt: skip
    config["test"] = {"period": ["1980-12-16", "1981-01-31"]}
    config["distill"].update(
        engine="rational", samples=200, time_budget_s=60, max_complexity=5,
        options={"degree": 1, "max_numerator_terms": 2, "max_denominator_terms": 1},
    )  # fmt: skip
    config["reinsert"].update(iterations=2)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return config


def test_camels_dpl_case_study_runs_on_the_camels_layout(tmp_path):
    write_camels(tmp_path, np.random.default_rng(0))
    config = shrunk_config(tmp_path)
    out = tmp_path / "run"
    study = Study.from_config(tmp_path / "config.yaml", out=out)
    dataset = study.workflow.dataset
    assert list(dataset["site"].values) == list(GAUGES)  # gauges: null found all four
    attributes = [n for n, v in dataset.data_vars.items() if v.attrs["role"] == "attribute"]
    assert attributes == config["data"]["attribute_names"]
    assert dataset["geol_porostiy"].attrs["filled"] == 1  # attribute_fill: mean
    assert dataset["pet"].attrs["method"] == "pyet.hargreaves"
    assert study.workflow.batches_per_epoch == 6  # 4 basins x 76 days / (2 x 30 scored)
    study.run(progress=False)

    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"physics", "neural", "symbolic"}
    for variant, splits in metrics.items():
        assert math.isfinite(splits["test"]["streamflow"]["nse"]), variant
    equations = json.loads((out / "equations.json").read_text())
    assert set(equations) == {"evapotranspiration"}
    slot = equations["evapotranspiration"]
    selected = sympy.sympify(slot["selected"]["expression"])
    assert {str(s) for s in selected.free_symbols} <= {"pet", "soil_wetness"}
    assert len(pd.read_csv(out / "history.csv")) >= config["train"]["iterations"]
    with xr.open_dataset(out / "simulations.nc") as simulations:
        days = pd.DatetimeIndex(simulations["time"].values)
    assert (days[0], days[-1]) == (DAYS[0], DAYS[-1])  # warm-up (model.warmup) included
