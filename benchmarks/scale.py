"""Mini-batch training at the field's benchmark size: δHBV-style dPL on a synthetic
671-basin twin, 15 years of daily training data, ``nmul`` 16 (issue #18, item 4).

The twin (``data.source: twin``: attributes → planted parameter maps → HBV streamflow)
holds a warm-up year, ``--years`` training years and a held-out year. Every figure
comes from discover's own code: an :class:`~discover.workflows.hbv.HBVWorkflow` built
from a config dict (``model.parameters: lstm`` with ``model.dynamic: [beta]``,
``lstm_hidden`` 64, ``nmul`` 16, ``dtype: float32``, ``train.batch``) trained by
:class:`~discover.fit.trainer.Trainer` (Adam, no evaluation, no checkpoint). A *step*
is the trainer's whole step: batch draw, loss, backward, gradient averaging and Adam's
update, timed from one call of the training loss to the next (the last to the end of
``fit``); each measurement runs one untimed step first, then ``--steps`` timed steps, and
reports their median.

Each measurement runs in fresh processes (``discover.fit.distributed.run_data_parallel``,
``spawn``, a gloo group), so that *peak memory* is the peak resident set (``VmHWM``,
:func:`peak_resident`) of a process that only receives the data, builds the model and
trains: Python, torch, the data in memory, the model and the step's autograd graph.
One whole-period evaluation is timed, and its peak measured, in a process of its own.

Printed:

- the step at ``--batch-sites`` (100) basins × 730 days (365 warm-up), one process with
  ``--threads`` (2) threads, and the epoch time: steps per epoch (the workflow's
  :attr:`~discover.workflows.hbv.HBVWorkflow.batches_per_epoch`) × the median step,
  extrapolated from the measured steps;
- scaling with batch sites (100/300/671 × 730 days) and with days (365/730/1,460, half of
  each window warm-up): seconds per site-day of window and the ratio to the base case;
- data-parallel speed-up of the epoch: 2 processes of 1 thread, each running its own
  batch of ``--batch-sites`` basins (gloo, gradients averaged; the batch is per process,
  so an epoch has half the steps), against 1 process with 1 thread and 1 process with
  ``--threads`` threads: an epoch's time is its steps × the median step;
- a whole-period evaluation: seconds and peak resident set.

Beside wall seconds, each step's CPU seconds (of the busiest process) are printed: on a
machine that other work keeps busy, they estimate the wall time on idle cores.

The machine's load (other work slows every figure) is printed at start and end.

    python benchmarks/scale.py                                  # the issue's sizes
    python benchmarks/scale.py --sites 100 --years 3 --steps 2  # a quick run

The last line reads ``scale: epoch <m> min (<n> basins, nmul 16), step <s> s, peak <g>
GiB, 2-process speed-up <x>``: epoch and step of one process with ``--threads``
threads, the larger peak resident set of its training and of a whole-period evaluation
(which the trainer runs every ``train.eval_every`` steps; measured in a process of its
own), and the epoch speed-up of 2 processes over that same process.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import xarray as xr  # noqa: E402

from discover.config import parse_config  # noqa: E402
from discover.fit.distributed import run_data_parallel  # noqa: E402
from discover.fit.trainer import Trainer  # noqa: E402
from discover.workflows.hbv import HBVWorkflow
from discover.workflows.hbv_data import load_hbv_dataset  # noqa: E402

YEAR = 365
NMUL = 16
GiB = 2**30


@dataclass(frozen=True)
class Case:
    """A batch shape: ``sites`` × ``days`` (``warmup`` of them unscored), run by
    ``processes`` processes of ``threads`` torch threads each."""

    sites: int
    days: int
    warmup: int
    processes: int = 1
    threads: int = 1

    def label(self) -> str:
        return f"{self.processes}p x {self.threads}t, {self.sites} sites x {self.days} days"


def study_config(sites: int, years: int, case: Case, *, steps: int) -> dict:
    """The study config of ``case`` on a twin of ``sites`` sites: a warm-up year,
    ``years`` training years, a held-out year; the δHBV-style LSTM learner; ``steps``
    Adam steps, no evaluation, no checkpoint."""
    return {
        "seed": 0,
        "dtype": "float32",
        "data": {"source": "twin", "sites": sites, "days": (years + 2) * YEAR},
        "model": {
            "type": "hbv",
            "warmup": YEAR,
            "nmul": NMUL,
            "parameters": "lstm",
            "dynamic": ["beta"],
            "lstm_hidden": 64,
        },
        "train": {
            "split": years / (years + 1),
            "iterations": steps,
            "lr": 0.01,
            "schedule": "none",
            "eval_every": 10**9,
            "checkpoint_every": 10**9,
            "batch": {"sites": case.sites, "days": case.days, "warmup": case.warmup},
        },
    }


def make_twin(config: dict) -> xr.Dataset:
    """The config's twin, without the true daily fluxes and storages (only the planted
    parameters ``true_<name>`` [site] stay beside forcings, streamflow and attributes)."""
    dataset = load_hbv_dataset(parse_config(config).data, Path("."), seed=config["seed"])
    daily = [n for n, v in dataset.data_vars.items() if n.startswith("true_") and "time" in v.dims]
    return dataset.drop_vars(daily)


def _train(rank: int, world: int, config: dict, dataset: xr.Dataset) -> dict[str, Any]:
    """One process's training run (inside :func:`run_data_parallel`): each step's wall
    seconds, its CPU seconds (the most over the processes), the peak resident set of the
    largest process (bytes) and steps per epoch."""
    torch.manual_seed(config["seed"])  # equal initial weights in every process
    workflow = HBVWorkflow(parse_config(config), Path("."), dataset=dataset)
    starts: list[tuple[float, float]] = []

    def loss(split: str, generator: torch.Generator | None) -> torch.Tensor:
        if split == "train":
            starts.append((time.perf_counter(), time.process_time()))
        return workflow.loss(split, generator)

    trainer = Trainer(workflow, loss, parse_config(config).train, seed=0, progress=False)
    trainer.fit()
    ends = [*starts[1:], (time.perf_counter(), time.process_time())]
    steps = [
        (end[0] - start[0], end[1] - start[1]) for start, end in zip(starts, ends, strict=True)
    ]
    peak = peak_resident()
    everyone: list[Any] = [None] * world
    dist.all_gather_object(everyone, (steps, peak))
    cpu = [max(each[0][i][1] for each in everyone) for i in range(len(steps))]
    return {
        "wall": [wall for wall, _ in steps],
        "cpu": cpu,
        "peak": max(each[1] for each in everyone),
        "epoch": workflow.batches_per_epoch,
    }


def _evaluate(rank: int, world: int, config: dict, dataset: xr.Dataset) -> dict[str, float]:
    """One whole-period evaluation, as the trainer runs every ``train.eval_every`` steps
    (the held-out loss: every site over the whole record, no gradient): its seconds and
    the process's peak resident set (bytes)."""
    torch.manual_seed(config["seed"])
    workflow = HBVWorkflow(parse_config(config), Path("."), dataset=dataset)
    started = time.perf_counter()
    with torch.no_grad():
        workflow.loss("test", None)
    return {"seconds": time.perf_counter() - started, "peak": peak_resident()}


