"""Acceptance of the Lotka–Volterra universal differential equation (case_studies/lotka_volterra).

One whole run (what `discover run` does; with `reinsert.refit: all` it distills one slot at a
time, each equation reinserted and the model refitted before the next slot) must give:
- the trained hybrid reproduces the noise-free trajectory (relative L2 error < 0.1);
- each network, over the samples it was distilled from, matches its planted interaction
  beta*x*y or gamma*x*y with R² > 0.95;
- the equations have the form c*x*y with |c - beta|, |c - gamma| < 0.09 after refitting;
- the reinserted system stays within L2 < 0.5 and L-infinity < 0.15 of the noise-free
  trajectory.
The figures are read from the run directory by the case study's own `check.py`. The run
(the config selects by held-out error, its README says at what cost) takes several
minutes, so it is in the slow suite; the default suite runs the same
pipeline on Lotka–Volterra through notebook 02 (tests/notebooks) and the small ODE studies of
tests/core.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from discover.study import Study

SCRIPT = Path(__file__).parents[2] / "case_studies" / "lotka_volterra" / "check.py"
_spec = importlib.util.spec_from_file_location("lotka_volterra_check", SCRIPT)
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)


@pytest.mark.slow
def test_lotka_volterra_case_study(make_case, tmp_path):
    config, write = make_case(tmp_path, fast=False)
    run = tmp_path / "run"
    Study.from_config(write(config), out=run).run(progress=False)
    truth = check.read_truth(tmp_path / "truth.csv")
    failures = []
    hybrid = check.trajectory_errors(run, "neural", truth)
    if not hybrid["relative_l2"] < 0.1:
        failures.append(f"trained hybrid: relative L2 {hybrid['relative_l2']:.3f}")
    for slot, r2 in check.network_r_squared(run).items():
        if not r2 > 0.95:
            failures.append(f"{slot} network: R² {r2:.4f} against the planted interaction")
    for slot, (text, c) in check.interaction_coefficients(run).items():
        if c is None:
            failures.append(f"{slot} = {text} is not of the form c*x*y")
        elif not abs(c - check.PLANTED[slot]) < 0.09:
            failures.append(f"{slot}: {c:.3f} vs {check.PLANTED[slot]}")
    reinserted = check.trajectory_errors(run, "symbolic", truth)
    if not (reinserted["l2"] < 0.5 and reinserted["linf"] < 0.15):
        failures.append("reinserted system: L2 {l2:.3f}, Linf {linf:.3f}".format(**reinserted))
    assert not failures, "; ".join(failures)
