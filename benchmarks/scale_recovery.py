"""Does mini-batch dPL training recover a twin's planted parameter map on basins it never
saw? (issue #18: R² >= 0.9 on held-out basins.)

A synthetic twin (``data.source: twin``: attributes → planted parameter maps → HBV
streamflow, no noise) of ``--sites`` basins holds a warm-up year, ``--years`` training
years and a held-out year. Every ``--hold``-th basin is held out: its streamflow is
hidden from every loss (:meth:`~discover.workflows.hbv.HBVWorkflow.hide_sites`), so no
batch scores it. The parameters are learned from the basins' static attributes by an
MLP (``model.parameters: attributes``, ``nmul`` 1, the planted map's own form: one
parameter set per basin) trained by :class:`~discover.fit.trainer.Trainer` with Adam on
mini-batches (``train.batch``: ``--batch-sites`` basins × 730 days, 365 of them
warm-up). The learned parameters of the held-out basins are compared with the planted
ones: R² = 1 − Σ(learned − planted)² / Σ(planted − mean planted)², per parameter, and
their median (beside it, the same on the training basins, and the streamflow NSE of
both: a parameter that streamflow does not constrain is not recovered on either).

    python benchmarks/scale_recovery.py [--sites 120] [--years 5] [--iterations 1500]

The last line reads ``recovery: median R² <r> on <n> held-out basins (<k> of <p>
parameters >= 0.9), R² >= 0.9 <holds|fails>``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from discover.config import parse_config  # noqa: E402
from discover.fit.trainer import Trainer  # noqa: E402
from discover.models.hbv_processes import HBV_BOUNDS  # noqa: E402
from discover.workflows.hbv import HBVWorkflow
from discover.workflows.hbv_data import load_hbv_dataset  # noqa: E402

YEAR = 365
TARGET = 0.9


def recovery_config(args: argparse.Namespace) -> dict:
    """The study config: the twin, the attribute MLP and the mini-batch training."""
    return {
        "seed": args.seed,
        "data": {"source": "twin", "sites": args.sites, "days": (args.years + 2) * YEAR},
        "model": {"type": "hbv", "warmup": YEAR, "nmul": 1, "parameters": "attributes"},
        "train": {
            "split": args.years / (args.years + 1),
            "iterations": args.iterations,
            "lr": args.lr,
            "schedule": "cosine",
            "eval_every": args.iterations,
            "checkpoint_every": 10**9,
            "batch": {"sites": args.batch_sites, "days": 2 * YEAR, "warmup": YEAR},
        },
    }


def r_squared(learned: np.ndarray, planted: np.ndarray) -> float:
    """1 − residual over total sum of squares of ``learned`` against ``planted`` [site]."""
    total = float(((planted - planted.mean()) ** 2).sum())
    return 1.0 - float(((learned - planted) ** 2).sum()) / total if total > 0 else float("nan")


def nse(simulated: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Nash–Sutcliffe efficiency [site] of ``simulated`` against ``observed`` [time, site]
    over the days where both are finite."""
    seen = np.isfinite(simulated) & np.isfinite(observed)
    sim, obs = np.where(seen, simulated, 0.0), np.where(seen, observed, 0.0)
    mean = obs.sum(0) / seen.sum(0)
    error = ((sim - obs) ** 2).sum(0)
    return 1.0 - error / (np.where(seen, (observed - mean) ** 2, 0.0)).sum(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=120, help="basins of the twin")
    parser.add_argument("--years", type=int, default=5, help="training years of the twin")
    parser.add_argument("--iterations", type=int, default=1500, help="Adam steps")
    parser.add_argument("--batch-sites", type=int, default=25, help="basins per batch")
    parser.add_argument("--hold", type=int, default=5, help="every hold-th basin held out")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam's learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seed of twin and training")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"start {time.strftime('%H:%M:%S UTC', time.gmtime())}, load {load}")
    config = parse_config(recovery_config(args))
    dataset = load_hbv_dataset(config.data, Path("."), seed=args.seed)
    workflow = HBVWorkflow(config, Path("."), dataset=dataset)
    held = list(range(args.hold - 1, args.sites, args.hold))
    workflow.hide_sites(held)
    print(
        f"twin: {args.sites} basins x {dataset.sizes['time']} days, {len(held)} held out; "
        f"attribute MLP, batches of {args.batch_sites} basins x 730 days (365 warm-up), "
        f"{args.iterations} Adam steps ({workflow.batches_per_epoch} per epoch)"
    )
    started = time.perf_counter()
    trainer = Trainer(workflow, workflow.loss, config.train, seed=args.seed, progress=False)
    result = trainer.fit()
    minutes = (time.perf_counter() - started) / 60
    print(f"trained in {minutes:.1f} min, last batch loss {result.final_train:.4f}, ", end="")
    print(f"held-out-period loss (training basins) {result.history[-1].get('test', np.nan):.4f}")
    with torch.no_grad():
        learned = workflow.parameters_by_name()
    scores = {}
    print(f"{'parameter':>12} {'R2 held-out':>12} {'R2 training':>12}  meaning")
    trained = [i for i in range(args.sites) if i not in held]
    for name, value in learned.items():
        values, planted = value[:, 0].double().numpy(), dataset[f"true_{name}"].values
        scores[name] = r_squared(values[held], planted[held])
        seen = r_squared(values[trained], planted[trained])
        print(f"{name:>12} {scores[name]:>12.3f} {seen:>12.3f}  {HBV_BOUNDS[name].meaning}")
    with torch.no_grad():
        efficiency = nse(workflow.simulate()[..., 0].double().numpy(), workflow.observed[..., 0])
    print(
        f"streamflow NSE over the record (median): held-out basins "
        f"{np.median(efficiency[held]):.3f}, training basins {np.median(efficiency[trained]):.3f}"
    )
    median = statistics.median(scores.values())
    passed = sum(score >= TARGET for score in scores.values())
    verdict = "holds" if median >= TARGET else "fails"
    print(
        f"recovery: median R² {median:.3f} on {len(held)} held-out basins ({passed} of "
        f"{len(scores)} parameters >= {TARGET}), R² >= {TARGET} {verdict}"
    )


if __name__ == "__main__":
    sys.exit(main())