def peak_resident() -> int:
    """Peak resident set of this process (bytes): ``VmHWM`` of /proc/self/status on
    Linux, where ``getrusage``'s ``ru_maxrss`` would also count the memory of the parent
    a spawned process was forked from (Linux keeps it across ``exec``); else
    ``ru_maxrss`` (KiB on Linux and the BSDs)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass(frozen=True)
class Measured:
    """Median wall seconds of a ``step`` over the timed steps, their least ``best``, the
    median ``cpu`` seconds of a step (of the busiest process), the peak resident set
    (bytes) of the largest process, batches per ``epoch``."""

    step: float
    best: float
    cpu: float
    peak: int
    epoch: int


def measure(case: Case, sites: int, years: int, steps: int, dataset: xr.Dataset) -> Measured:
    """Train ``case`` for one untimed and ``steps`` timed steps in fresh processes."""
    config = study_config(sites, years, case, steps=steps + 1)
    done = run_data_parallel(_train, case.processes, args=(config, dataset), threads=case.threads)
    wall, cpu = done["wall"][1:], done["cpu"][1:]
    result = Measured(
        statistics.median(wall), min(wall), statistics.median(cpu), done["peak"], done["epoch"]
    )
    print(
        f"  {case.label():<36} step {result.step:6.2f} s (least {result.best:.2f}, "
        f"CPU {result.cpu:.2f}), peak {result.peak / GiB:.2f} GiB  [{load()}]",
        flush=True,
    )
    return result


def load() -> str:
    """The time of day (UTC) and the machine's load averages over 1, 5 and 15 minutes."""
    now = time.strftime("%H:%M:%S UTC", time.gmtime())
    return f"{now}, load {' '.join(f'{x:.1f}' for x in os.getloadavg())}"


