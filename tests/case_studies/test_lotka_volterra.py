"""Acceptance of the Lotka–Volterra universal differential equation (case_studies/lotka_volterra).

The trained hybrid must reproduce the noise-free trajectory (relative L2 error < 0.1) and its
networks must match the interaction terms beta*x*y and gamma*x*y with R² > 0.95 over the
domain the model visits; after distillation and reinsertion the equations must have the form
c*x*y with |c - beta|, |c - gamma| < 0.09.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy

from discover.distill.probe import probe
from discover.study import Study

BETA, GAMMA = 0.9, 0.8


def r_squared(predicted: np.ndarray, truth: np.ndarray) -> float:
    return 1 - float(((predicted - truth) ** 2).sum() / ((truth - truth.mean()) ** 2).sum())


def check_trained_hybrid(study: Study, folder: Path) -> None:
    truth = np.loadtxt(folder / "truth.csv", delimiter=",", skiprows=1)[:, 1:]
    simulated = study.simulate()[:, 0, :]
    error = np.linalg.norm(simulated - truth) / np.linalg.norm(truth)
    assert error < 0.1, f"relative L2 error of the trajectory {error:.3f}"
    samples = probe(study.model, study.workflow.simulate, size=2000)
    for slot, coefficient in (("F", BETA), ("G", GAMMA)):
        X, y = samples[slot].X, samples[slot].y
        r2 = r_squared(y, coefficient * X[:, 0] * X[:, 1])
        assert r2 > 0.95, f"{slot}: R² {r2:.3f} against the planted interaction"


def check_recovered_equations(study: Study) -> None:
    x, y = sympy.symbols("x y", real=True)
    for slot, coefficient in (("F", BETA), ("G", GAMMA)):
        expression = study.model.slots[slot].expression(6)
        c = sympy.simplify(expression / (x * y))
        assert c.is_number, f"{slot} = {expression} is not of the form c*x*y"
        assert abs(float(c) - coefficient) < 0.09, f"{slot}: {float(c):.3f} vs {coefficient}"


@pytest.mark.slow
def test_lotka_volterra_case_study(make_case, tmp_path):
    config, write = make_case(tmp_path, fast=False)
    study = Study.from_config(write(config), out=tmp_path / "run")
    study.fit(progress=False)
    check_trained_hybrid(study, tmp_path)
    for slot in ("F", "G"):
        study.distill(slot)
        study.reinsert(slot)
    check_recovered_equations(study)
