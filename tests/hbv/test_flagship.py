"""The flagship demo end to end (run with ``-m slow``): a planted evapotranspiration law is
learned by a neural slot, distilled, reinserted, and tested against the textbook model.

One run of ``discover/demos/hbv_et_twin.yaml`` is shared by the tests of this module."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sympy
import xarray as xr

from discover.distill.postprocess import numpy_function
from discover.expressions import parse_expression
from discover.study import Study

CONFIG = Path(__file__).parents[2] / "discover" / "demos" / "hbv_et_twin.yaml"
NAMES = ["pet", "soil_wetness"]
PLANTED = "pet*soil_wetness**0.5"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("flagship")
    started = time.perf_counter()
    Study.from_config(CONFIG, out=folder).run(progress=False)
    seconds = time.perf_counter() - started
    timings = json.loads((folder / "provenance.json").read_text())["timings_s"]
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
    print(f"\nflagship wall time {seconds:.0f} s (load average {os.getloadavg()}): {stages}")
    return folder


@pytest.mark.slow
def test_reinserted_equation_beats_the_textbook_on_held_out_data(run):
    metrics = json.loads((run / "metrics.json").read_text())
    nse = {v: metrics[v]["test"]["streamflow"]["nse"] for v in ("physics", "symbolic")}
    tests = pd.read_csv(run / "comparisons.csv")
    pair = (tests.a == "physics") & (tests.b == "symbolic")
    row = tests[(tests.metric == "nse") & (tests.split == "test") & pair].iloc[0]
    print(f"held-out NSE (median over sites) {nse}; {row.sentence}")
    assert nse["symbolic"] > nse["physics"]
    assert row.winner == "symbolic" and row.p_value < 0.05
    report = (run / "report.md").read_text()
    assert "planted truth" in report and "symbolic beats physics" in report


@pytest.mark.slow
def test_the_planted_form_is_on_the_front(run, power_law):
    entry = json.loads((run / "equations.json").read_text())["evapotranspiration"]
    facts = json.loads((run / "provenance.json").read_text())["engines"]["evapotranspiration"]
    for row in facts.get("shortlist", []):
        print(
            f"validation error {row['validation_error']:.4f}, p(worse) {row['p_worse']:.3g}, "
            f"trained in {row['seconds']:.0f} s: {row['expression']}"
        )
    laws = []
    for candidate in entry["pareto"]:
        try:
            constant, exponents = power_law(parse_expression(candidate["expression"], NAMES))
        except AssertionError:  # not a product of powers
            continue
        if set(exponents) == set(NAMES):
            laws.append(exponents)
    assert laws, "no power law of both inputs on the front"
    assert any(_planted_form(e) for e in laws), laws


def _planted_form(exponents: dict[str, float]) -> bool:
    """``c·pet·SW^b`` with ``b`` nearer the planted 0.5 than the integer forms beside it
    (``c·pet``, ``c·pet·SW``) by a margin: ``|b − 0.5| < 0.25``."""
    return (
        exponents["pet"] == pytest.approx(1.0, abs=0.05)
        and abs(exponents["soil_wetness"] - 0.5) < 0.25
    )


def _selected_power_law(run: Path, power_law) -> tuple[sympy.Expr, float, dict[str, float]]:
    """The selected equation as trained in the model, with its constant and exponents."""
    entry = json.loads((run / "equations.json").read_text())["evapotranspiration"]
    refitted = parse_expression(entry["refitted"], NAMES)
    print(f"selected {entry['selected']['expression']}; trained {refitted}")
    constant, exponents = power_law(refitted)
    return refitted, constant, exponents


@pytest.mark.slow
def test_selected_equation_has_the_planted_form(run, power_law):
    _, _, exponents = _selected_power_law(run, power_law)
    assert set(exponents) == set(NAMES) and _planted_form(exponents), exponents


@pytest.mark.slow
@pytest.mark.xfail(
    reason="the form c·pet·SW^b is selected, but its wetness exponent, trained from scratch "
    "for 100 steps with the parameter learning, ends at 0.64 with seed 0 (0.46, 0.48 with "
    "seeds 1, 2; planted 0.5): it trades off against the learned soil parameters (see "
    "case_studies/hbv_et_twin/README.md)",
    strict=True,
)
def test_selected_equation_has_the_planted_values(run, power_law):
    refitted, constant, exponents = _selected_power_law(run, power_law)
    assert exponents["soil_wetness"] == pytest.approx(0.5, rel=0.1)
    # close to the truth on a fresh uniform grid over the visited wetness and up to 1.5 x
    # the largest visited pet (an extrapolation)
    visited = xr.open_dataset(run / "slots" / "evapotranspiration.nc")
    axes = [
        np.linspace(0.0, 1.5 * float(visited["pet"].max()), 40),
        np.linspace(float(visited["soil_wetness"].min()), float(visited["soil_wetness"].max()), 40),
    ]
    grid = np.column_stack([a.ravel() for a in np.meshgrid(*axes)])
    truth = numpy_function(parse_expression(PLANTED, NAMES), NAMES)(grid)
    found = numpy_function(refitted, NAMES)(grid)
    r2 = 1.0 - np.mean((found - truth) ** 2) / np.var(truth)
    print(f"c = {constant:.3g}; R² against {PLANTED} on the grid: {r2:.4f}")
    assert r2 > 0.98
