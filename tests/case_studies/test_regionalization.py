"""Acceptance of parameter regionalization (case_studies/parameter_regionalization).

One HBV parameter is planted as a closed-form function of two site attributes over 200
sites (the config's ``truth``); a neural parameter slot sees nine attributes, seven of them
distractors. SHAP must rank the planted attributes above every distractor; the selected
equation must have the planted structure (the same monomials in the same attributes), its
constants within 10% once refitted in the model, and predict the parameter on fresh sites
(attributes the method never saw) with R² > 0.95. The planted form and its rival of the
same complexity, stated as hypotheses (config ``hypotheses:``) and trained alike from
neutral constants, must be told apart by held-out streamflow in favour of the planted one.
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
from discover.models.hbv_processes import HBV_BOUNDS
from discover.study import Study

CASE = Path(__file__).parents[2] / "case_studies" / "parameter_regionalization"


def make_case(folder: Path, fast: bool) -> tuple[Path, dict]:
    """The case study's config in ``folder`` (shrunk to seconds when ``fast``) and its dict."""
    config = yaml.safe_load((CASE / "config.yaml").read_text())
    if fast:
        config["data"].update(sites=30, days=250)
        config["model"]["warmup"] = 100
        config["train"].update(iterations=4, eval_every=2)
        config["distill"].update(
            engine="rational",
            time_budget_s=60,  # never reached: the equations do not depend on the load
            selection="front",
            options={"degree": 1, "max_numerator_terms": 2, "max_denominator_terms": 1},
        )
        config["reinsert"].update(iterations=2)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, config


def run(folder: Path, fast: bool) -> tuple[Study, dict, str]:
    """The study after fit, distill and reinsert; its config and the parameter slot."""
    path, config = make_case(folder, fast)
    (slot,) = config["truth"]
    torch.manual_seed(0)
    study = Study.from_config(path)
    study.fit(progress=False)
    study.distill(slot)
    study.reinsert(slot)
    return study, config, slot


def fresh_sites(names: list[str], n: int = 200) -> dict[str, np.ndarray]:
    """Attributes of ``n`` new sites (another seed than the study's)."""
    weather = synthetic_weather(n, n_days=30, seed=12345)
    return {name: weather[name].values.astype(float) for name in names}


def test_parameter_slot_study_runs_every_stage_on_site_attributes(tmp_path):
    study, config, slot = run(tmp_path, fast=True)
    inputs = config["model"]["neural"][slot]["inputs"]
    samples = study.samples[slot]
    assert samples.names == tuple(inputs) and len(samples.y) == config["data"]["sites"]
    ranking, kept = study.rankings[slot]
    assert set(ranking.names) == set(inputs) and set(kept) <= set(inputs)
    process = study.model.slots[slot]
    assert process.kind == "symbolic"
    assert {s.name for s in process.expression().free_symbols} <= set(kept)
    values = study.workflow.parameters_by_name()[slot].detach()
    bound = HBV_BOUNDS[slot]
    assert values.shape == (config["data"]["sites"], 1)
    assert bool(((values >= bound.low) & (values <= bound.high)).all())


@pytest.mark.slow
def test_regionalization_recovers_the_planted_parameter(tmp_path):
    study, config, slot = run(tmp_path, fast=False)
    inputs = config["model"]["neural"][slot]["inputs"]
    truth = parse_expression(config["truth"][slot], inputs)
    planted_inputs = {s.name for s in truth.free_symbols}
    ranking, _ = study.rankings[slot]
    order = [name for name, _ in ranking.ranked()]
    assert set(order[: len(planted_inputs)]) == planted_inputs, f"SHAP {ranking.ranked()}"

    found = study.model.slots[slot].expression(8)
    assert found.free_symbols == truth.free_symbols, f"{slot} = {found}"
    assert_same_polynomial(found, truth, tolerance=0.1)

    attributes = fresh_sites(inputs)
    planted = sympy.lambdify(sorted(truth.free_symbols, key=str), truth)(
        *(attributes[s.name] for s in sorted(truth.free_symbols, key=str))
    )
    with torch.no_grad():
        values = {k: torch.as_tensor(v) for k, v in attributes.items()}
        predicted = study.workflow.slot_parameter(slot, values)[:, 0].numpy()
    r2 = 1 - np.sum((predicted - planted) ** 2) / np.sum((planted - planted.mean()) ** 2)
    assert r2 > 0.95, f"R² {r2:.3f} of {slot} on 200 fresh sites"


@pytest.mark.slow
def test_held_out_streamflow_favours_the_planted_form_over_its_rival(tmp_path):
    path, config = make_case(tmp_path, fast=False)
    study = Study.from_config(path)
    for name in ("H_planted", "H_rational"):
        study.fit_hypothesis(name, progress=False)
    (row,) = study.compare("test").query("metric == 'nse'").itertuples()
    assert {row.a, row.b} == {"H_planted", "H_rational"}
    assert row.winner == "H_planted" and row.p_value < 0.05, row


def assert_same_polynomial(found: sympy.Expr, truth: sympy.Expr, tolerance: float) -> None:
    """``found`` has exactly the monomials of ``truth``, each coefficient within
    ``tolerance`` (relative) of the planted one."""
    symbols = sorted(truth.free_symbols, key=str)
    planted = sympy.Poly(sympy.expand(truth), *symbols).as_dict()
    fitted = sympy.Poly(sympy.expand(found), *symbols).as_dict()
    assert set(fitted) == set(planted), f"{found} vs {truth}"
    for monomial, value in planted.items():
        assert abs(float(fitted[monomial]) / float(value) - 1) < tolerance, f"{found} vs {truth}"
