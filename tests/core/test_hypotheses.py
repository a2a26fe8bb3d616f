"""Stated hypotheses (config ``hypotheses:``) and k-fold validation over sites."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from discover.config import ConfigError, parse_config
from discover.processes import Symbolic
from discover.study import Study

DECAY_RATE = 0.5


def decay_config(tmp_path: Path, hypotheses: dict) -> dict:
    """An ODE study of dS/dt = -F(S) with the planted F = 0.5·S, and ``hypotheses``."""
    t = np.linspace(0, 4, 41)
    x = 2.0 * np.exp(-DECAY_RATE * t)
    pd.DataFrame({"t": t, "storage": x}).to_csv(tmp_path / "decay.csv", index=False)
    return {
        "name": "decay",
        "data": {"path": str(tmp_path / "decay.csv"), "time": "t"},
        "model": {
            "type": "ode",
            "states": ["storage"],
            "equations": {"storage": "-F(storage)"},
            "neural": {"F": {"inputs": ["storage"], "hidden": [4]}},
        },
        "train": {"split": 0.7, "iterations": 60, "lr": 0.05, "lbfgs_iterations": 20},
        "distill": None,
        "hypotheses": hypotheses,
    }


def test_hypothesis_constants_are_fitted_and_numbers_stay_fixed(tmp_path):
    raw = decay_config(
        tmp_path,
        {
            "H_free": {"slot": "F", "expression": "k*storage", "constants": {"k": 0.2}},
            "H_fixed": "F = 0.2*storage",
        },
    )
    study = Study(parse_config(raw), tmp_path)
    study.fit_hypothesis("H_free", progress=False)
    study.fit_hypothesis("H_fixed", progress=False)
    free = study.variants.slots["H_free"]["F"]
    fixed = study.variants.slots["H_fixed"]["F"]
    assert float(free.module.constants[0]) == pytest.approx(DECAY_RATE, rel=0.02)
    assert fixed.module.constants.numel() == 0
    metrics = study.validate()
    assert (
        metrics["H_free"]["test"]["storage"]["nse"]
        > 0.99
        > metrics["H_fixed"]["test"]["storage"]["nse"]
    )


@pytest.mark.parametrize(
    ("hypotheses", "message"),
    [
        ({"H": "G = k*storage"}, "hypotheses.H.slot: unknown slot 'G'"),
        ({"H": "F = k*storag"}, "did you mean 'storage'"),
        (
            {"H": {"slot": "F", "expression": "storage", "constants": {"k": 1.0}}},
            "'k'] do not appear",
        ),
        ({"H": "F = __import__('os')"}, "hypotheses.H.expression"),
        ({"neural": "F = storage"}, "run's own variants"),
        ({"H": "F storage"}, "slot = expression"),
    ],
)
def test_bad_hypotheses_fail_before_training(tmp_path, hypotheses, message):
    raw = decay_config(tmp_path, hypotheses)
    with pytest.raises(ConfigError, match=message):
        Study(parse_config(raw), tmp_path)


def test_symbolic_fixed_numbers_reads_decimals_exactly():
    process = Symbolic("pet*min(1, soil_wetness/0.7)", ["pet", "soil_wetness"], fixed_numbers=True)
    assert process.module.constants.numel() == 0
    value = process({"pet": torch.tensor([2.0]), "soil_wetness": torch.tensor([0.35])})
    assert float(value) == pytest.approx(1.0)


HBV = {
    "name": "folds",
    "seed": 0,
    "dtype": "float32",
    "data": {"source": "twin", "sites": 4, "days": 300},
    "model": {"type": "hbv", "warmup": 60, "baseline": False},
    "train": {"split": 0.6, "iterations": 3, "eval_every": 3},
    "distill": None,
    "validate": {"site_folds": 2},
}


def test_hidden_sites_do_not_reach_the_loss(tmp_path):
    study = Study(parse_config(HBV), tmp_path)
    workflow = study.workflow
    workflow.hide_sites([1, 3])
    before = float(workflow.loss("train"))
    workflow.flow[:, [1, 3]] *= 10  # what hidden sites observed changes nothing
    workflow.flow_seen[:, [1, 3]] = float("nan")
    assert float(workflow.loss("train")) == pytest.approx(before)
    workflow.flow[:, 0] *= 10
    workflow.flow_seen[:, 0] = workflow.flow[:, 0]
    assert float(workflow.loss("train")) != pytest.approx(before)


def test_site_folds_score_every_site_by_a_model_that_never_saw_it(tmp_path):
    out = tmp_path / "run"
    study = Study(parse_config(HBV), tmp_path, out=out)
    study.run(progress=False)
    simulated = study.site_fold_simulations["physics"]
    assert np.isfinite(simulated[HBV["model"]["warmup"] :]).all()
    assert not np.allclose(simulated, study.simulations["physics"], equal_nan=True)
    table = pd.read_csv(out / "metrics_sites.csv")
    held_out = table[table["split"] == "sites"]
    assert held_out["site"].nunique() == 4
    assert "sites" in json.loads((out / "metrics.json").read_text())["physics"]
    folds = sorted(p.name for p in (out / "checkpoints" / "sites" / "physics").iterdir())
    assert folds == ["fold0", "fold1"]


def test_site_folds_need_an_hbv_model(tmp_path):
    raw = decay_config(tmp_path, {})
    with pytest.raises(ConfigError, match="validate.site_folds"):
        parse_config({**raw, "validate": {"site_folds": 2}})
