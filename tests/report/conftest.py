"""Fabricated run directories in the documented formats (docs/run_directory.md)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

VARIABLES = {"flow": "mm/d", "storage": "mm"}
VARIANTS = ("physics", "neural", "symbolic")
FRONT = [
    ("0.5*x", 3, 0.1),
    ("0.8*x*y", 5, 1e-2),
    ("x*y/(x + 1.0)", 7, 1e-4),
    ("x*y/(x + 1.0) + 0.001*y**2", 11, 9e-5),
]
SENTENCES = {
    ("physics", "neural"): "neural beats physics on NSE at 5 of 5 sites (p = 0.031).",
    ("physics", "symbolic"): "symbolic beats physics on NSE at 4 of 5 sites (p = 0.062).",
    ("neural", "symbolic"): "neural and symbolic do not differ clearly on NSE (p = 0.81).",
}
TESTS = (
    (-0.1, -0.2, -0.05, 0.031, "neural", "moderate evidence"),
    (-0.08, -0.15, 0.01, 0.062, "symbolic", "weak evidence"),
    (0.01, -0.02, 0.03, 0.81, "neural", "no clear evidence"),
)
"""Per pair of SENTENCES: median difference a − b, its interval, p, winner, evidence."""
VERDICTS = (
    "neural beats physics on the held-out period: median NSE(neural) − NSE(physics) = +0.1 "
    "[+0.05, +0.2] over 5 sites, Wilcoxon p = 0.031, Holm-adjusted 0.062 (moderate evidence).",
    "symbolic scores ahead of physics on the held-out period, but the data do not separate "
    "them: median NSE(symbolic) − NSE(physics) = +0.08 [-0.01, +0.15] over 5 sites",
)
"""What the report says of the first two tests."""
G_FAILURE = "engine rational+operon timed out after 60 s"
FALLBACK = "PySR cannot run here: julia is not installed"
RULE = "largest drop of log(loss) per unit of complexity"


def _config(distill: bool) -> dict:
    return {
        "name": "twin_study",
        "seed": 3,
        "description": "Does a saturating interaction close the two-store model?",
        "data": {"path": "data.csv", "time": "t"},
        "model": {
            "type": "ode",
            "states": ["x", "y"],
            "parameters": {"alpha": 1.3, "delta": 1.8},
            "equations": {"x": "alpha*x - F(x, y)", "y": "-delta*y + G(x)"},
            "neural": {
                "F": {"inputs": ["x", "y"], "output": ">=0", "hidden": [32, 32]},
                "G": {"inputs": ["x"], "output": None, "hidden": [16]},
            },
        },
        "train": {"split": 0.7, "iterations": 300},
        "distill": {"engine": "auto"} if distill else None,
    }


def _simulations(sites: list[str], rng: np.random.Generator) -> xr.Dataset:
    time = pd.date_range("2001-01-01", periods=200, freq="D")
    split = np.array(["warmup"] * 20 + ["train"] * 120 + ["test"] * 60)
    data = {}
    for k, (variable, units) in enumerate(VARIABLES.items()):
        base = (
            5
            + 3 * np.sin(np.arange(200) / (10 + 5 * k))[:, None]
            + rng.gamma(2, 1, (1, len(sites)))
        )
        observed = base + rng.normal(0, 0.3, base.shape)
        observed[rng.random(base.shape) < 0.05] = np.nan
        simulated = np.stack([base + rng.normal(0, s, base.shape) for s in (1.0, 0.3, 0.4)])
        data[f"{variable}_observed"] = (("time", "site"), observed, {"units": units})
        data[variable] = (("variant", "time", "site"), simulated, {"units": units})
    coords = {"time": time, "site": sites, "variant": list(VARIANTS), "split": ("time", split)}
    return xr.Dataset(data, coords=coords)


def _site_table(sites: list[str], rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for variant, quality in zip(VARIANTS, (0.4, 0.8, 0.75), strict=True):
        for split in ("train", "test"):
            for variable in VARIABLES:
                for site in sites:
                    nse = (
                        quality
                        - rng.uniform(0, 0.5)
                        - (1.5 if len(sites) > 1 and site == sites[-1] else 0)
                    )
                    for metric, value in (("nse", nse), ("kge", nse + 0.05), ("rmse", 1 - nse)):
                        rows.append((variant, split, variable, site, metric, value))
    return pd.DataFrame(rows, columns=["variant", "split", "variable", "site", "metric", "value"])


def _medians(table: pd.DataFrame) -> dict:
    metrics: dict = {}
    for (variant, split, variable, metric), values in table.groupby(
        ["variant", "split", "variable", "metric"], sort=False
    )["value"]:
        metrics.setdefault(variant, {}).setdefault(split, {}).setdefault(variable, {})[metric] = (
            float(values.median())
        )
    return metrics


def _history(path: Path) -> None:
    iterations = np.arange(1, 301)
    train = 2.0 * np.exp(-iterations / 60) + 0.05
    val = np.where(iterations % 10 == 0, train * 1.2 + 0.01, np.nan)
    table = pd.DataFrame({"iteration": iterations, "train": train, "test": val, "lr": 0.01})
    table.to_csv(path, index=False)


def _slot_samples(
    path: Path, inputs: list[str], truth, rng: np.random.Generator, output_range: str | None = None
) -> None:
    X = rng.uniform(0.1, 3.0, (400, len(inputs)))
    exact = truth(X)
    data = {name: ("sample", X[:, i], {"units": "mm"}) for i, name in enumerate(inputs)}
    data["output"] = ("sample", exact + rng.normal(0, 0.02, exact.shape), {"units": "mm/d"})
    data["truth"] = ("sample", exact, {"units": "mm/d"})
    path.parent.mkdir(exist_ok=True)
    attrs = {"inputs": inputs, "units": "mm/d"}
    if output_range is not None:
        attrs["output_range"] = output_range  # as the model held it
    xr.Dataset(data, attrs=attrs).to_netcdf(path)


def write_run(path: Path, *, sites: int, distill: bool) -> Path:
    """A finished run directory; ``distill`` adds slots, equations, tests and checks."""
    rng = np.random.default_rng(0)
    path.mkdir(parents=True, exist_ok=True)
    labels = [f"s{i:02d}" for i in range(1, sites + 1)]
    (path / "config.yaml").write_text(yaml.safe_dump(_config(distill), sort_keys=False))
    table = _site_table(labels, rng)
    table.to_csv(path / "metrics_sites.csv", index=False)
    (path / "metrics.json").write_text(json.dumps(_medians(table)))
    _history(path / "history.csv")
    _simulations(labels, rng).to_netcdf(path / "simulations.nc")
    provenance = {
        "discover": "0.1.0",
        "python": "3.12.1",
        "torch": "2.13.0",
        "numpy": "2.1.0",
        "platform": "Linux-x86_64",
        "seed": 3,
        "config_digest": "9f2c1ab4",
        "device": "cpu",
        "timings_s": {"fit": 12.5, "validate": 1.5},
        "training": {"stopped": "iterations", "best_iteration": 290, "best_val": 0.06},
        "engines": {},
    }
    if distill:
        provenance["timings_s"]["distill"] = 30.0
        provenance["engines"] = {
            "F": {
                "engine": "rational+operon",
                "requested_engine": "auto",
                "fallback_reason": FALLBACK,
                "selection_rule": RULE,
                "search_seconds": 12.25,
            },
            "G": {"engine": None, "error": G_FAILURE},
        }
        _write_distillation(path, rng)
    (path / "provenance.json").write_text(json.dumps(provenance))
    return path


def _write_distillation(path: Path, rng: np.random.Generator) -> None:
    front = [{"expression": e, "complexity": c, "loss": loss} for e, c, loss in FRONT]
    equations = {
        "F": {
            "inputs": ["x", "y"],
            "selected": front[2],
            "pareto": front,
            "engine": "rational+operon",
            "refitted": "x*y/(1.02*x + 0.99)",
        },
        "G": {"inputs": ["x"], "error": G_FAILURE},
    }
    (path / "equations.json").write_text(json.dumps(equations))
    (path / "truth.json").write_text(json.dumps({"F": "x*y/(1 + x)", "G": "0.5*x"}))
    _slot_samples(
        path / "slots" / "F.nc", ["x", "y"], lambda X: X[:, 0] * X[:, 1] / (1 + X[:, 0]), rng
    )
    _slot_samples(path / "slots" / "G.nc", ["x"], lambda X: 0.5 * X[:, 0], rng, "[0, 2]")
    (path / "importance").mkdir()
    (path / "importance" / "F.json").write_text(
        json.dumps({"inputs": ["x", "y"], "mean_abs_shap": [0.3, 0.5], "kept": ["x", "y"]})
    )
    rows = [
        {
            "metric": "nse",
            "a": a,
            "b": b,
            "n": 5,
            "unit": "sites",
            "difference": difference,
            "ci_low": low,
            "ci_high": high,
            "p_value": p,
            "p_adjusted": min(1.0, 2 * p),
            "test": "Wilcoxon",
            "winner": winner,
            "strength": strength,
            "sentence": sentence,
            "split": "test",
            "variable": "flow",
        }  # fmt: skip
        for ((a, b), sentence), (difference, low, high, p, winner, strength) in zip(
            SENTENCES.items(), TESTS, strict=True
        )
    ]
    pd.DataFrame(rows).to_csv(path / "comparisons.csv", index=False)
    checks = {
        "symbolic": {
            "F": [
                {"check": "finite", "region": "visited", "passed": True, "sentence": "finite"},
                {"check": "range", "region": "extrapolated", "passed": False, "sentence": "F < 0."},
            ]
        }
    }  # fmt: skip
    (path / "checks.json").write_text(json.dumps(checks))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two slots (F distilled after an engine fallback, G failed), 5 sites, 3 variants."""
    return write_run(tmp_path_factory.mktemp("full"), sites=5, distill=True)


@pytest.fixture(scope="module")
def minimal_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """No distillation (no equations.json, no slots/), one site."""
    return write_run(tmp_path_factory.mktemp("minimal"), sites=1, distill=False)


@pytest.fixture(scope="session")
def planted() -> SimpleNamespace:
    """What the fabricated runs state, for tests to look for in the report."""
    return SimpleNamespace(
        front=FRONT,
        sentences=SENTENCES,
        verdicts=VERDICTS,
        g_failure=G_FAILURE,
        fallback=FALLBACK,
        rule=RULE,
    )
