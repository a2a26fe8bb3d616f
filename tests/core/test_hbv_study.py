"""A small HBV study end to end: twin data, physics baseline, neural slot, distillation,
reinsertion, paired tests and the report (fast settings; quality is checked elsewhere)."""

import json

import pandas as pd
import pytest
import sympy
import yaml

from discover.cli import main
from discover.config import ConfigError, parse_config

CONFIG = {
    "name": "hbv_quick",
    "seed": 0,
    "dtype": "float32",
    "data": {
        "source": "twin",
        "sites": 6,
        "days": 500,
        "planted": {"evapotranspiration": "pet*soil_wetness**0.5"},
    },
    "model": {
        "type": "hbv",
        "warmup": 120,
        "neural": {"evapotranspiration": {"inputs": ["pet", "soil_wetness"], "hidden": [8]}},
    },
    "train": {"split": 0.6, "iterations": 8, "eval_every": 4, "lbfgs_iterations": 0},
    "distill": {
        "engine": "rational",
        "time_budget_s": 2,
        "samples": 300,
        "max_complexity": 7,
        "selection": {"refit_steps": 2},
    },
    "reinsert": {"iterations": 3, "lbfgs_iterations": 0},
    "truth": {"evapotranspiration": "pet*soil_wetness**0.5"},
}


def test_hbv_study_runs_every_stage(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"physics", "neural", "symbolic"}
    assert {"nse", "kge", "fhv", "flv"} <= set(metrics["neural"]["test"]["streamflow"])
    entry = json.loads((out / "equations.json").read_text())["evapotranspiration"]
    assert entry["inputs"] == ["pet", "soil_wetness"]
    names = {n: sympy.Symbol(n) for n in entry["inputs"]}
    assert sympy.sympify(entry["selected"]["expression"], locals=names).free_symbols <= set(
        names.values()
    )
    importance = json.loads((out / "importance" / "evapotranspiration.json").read_text())
    assert importance["inputs"] == ["pet", "soil_wetness"] and len(importance["mean_abs_shap"]) == 2
    comparisons = pd.read_csv(out / "comparisons.csv")
    pairs = set(zip(comparisons.a, comparisons.b, strict=True))
    assert {("physics", "neural"), ("neural", "symbolic")} <= pairs
    assert comparisons["sentence"].str.contains("Wilcoxon").all()
    sites = pd.read_csv(out / "metrics_sites.csv")
    assert sites["site"].nunique() == 6
    html = (out / "report.html").read_text()
    assert "evapotranspiration" in html and "physics" in html
    parameters = pd.read_csv(out / "parameters.csv")
    assert set(parameters["variant"]) == {"physics", "neural", "symbolic"}
    lp = parameters.query("variant == 'physics' and parameter == 'lp'")
    assert lp["site"].nunique() == 6 and lp["value"].between(0.2, 1.0).all()
    assert "lp" not in set(parameters.query("variant == 'symbolic'")["parameter"])
    assert "Model parameters" in html
    # the textbook curve is drawn at the physics variant's trained lp, not mid-range
    assert "median over sites of the textbook model" in html


def test_hbv_config_errors_name_the_key(tmp_path):
    bad = json.loads(json.dumps(CONFIG))
    bad["model"]["neural"]["evapotranspiration"]["inputs"] = ["pet", "groundwater"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(bad))
    assert main(["check", str(path)]) == 2
    bad["model"]["neural"] = {"groundwater": {"inputs": ["pet"]}}
    path.write_text(yaml.safe_dump(bad))
    assert main(["check", str(path)]) == 2
    bad = json.loads(json.dumps(CONFIG))
    bad["data"] = {"source": "table"}
    with pytest.raises(ConfigError, match="data.path is required"):
        parse_config(bad)


def test_forcing_gaps_are_an_error_unless_a_fill_method_is_named(tmp_path, capsys):
    from discover.data.synthetic import synthetic_weather
    from discover.data.twin import make_twin

    twin = make_twin(synthetic_weather(2, n_days=120, seed=1), spinup_days=0)
    twin = twin[[n for n in twin.data_vars if not n.startswith("true_")]]
    twin["precipitation"][10, 1] = float("nan")
    twin.to_netcdf(tmp_path / "data.nc")
    config = {
        "data": {"source": "netcdf", "path": "data.nc"},
        "model": {"type": "hbv", "warmup": 30, "parameters": "site"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["check", str(path)]) == 2
    assert "precipitation" in capsys.readouterr().err
    config["data"]["fill"] = "linear"
    path.write_text(yaml.safe_dump(config))
    assert main(["check", str(path)]) == 0
