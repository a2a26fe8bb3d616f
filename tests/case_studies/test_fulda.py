"""End-to-end run of the Fulda case study (case_studies/fulda): real data, one catchment.

The run directory must hold every variant (textbook, neural, reinserted equation and the two
stated hypotheses) with finite held-out scores, a paired comparison for every pair, and a
textbook model that is clearly calibrated: its held-out NSE must beat the day-of-year
climatology of the training flows (NSE 0.13 on 1986–1988) by a wide margin. The floor,
0.6, sits halfway between that climatology and what a calibrated HBV reaches on these years
(0.82–0.83 by discover's calibration and by differential evolution on the same equations,
0.86 reported for another HBV; see the case study's README), so it fails when
calibration breaks, not when a seed or a machine shifts the result by a few hundredths.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import sympy
import yaml

from discover.study import Study

CONFIG = Path(__file__).parents[2] / "case_studies" / "fulda" / "config.yaml"
PHYSICS_NSE_FLOOR = 0.6


@pytest.mark.slow
def test_fulda_case_study(tmp_path):
    out = tmp_path / "run"
    Study.from_config(CONFIG, out=out).run(progress=False)
    config = yaml.safe_load(CONFIG.read_text())
    variants = {"physics", "neural", "symbolic", *config["hypotheses"]}

    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == variants
    for variant in variants:
        held_out = metrics[variant]["test"]["streamflow"]
        assert math.isfinite(held_out["nse"]) and math.isfinite(held_out["kge"]), variant
    assert metrics["physics"]["test"]["streamflow"]["nse"] > PHYSICS_NSE_FLOOR

    comparisons = pd.read_csv(out / "comparisons.csv")
    nse = comparisons[(comparisons["metric"] == "nse") & (comparisons["split"] == "test")]
    pairs = {frozenset(pair) for pair in zip(nse["a"], nse["b"], strict=True)}
    assert pairs == {frozenset(pair) for pair in itertools.combinations(variants, 2)}

    hypotheses = json.loads((out / "hypotheses.json").read_text())
    assert set(hypotheses) == set(config["hypotheses"])
    equations = json.loads((out / "equations.json").read_text())["evapotranspiration"]
    names = {name: sympy.Symbol(name) for name in equations["inputs"]}
    selected = sympy.sympify(equations["selected"]["expression"], locals=names)
    assert {str(s) for s in selected.free_symbols} <= set(equations["inputs"])
