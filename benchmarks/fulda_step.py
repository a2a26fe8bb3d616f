"""CPU seconds of one calibration generation and of one Adam step in the Fulda study's
own settings (``case_studies/fulda/config.yaml``), the two costs a study's training
repeats most.

The variant (``physics`` by default, or any hypothesis or ``neural``) is built as
``discover run`` builds it (:class:`~discover.stages.models.ModelFactory`) and, unless
``--no-calibration``, calibrated first with the study's ``train.calibration``, so that
Adam starts where the study's Adam starts. Then:

    generation   the training losses of a population of 32 members per searched value
                 (:class:`~discover.fit.population.PopulationLoss`, one batched forward
                 pass without gradients), ``--repeats`` times
    Adam step    one step of the study's trainer (loss and gradient over the training
                 years, Adam's update), ``--repeats`` times after one untimed step; the
                 forward and backward passes are also timed apart, and one evaluation on
                 the held-out years (the study evaluates every ``eval_every`` steps)

Each figure is the median CPU seconds of the process (``time.process_time``), so that
other work on a shared machine slows it less than the wall time; run it on one thread.

    OMP_NUM_THREADS=1 python benchmarks/fulda_step.py [--variant physics] [--repeats 5]
        [--no-calibration]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from discover.config.loading import load_config
from discover.fit.calibration import MEMBERS_PER_VALUE, calibrate
from discover.fit.population import PopulationLoss
from discover.fit.trainer import Trainer
from discover.stages.models import ModelFactory

CONFIG = Path(__file__).resolve().parents[1] / "case_studies" / "fulda" / "config.yaml"


def cpu_median(run: Callable[[], object], repeats: int) -> float:
    """Median CPU seconds of ``repeats`` calls of ``run``."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return statistics.median(times)


class _Quiet:
    """A progress bar that shows nothing (the trainer's steps are called one by one)."""

    def update(self, n: int) -> None:
        """Nothing."""

    def set_postfix(self, shown: dict[str, str]) -> None:
        """Nothing."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="physics")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-calibration", action="store_true")
    args = parser.parse_args()
    config, base = load_config(CONFIG)
    workflow = ModelFactory(config, base).variant(args.variant, {})
    if not args.no_calibration and args.variant != "neural":
        started = time.process_time()
        result = calibrate(workflow, config.train.calibration, seed=config.seed)
        seconds = time.process_time() - started
        print(f"calibration: {result.generations} generations, CPU {seconds:.1f} s")
    if args.variant != "neural":
        population = PopulationLoss(workflow)
        generator = torch.Generator().manual_seed(0)
        shape = (MEMBERS_PER_VALUE * population.dim, population.sites, population.dim)
        points = torch.rand(shape, generator=generator, dtype=torch.float64)
        population.losses(points)  # untimed warm-up
        seconds = cpu_median(lambda: population.losses(points), args.repeats)
        print(f"generation of {shape[0]} members: CPU {seconds:.3f} s")
    trainer = Trainer(workflow, workflow.loss, config.train, seed=config.seed, progress=False)
    bar = _Quiet()
    trainer._step(bar)  # untimed warm-up
    step = cpu_median(lambda: trainer._step(bar), args.repeats)
    forward = cpu_median(lambda: workflow.loss("train"), args.repeats)
    loss = workflow.loss("train")
    started = time.process_time()
    loss.backward()
    backward = time.process_time() - started
    with torch.no_grad():
        evaluation = cpu_median(lambda: workflow.loss("test"), 1)
    print(
        f"Adam step ({args.variant}): CPU {step:.3f} s (forward {forward:.3f} s, backward "
        f"{backward:.3f} s); an evaluation on the held-out years {evaluation:.3f} s"
    )


if __name__ == "__main__":
    main()
