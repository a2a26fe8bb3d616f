"""Acceptance of the Lotka–Volterra universal differential equation (case_studies/lotka_volterra).

The trained hybrid must reproduce the noise-free trajectory (relative L2 error < 0.1) and its
networks must match the interaction terms beta*x*y and gamma*x*y with R² > 0.95 over the
domain the model visits. The whole run (`discover run`: with `reinsert.refit: all` it distills
one slot at a time, each equation reinserted and the model refitted before the next slot)
must select equations of the form c*x*y with |c - beta|, |c - gamma| < 0.09, and the
reinserted system must stay within L2 < 0.5 and L-infinity < 0.15 of the noise-free
trajectory.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import sympy

from discover.study import Study

SCRIPT = Path(__file__).parents[2] / "case_studies" / "lotka_volterra" / "recover.py"
_spec = importlib.util.spec_from_file_location("lotka_volterra_recover", SCRIPT)
recover = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recover)


def trained_hybrid_failures(study: Study, truth: np.ndarray) -> list[str]:
    failures = []
    relative, _, _ = recover.trajectory_errors(study, truth)
    if not relative < 0.1:
        failures.append(f"relative L2 error of the trajectory {relative:.3f}")
    for slot, r2 in recover.networks_vs_planted(study).items():
        if not r2 > 0.95:
            failures.append(f"{slot}: R² {r2:.4f} against the planted interaction")
    return failures


def recovered_equation_failures(study: Study, truth: np.ndarray) -> list[str]:
    failures = []
    x, y = sympy.symbols("x y", real=True)
    for slot, coefficient in recover.PLANTED.items():
        expression = study.model.slots[slot].expression(6)
        c = sympy.simplify(expression / (x * y))
        if not c.is_number:
            failures.append(f"{slot} = {expression} is not of the form c*x*y")
        elif not abs(float(c) - coefficient) < 0.09:
            failures.append(f"{slot}: {float(c):.3f} vs {coefficient}")
    _, l2, linf = recover.trajectory_errors(study, truth)
    if not (l2 < 0.5 and linf < 0.15):
        failures.append(f"reinserted system: L2 {l2:.3f}, Linf {linf:.3f}")
    return failures


@pytest.mark.slow
def test_lotka_volterra_case_study(make_case, tmp_path):
    config, write = make_case(tmp_path, fast=False)
    path = write(config)
    truth = np.loadtxt(tmp_path / "truth.csv", delimiter=",", skiprows=1)[:, 1:]
    hybrid = Study.from_config(path)
    hybrid.fit(progress=False)
    failures = trained_hybrid_failures(hybrid, truth)
    study = Study.from_config(path, out=tmp_path / "run")  # what `discover run` does
    study.run(progress=False)
    failures += recovered_equation_failures(study, truth)
    assert not failures, "; ".join(failures)
