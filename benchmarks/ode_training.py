"""Training an ODE model with the default config: single shot, multiple shooting, and
the collocation pre-fit followed by multiple shooting.

Setting: Lotka–Volterra with both interaction terms neural (``F``, ``G``, outputs
``>= 0``), known ``alpha`` and ``delta``; data as in ``case_studies/lotka_volterra/
make_data.py`` (5% noise, seed 0) but over ``--points`` times 0.1 apart (150: t in
[0, 14.9], five cycles). Everything else is the default config (``train.split`` 0.7,
1000 Adam steps, RK4 with 4 substeps, networks 2→32→32→1). For each variant the wall
time of training (and the CPU seconds of this process, which a machine busy with other
jobs moves far less), its Adam iterations per second and the held-out trajectory R² (the
whole period integrated from the first observation, scored on the last 30% against the
noise-free trajectory, mean over x and y) are printed.

    python benchmarks/ode_training.py [--points 150] [--iterations N] [--threads 1]

Last run of the default variant (``--variants shooting+collocation``, 2 cores, load
10-14, alongside a worktree of the code before the networks were scaled per slot by the
root mean square of the rates left by the known terms, in place of the median finite
difference of all states): 59.2 s of CPU (58.7 before), held-out R² 0.7524 (was -1.6940:
the extrapolated cycles drifted out of phase). Its time is 1000 shooting steps of about
45 ms at load 4-6 (11 segments of 10 steps, 160 right-hand sides each with its backward
pass), 20 held-out evaluations of about 165 ms (one shot over all 150 times, 2384
right-hand sides) and about 1 s of collocation pre-fit.

``--iterations`` trains every variant for N Adam steps instead of the default 1000 (the
time then is not the default config's). The last line reads ``ode training: <s> s
(<c> s CPU, shooting+collocation) vs <s0> s (single shot), held-out R2 <r> vs <r0>``.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from discover.config import StudyConfig
from discover.stages.train import train
from discover.workflows.ode import ODEWorkflow

CASE = Path(__file__).resolve().parents[1] / "case_studies" / "lotka_volterra"

VARIANTS = {
    "single shot": {"shooting": False, "collocation": False},
    "shooting": {"shooting": True, "collocation": False},
    "shooting+collocation": {"shooting": True, "collocation": True},
}
"""``train`` settings of each variant; the last one is the default."""


def make_data(folder: Path, points: int) -> None:
    """Write the case study's ``data.csv`` and ``truth.csv`` over ``points`` times."""
    spec = importlib.util.spec_from_file_location("lv_make_data", CASE / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.make_data(folder, seed=0, t_end=round(0.1 * (points - 1), 10), dt=0.1)


def config(folder: Path, variant: dict, iterations: int | None) -> StudyConfig:
    """The default config of the two-slot Lotka–Volterra model, with ``variant``'s
    ``train`` settings."""
    train = dict(variant) | ({"iterations": iterations} if iterations else {})
    return StudyConfig.model_validate(
        {
            "data": {"path": str(folder / "data.csv"), "time": "t"},
            "model": {
                "type": "ode",
                "states": ["x", "y"],
                "parameters": {"alpha": 1.3, "delta": 1.8},
                "equations": {"x": "alpha*x - F(x, y)", "y": "-delta*y + G(x, y)"},
                "neural": {
                    "F": {"inputs": ["x", "y"], "output": ">=0"},
                    "G": {"inputs": ["x", "y"], "output": ">=0"},
                },
            },
            "train": train,
        }
    )


def held_out_r2(workflow: ODEWorkflow, truth: np.ndarray) -> float:
    """Mean over states of the R² of the held-out trajectory against ``truth`` [time, state]."""
    with torch.no_grad():
        simulated = workflow.simulate()[:, 0].cpu().numpy()
    held = workflow.split_slices()["test"]
    error = ((simulated[held] - truth[held]) ** 2).sum(0)
    spread = ((truth[held] - truth[held].mean(0)) ** 2).sum(0)
    return float(np.mean(1 - error / spread))


def run(folder: Path, variant: dict, iterations: int | None, seed: int = 0) -> dict[str, float]:
    """Train one variant from seed ``seed``; its wall and CPU seconds, iterations/s and
    held-out R²."""
    torch.manual_seed(seed)
    settings = config(folder, variant, iterations)
    workflow = ODEWorkflow(settings, folder)
    started, cpu = time.perf_counter(), time.process_time()
    result = train(workflow, settings.train, seed=seed, progress=False)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    truth = np.loadtxt(folder / "truth.csv", delimiter=",", skiprows=1)[:, 1:]
    return {
        "seconds": seconds,
        "cpu": cpu,
        "iterations_per_s": settings.train.iterations / result.seconds,
        "r2": held_out_r2(workflow, truth),
        "stopped": result.stopped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=150)
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_data(folder, args.points)
        for name in args.variants:
            results[name] = run(folder, VARIANTS[name], args.iterations)
            r = results[name]
            print(
                f"{name:>22}: {r['seconds']:7.1f} s ({r['cpu']:.1f} s CPU), "
                f"{r['iterations_per_s']:6.1f} it/s, "
                f"held-out R2 {r['r2']:.4f} ({r['stopped']})",
                flush=True,
            )
    new, old = results.get("shooting+collocation"), results.get("single shot")
    if new and old:
        print(
            f"ode training: {new['seconds']:.1f} s ({new['cpu']:.1f} s CPU, "
            f"shooting+collocation) vs "
            f"{old['seconds']:.1f} s (single shot), held-out R2 {new['r2']:.4f} vs {old['r2']:.4f}"
        )


if __name__ == "__main__":
    main()
