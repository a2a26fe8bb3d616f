"""Recover the Lotka–Volterra interaction terms one slot at a time and print the checks.

Fit the hybrid model; then, for F and then G: distill the slot, reinsert the selected
equation and refit the model (``reinsert.refit: all`` in the config: the network still in
the model adapts to the equation that replaced its partner before it is distilled in turn).
Prints the acceptance figures of ``README.md`` against the noise-free truth.

Usage: python recover.py [--config config.yaml] [--seed N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import sympy
import torch

from discover.distill import ParetoFront
from discover.distill.probe import probe
from discover.study import Study

PLANTED = {"F": 0.9, "G": 0.8}
"""The planted interaction coefficients (beta, gamma) of F = beta*x*y and G = gamma*x*y."""


def r_squared(predicted: np.ndarray, target: np.ndarray) -> float:
    """Coefficient of determination of ``predicted`` against ``target`` (both [samples])."""
    return 1 - float(((predicted - target) ** 2).sum() / ((target - target.mean()) ** 2).sum())


def trajectory_errors(study: Study, truth: np.ndarray) -> tuple[float, float, float]:
    """Relative L2, absolute L2 and L-infinity error of the simulated states [time, state]."""
    error = study.simulate()[:, 0, :] - truth
    return (
        float(np.linalg.norm(error) / np.linalg.norm(truth)),
        float(np.linalg.norm(error)),
        float(np.abs(error).max()),
    )


def networks_vs_planted(study: Study) -> dict[str, float]:
    """R² of each neural slot against its planted interaction over the visited samples."""
    samples = probe(study.model, study.workflow.simulate)
    return {
        slot: r_squared(s.y, PLANTED[slot] * s.X[:, 0] * s.X[:, 1]) for slot, s in samples.items()
    }


def show_front(front: ParetoFront) -> None:
    """Print a Pareto front with each candidate's BIC on the data (``*`` the selected)."""
    bic = front.metadata.get("bic") or [float("nan")] * len(front)
    for i, (candidate, score) in enumerate(zip(front, bic, strict=True)):
        mark = "*" if i == front.selected_index else " "
        size, loss = candidate.complexity, candidate.loss
        print(f"  {mark} {size:3d} {loss:10.3g} BIC {score:8.2f}  {candidate.text()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path(__file__).parent / "config.yaml")
    parser.add_argument("--seed", type=int, default=None, help="override the config's seed")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    study = Study.from_config(args.config)
    if args.seed is not None:
        study = Study(study.config.model_copy(update={"seed": args.seed}), study.base)
    truth = np.loadtxt(study.base / "truth.csv", delimiter=",", skiprows=1)[:, 1:]
    study.fit(progress=False)
    relative, _, _ = trajectory_errors(study, truth)
    print(f"trained hybrid: trajectory relative L2 {relative:.4f}")
    for slot, r2 in networks_vs_planted(study).items():
        print(f"  {slot} network vs {PLANTED[slot]}*x*y: R² {r2:.4f}")
    x, y = sympy.symbols("x y", real=True)
    for slot in ("F", "G"):
        if slot in study.model.neural_slots():
            for other, r2 in networks_vs_planted(study).items():
                print(f"  before distilling {slot}: {other} network R² {r2:.4f}")
        print(f"{slot}: complexity, loss on the probed samples, BIC on the data, equation")
        show_front(study.distill(slot))
        study.reinsert(slot)
    for slot, coefficient in PLANTED.items():  # after the last refit
        equation = study.model.slots[slot].expression(6)
        ratio = sympy.simplify(equation / (x * y))
        shown = f"{float(ratio):.4f}*x*y" if ratio.is_number else "not of the form c*x*y"
        print(f"{slot} = {equation}  ({shown}; planted {coefficient}*x*y)")
    relative, l2, linf = trajectory_errors(study, truth)
    print(
        f"reinserted equations: trajectory relative L2 {relative:.4f}, L2 {l2:.4f}, Linf {linf:.4f}"
    )
    print(f"timings (s): { ({k: round(v, 1) for k, v in study.timings.items()}) }")
    print(f"wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