def scaling(rows: list[tuple[Case, Measured]], base: tuple[Case, Measured]) -> None:
    """Print wall and CPU microseconds per site-day of window for each case and their
    ratios to ``base``'s."""
    size = base[0].sites * base[0].days
    wall, cpu = base[1].step / size, base[1].cpu / size
    print(f"{'sites':>6} {'days':>6} {'warm-up':>8} {'step s':>7} {'CPU s':>7}", end="")
    print(f" {'us/site-day':>12} {'ratio':>6} {'CPU us/site-day':>16} {'ratio':>6}")
    for case, result in rows:
        size = case.sites * case.days
        each, each_cpu = result.step / size, result.cpu / size
        print(
            f"{case.sites:>6} {case.days:>6} {case.warmup:>8} {result.step:>7.2f} "
            f"{result.cpu:>7.2f} {each * 1e6:>12.2f} {each / wall:>6.2f} "
            f"{each_cpu * 1e6:>16.2f} {each_cpu / cpu:>6.2f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=671, help="basins of the twin")
    parser.add_argument("--years", type=int, default=15, help="training years of the twin")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    parser.add_argument("--batch-sites", type=int, default=100, help="basins per batch")
    parser.add_argument("--threads", type=int, default=2, help="threads of one process")
    args = parser.parse_args(argv)
    base = Case(min(args.batch_sites, args.sites), 2 * YEAR, YEAR, threads=args.threads)
    print(f"start {load()}")
    started = time.perf_counter()
    dataset = make_twin(study_config(args.sites, args.years, base, steps=1))
    print(
        f"twin: {args.sites} basins x {dataset.sizes['time']} days ({args.years} training "
        f"years), made in {time.perf_counter() - started:.0f} s; LSTM dPL, nmul {NMUL}, float32"
    )
    print("step times (median of the timed steps), peak resident set of a process:")
    results: dict[Case, Measured] = {}
    for case in cases(base, args.sites):
        if case not in results:
            results[case] = measure(case, args.sites, args.years, args.steps, dataset)
    print(f"\nscaling ({args.threads} threads, 1 process; ratio 1.00: linear in site-days):")
    shape = [(c, r) for c, r in results.items() if c.processes == 1 and c.threads == args.threads]
    scaling(sorted(shape, key=lambda item: (item[0].days, item[0].sites)), (base, results[base]))
    speed_up = report(args, base, results)
    peak = max(results[base].peak, evaluate(args, base, dataset))
    print(f"end {load()}")
    first = results[base]
    print(
        f"scale: epoch {first.epoch * first.step / 60:.1f} min ({args.sites} basins, nmul "
        f"{NMUL}), step {first.step:.2f} s, peak {peak / GiB:.2f} GiB, "
        f"2-process speed-up {speed_up:.2f}"
    )


def cases(base: Case, sites: int) -> list[Case]:
    """``base`` first, then more batch sites (300, 671: up to ``sites``), then days
    (365, 1,460, half of them warm-up), then ``base``'s batch by 1 process of 1 thread
    and by 2 processes of 1 thread."""
    more = [Case(n, base.days, base.warmup, threads=base.threads) for n in (300, 671)]
    days = [Case(base.sites, n, n // 2, threads=base.threads) for n in (YEAR, 4 * YEAR)]
    shared = [Case(base.sites, base.days, base.warmup, processes=p) for p in (1, 2)]
    return [base, *[c for c in more if base.sites < c.sites <= sites], *days, *shared]


def report(args: argparse.Namespace, base: Case, results: dict[Case, Measured]) -> float:
    """Print the epoch times and the data-parallel speed-ups of the epoch; returns the
    speed-up of 2 processes over ``base``'s process."""
    one = results[Case(base.sites, base.days, base.warmup, processes=1, threads=1)]
    two = results[Case(base.sites, base.days, base.warmup, processes=2, threads=1)]
    first = results[base]
    wall = {name: r.epoch * r.step for name, r in (("first", first), ("one", one), ("two", two))}
    cpu = {name: r.epoch * r.cpu for name, r in (("first", first), ("one", one), ("two", two))}
    print(
        f"\nepoch (extrapolated from {args.steps} timed steps): {first.epoch} steps of a "
        f"batch of {base.sites} sites x {base.days - base.warmup} scored days: "
        f"{minutes(wall['first'])} with 1 process x {args.threads} threads "
        f"({minutes(cpu['first'])} of CPU), {minutes(wall['one'])} with 1 process x 1 "
        f"thread ({minutes(cpu['one'])} of CPU); {two.epoch} steps of 2 batches (one per "
        f"process): {minutes(wall['two'])} with 2 processes x 1 thread "
        f"({minutes(cpu['two'])} of CPU in the busiest)"
    )
    print(
        f"2 processes x 1 thread (gloo, a batch of {base.sites} sites each): epoch "
        f"speed-up {wall['one'] / wall['two']:.2f} over 1 process x 1 thread, "
        f"{wall['first'] / wall['two']:.2f} over 1 process x {args.threads} threads "
        f"(the baseline of the last line); in CPU seconds of the busiest process (the "
        f"speed-up on idle cores): {cpu['one'] / cpu['two']:.2f} and "
        f"{cpu['first'] / cpu['two']:.2f}"
    )
    return wall["first"] / wall["two"]


def minutes(seconds: float) -> str:
    """``seconds`` as minutes with two decimals."""
    return f"{seconds / 60:.2f} min"


def evaluate(args: argparse.Namespace, base: Case, dataset: xr.Dataset) -> int:
    """Print the seconds and peak resident set of a whole-period evaluation in a process
    of its own; returns that peak (bytes)."""
    config = study_config(args.sites, args.years, base, steps=1)
    done = run_data_parallel(_evaluate, 1, args=(config, dataset), threads=args.threads)
    print(
        f"whole-period evaluation ({args.sites} sites x {dataset.sizes['time']} days, no "
        f"gradient, 1 process x {args.threads} threads): {done['seconds']:.1f} s, "
        f"peak {done['peak'] / GiB:.2f} GiB"
    )
    return int(done["peak"])


if __name__ == "__main__":
    sys.exit(main())
