"""Acceptance figures of a finished Lotka–Volterra run, against the noise-free truth.

Reads the run directory that ``discover run config.yaml --out DIR`` wrote and prints:
the trained hybrid's (variant ``neural``) trajectory error, each network against its
planted interaction over the samples it was distilled from (``slots/<slot>.nc``), the
selected and refitted equations, and the reinserted system's (variant ``symbolic``)
trajectory error. ``README.md`` quotes this output.

Usage: python check.py DIR [--truth truth.csv]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import sympy
import xarray as xr

PLANTED = {"F": 0.9, "G": 0.8}
"""The planted interaction coefficients (beta, gamma) of F = beta*x*y and G = gamma*x*y."""

STATES = ("x", "y")


def r_squared(predicted: np.ndarray, target: np.ndarray) -> float:
    """Coefficient of determination of ``predicted`` against ``target`` (both [samples])."""
    return 1 - float(((predicted - target) ** 2).sum() / ((target - target.mean()) ** 2).sum())


def trajectory_errors(run: Path, variant: str, truth: np.ndarray) -> dict[str, float]:
    """Relative L2, L2 and L-infinity error of ``variant``'s states [time, state] vs truth."""
    with xr.open_dataset(run / "simulations.nc") as simulations:
        simulated = np.stack([simulations[s].sel(variant=variant).values[:, 0] for s in STATES], 1)
    error = simulated - truth
    return {
        "relative_l2": float(np.linalg.norm(error) / np.linalg.norm(truth)),
        "l2": float(np.linalg.norm(error)),
        "linf": float(np.abs(error).max()),
    }


def network_r_squared(run: Path) -> dict[str, float]:
    """R² of each distilled network against its planted interaction over its samples."""
    scores = {}
    for slot, coefficient in PLANTED.items():
        with xr.open_dataset(run / "slots" / f"{slot}.nc") as samples:
            planted = coefficient * samples["x"].values * samples["y"].values
            scores[slot] = r_squared(samples["output"].values, planted)
    return scores


def interaction_coefficients(run: Path) -> dict[str, tuple[str, float | None]]:
    """``{slot: (refitted equation, c)}`` with ``c`` when the equation is ``c*x*y``."""
    equations = json.loads((run / "equations.json").read_text())
    x, y = sympy.symbols("x y", real=True)
    found = {}
    for slot in PLANTED:
        text = equations[slot].get("refitted") or equations[slot]["selected"]["expression"]
        ratio = sympy.simplify(sympy.sympify(text, locals={"x": x, "y": y}) / (x * y))
        found[slot] = (text, float(ratio) if ratio.is_number else None)
    return found


def read_truth(path: Path) -> np.ndarray:
    """Noise-free states [time, state] from ``truth.csv`` (columns t, x, y)."""
    return np.loadtxt(path, delimiter=",", skiprows=1)[:, 1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run directory of `discover run`")
    parser.add_argument("--truth", type=Path, default=Path(__file__).parent / "truth.csv")
    args = parser.parse_args()
    truth = read_truth(args.truth)
    hybrid = trajectory_errors(args.run, "neural", truth)
    print(f"trained hybrid: trajectory relative L2 {hybrid['relative_l2']:.4f}")
    for slot, r2 in network_r_squared(args.run).items():
        print(f"  {slot} network (as distilled) vs {PLANTED[slot]}*x*y: R² {r2:.4f}")
    for slot, (text, c) in interaction_coefficients(args.run).items():
        shown = f"{c:.4f}*x*y" if c is not None else "not of the form c*x*y"
        print(f"{slot} = {text}  ({shown}; planted {PLANTED[slot]}*x*y)")
    errors = trajectory_errors(args.run, "symbolic", truth)
    print(
        "reinserted equations: trajectory relative L2 {relative_l2:.4f}, L2 {l2:.4f}, "
        "Linf {linf:.4f}".format(**errors)
    )


if __name__ == "__main__":
    main()
