"""Acceptance of parameter regionalization (case_studies/parameter_regionalization).

Field capacity is planted as fc = 60 + 150*soil_depth*(1 + forest_fraction) over 60 sites;
a neural parameter slot sees nine attributes, seven of them distractors. SHAP must rank
soil_depth and forest_fraction above every distractor; the selected equation must have the
planted structure (the same monomials in the same attributes) and predict fc on fresh sites
(attributes the method never saw) with R² > 0.95.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy
import torch
import yaml

from discover.data.synthetic import synthetic_weather
from discover.expressions import parse_expression
from discover.study import Study

CASE = Path(__file__).parents[2] / "case_studies" / "parameter_regionalization"
TRUE_INPUTS = {"soil_depth", "forest_fraction"}


def make_case(folder: Path, fast: bool) -> tuple[Path, dict]:
    """The case study's config in ``folder`` (shrunk to seconds when ``fast``) and its dict."""
    config = yaml.safe_load((CASE / "config.yaml").read_text())
    if fast:
        config["data"].update(sites=30, days=400)
        config["model"]["warmup"] = 150
        config["train"].update(iterations=4, eval_every=2)
        config["distill"].update(engine="rational", time_budget_s=60, selection_refit_steps=1)
        config["reinsert"].update(iterations=2)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, config


def run(folder: Path, fast: bool) -> tuple[Study, dict]:
    path, config = make_case(folder, fast)
    torch.manual_seed(0)
    study = Study.from_config(path)
    study.fit(progress=False)
    study.distill("fc")
    study.reinsert("fc")
    return study, config


def fresh_sites(names: list[str], n: int = 200) -> dict[str, np.ndarray]:
    """Attributes of ``n`` new sites (another seed than the study's)."""
    weather = synthetic_weather(n, n_days=30, seed=12345)
    return {name: weather[name].values.astype(float) for name in names}


def test_parameter_slot_study_runs_every_stage_on_site_attributes(tmp_path):
    study, config = run(tmp_path, fast=True)
    inputs = config["model"]["neural"]["fc"]["inputs"]
    samples = study.samples["fc"]
    assert samples.names == tuple(inputs) and len(samples.y) == config["data"]["sites"]
    ranking, kept = study.rankings["fc"]
    assert set(ranking.names) == set(inputs) and set(kept) <= set(inputs)
    process = study.model.slots["fc"]
    assert process.kind == "symbolic"
    assert {s.name for s in process.expression().free_symbols} <= set(kept)
    fc = study.workflow.parameters_by_name()["fc"].detach()
    assert fc.shape == (config["data"]["sites"], 1)
    assert bool(((fc >= 50) & (fc <= 1000)).all())


@pytest.mark.slow
def test_regionalization_recovers_the_planted_field_capacity(tmp_path):
    study, config = run(tmp_path, fast=False)
    ranking, _ = study.rankings["fc"]
    order = [name for name, _ in ranking.ranked()]
    assert set(order[:2]) == TRUE_INPUTS, f"SHAP ranking {ranking.ranked()}"

    inputs = config["model"]["neural"]["fc"]["inputs"]
    truth = parse_expression(config["truth"]["fc"], inputs)
    found = study.model.slots["fc"].expression(8)
    monomials = lambda e: set(sympy.Poly(sympy.expand(e), *truth.free_symbols).monoms())  # noqa: E731
    assert found.free_symbols == truth.free_symbols, f"fc = {found}"
    assert monomials(found) == monomials(truth), f"fc = {found} vs {truth}"

    attributes = fresh_sites(inputs)
    planted = sympy.lambdify(sorted(truth.free_symbols, key=str), truth)(
        *(attributes[s.name] for s in sorted(truth.free_symbols, key=str))
    )
    with torch.no_grad():
        values = {k: torch.as_tensor(v) for k, v in attributes.items()}
        predicted = study.workflow.slot_parameter("fc", values)[:, 0].numpy()
    r2 = 1 - np.sum((predicted - planted) ** 2) / np.sum((planted - planted.mean()) ** 2)
    assert r2 > 0.95, f"R² {r2:.3f} of fc on 200 fresh sites"
