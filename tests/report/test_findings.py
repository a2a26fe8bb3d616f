"""The Findings section, its verdicts and caveats, and the partial-dependence curves, on an
HBV-like run directory with a learned evapotranspiration slot."""

from __future__ import annotations

import json
import shutil
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from discover.report import build_report
from discover.report.caveats import bic_near_ties, small_test
from discover.report.figures.dependence import dependence, et_ratio
from discover.report.rundir import CandidateEntry, SlotEquations
from discover.report.verdicts import verdict

REFITTED = "1.08*pet*soil_wetness**0.64"


def _hbv_run(full_run: Path, tmp_path: Path, sites: int) -> Path:
    """``full_run`` turned into an HBV run with one distilled evapotranspiration slot."""
    run = shutil.copytree(full_run, tmp_path / "run")
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["model"] = {
        "type": "hbv",
        "neural": {"evapotranspiration": {"inputs": ["pet", "soil_wetness"], "output": ">=0"}},
    }
    config["distill"] = {"max_complexity": 5}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    front = [
        {"expression": "0.65*pet", "complexity": 3, "loss": 0.4},
        {"expression": "1.05*pet*soil_wetness**0.69", "complexity": 7, "loss": 0.01},
    ]
    equations = {
        "evapotranspiration": {
            "inputs": ["pet", "soil_wetness"],
            "selected": front[1],
            "pareto": front,
            "engine": "rational+operon",
            "refitted": REFITTED,
        }
    }
    (run / "equations.json").write_text(json.dumps(equations))
    (run / "truth.json").write_text(json.dumps({"evapotranspiration": "pet*soil_wetness**0.5"}))
    provenance = json.loads((run / "provenance.json").read_text())
    provenance["engines"] = {
        "evapotranspiration": {"engine": "rational+operon", "bic": [-10.0, -10.5]}
    }
    (run / "provenance.json").write_text(json.dumps(provenance))
    for folder in ("slots", "importance"):
        shutil.rmtree(run / folder)
    (run / "checks.json").unlink()
    rng = np.random.default_rng(0)
    pet, wetness = rng.uniform(0, 6, 600), rng.uniform(0, 1, 600)
    truth = pet * np.sqrt(wetness)
    (run / "slots").mkdir()
    xr.Dataset(
        {
            "pet": ("sample", pet),
            "soil_wetness": ("sample", wetness),
            "output": ("sample", truth + rng.normal(0, 0.05, 600)),
            "truth": ("sample", truth),
        },
        attrs={"inputs": ["pet", "soil_wetness"]},
    ).to_netcdf(run / "slots" / "evapotranspiration.nc")
    comparisons = pd.DataFrame(
        [
            {"metric": "nse", "a": "physics", "b": "symbolic", "n": sites, "unit": "sites",
             "difference": -0.0371, "ci_low": -0.13, "ci_high": -0.0025, "p_value": 0.002,
             "p_adjusted": 0.004, "test": "Wilcoxon", "winner": "symbolic",
             "strength": "strong evidence", "split": "test"},
        ]
    )  # fmt: skip
    comparisons.to_csv(run / "comparisons.csv", index=False)
    return run


@pytest.fixture(scope="module")
def hbv_report(full_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    run = _hbv_run(full_run, tmp_path_factory.mktemp("hbv"), sites=4)
    return run, build_report(run).read_text()


def _findings(html: str) -> str:
    return html[html.index('id="findings"') : html.index('id="summary"')]


def test_findings_state_the_equation_the_truth_and_the_verdict_as_a_minus_b(
    hbv_report: tuple[Path, str],
) -> None:
    _, html = hbv_report
    findings = _findings(html)
    assert escape(REFITTED) in findings
    assert '<math display="block">' in findings and "<mi>soil_wetness</mi>" in findings
    assert "exponent of soil_wetness: found 0.64, planted 0.5" in findings
    assert (
        "Textbook process: evapotranspiration = pet·min(1, (SM/FC)/lp), with lp = 0.6" in findings
    )
    # physics − symbolic = −0.0371 in the file: stated winner first, with the sign flipped
    assert (
        "symbolic beats physics on the held-out period: median NSE(symbolic) − NSE(physics) "
        "= +0.0371 [+0.0025, +0.13] over 4 sites" in findings
    )
    assert (
        "Conclusion: the model with the discovered equations fits the held-out period better"
        in findings
    )


def test_findings_flag_the_small_test_and_the_bic_near_tie(hbv_report: tuple[Path, str]) -> None:
    findings = _findings(hbv_report[1])
    assert (
        "With 4 sites the two-sided Wilcoxon signed-rank test cannot give p below 0.125" in findings
    )
    assert "candidate 0.65*pet (complexity 3) is within ΔBIC 0.5 of the selected one" in findings


def test_lowest_attainable_p_caveat_depends_on_the_number_of_sites() -> None:
    table = pd.DataFrame({"n": [4], "unit": ["sites"], "test": ["Wilcoxon"]})
    assert "cannot give p below 0.125" in small_test(table)[0]
    assert small_test(table.assign(n=20)) == []
    assert small_test(table.assign(n=5))[0].startswith("With 5 sites")  # 0.0625 > 0.05


def test_near_tie_only_below_two_bic_units() -> None:
    front = (CandidateEntry("x", 1, 1.0), CandidateEntry("2*x", 3, 0.5))
    entry = SlotEquations("h", ("x",), "e", front[1], front)
    assert len(bic_near_ties("h", entry, [-99.991, -100.0])) == 1
    assert bic_near_ties("h", entry, [-97.0, -100.0]) == []


def test_verdict_orients_the_difference_with_the_sentence() -> None:
    row = pd.Series({"metric": "nse", "a": "physics", "b": "neural", "difference": -0.0394,
                     "ci_low": -0.116, "ci_high": -0.00825, "p_value": 0.001, "n": 20,
                     "strength": "strong evidence"})  # fmt: skip
    v = verdict(row)
    assert (v.first, v.second, v.difference, v.ci) == (
        "neural",
        "physics",
        0.0394,
        (0.00825, 0.116),
    )
    assert (
        "neural beats physics" in v.sentence()
        and "NSE(neural) − NSE(physics) = +0.0394" in v.sentence()
    )


def test_partial_dependence_draws_the_textbook_curve(hbv_report: tuple[Path, str]) -> None:
    run, html = hbv_report
    assert (run / "figures" / "slot_evapotranspiration.png").is_file()
    assert "textbook process" in html and "lp = 0.6 (middle of its bounds" in html
    from discover.report.textbook import textbook_process

    textbook = textbook_process({"type": "hbv"}, "evapotranspiration", ("pet", "soil_wetness"))
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.uniform(0, 6, 400), rng.uniform(0, 1, 400)])
    functions = {"textbook process": lambda X: textbook({"pet": X[:, 0], "soil_wetness": X[:, 1]})}
    over_pet, over_wetness = dependence(("pet", "soil_wetness"), X, X[:, 0] * X[:, 1], functions)
    pet = over_wetness.fixed["pet"]
    expected = pet * np.minimum(1.0, over_wetness.grid / 0.6)
    np.testing.assert_allclose(over_wetness.curves["textbook process"], expected)
    ratio = et_ratio(("pet", "soil_wetness"), X, X[:, 0] * X[:, 1], functions)
    np.testing.assert_allclose(ratio.curves["textbook process"], np.minimum(1.0, ratio.grid / 0.6))
    assert np.all(np.abs(ratio.network_y - ratio.network_x) < 0.05)  # ET/PET = SW for this net
