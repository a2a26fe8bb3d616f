"""Cost of one ODE training step: the Lotka–Volterra case study's loss and its gradient.

Builds the workflow of ``case_studies/lotka_volterra/config.yaml`` (2 states, 28 training
times, RK4 with 1 substep, neural ``F`` and ``G`` 2→32→32→1 softplus) through the normal
API, then times, on one thread:

- one loss-and-backward on the training split (single shot, as the case study trains),
- the same with multiple shooting (``train.shooting: {segment: 10}``),
- one loss-and-backward of the model with symbolic slots ``F = c*x*y``, ``G = d*x*y`` (free
  constants ``c``, ``d``) on the 150 times of ``benchmarks/ode_training.py``'s data, with
  multiple shooting and the default config otherwise (split 0.7, RK4 with 4 substeps): the
  kind of model that distillation's candidate refits and held-out selection fit,
- a whole short training: ``--steps`` Adam steps through :class:`~discover.fit.trainer.
  Trainer` (no L-BFGS, no checkpoints), with the case study's other train settings.

Times are CPU seconds of this process (``time.process_time``): on a machine shared with
other jobs they move far less than wall times (printed beside them). A loss-and-backward
figure is the median over ``--repeats`` rounds of ``--evaluations`` each.

    python benchmarks/ode_step.py [--evaluations 20] [--repeats 5] [--steps 50]

The last line reads ``ode step: <ms> ms per loss+backward (LV, 28 times), <ms> ms with
shooting, <ms> ms symbolic, training <s> s for <n> steps``.

Last run (2 cores, load 4-5, alongside the code before the slots were called through
functions prepared once per simulation, Process.function): 31.9 ms per loss+backward
(was 49.0), 12.7 ms with shooting (was 19.3), 1.66 s for 50 steps (was 2.38), the same
final loss. What remains is PyTorch's cost per operation: about 28 operations and as many
backward nodes per right-hand side of batch 1 (two 2→32→32→1 networks, the equations and
the RK4 stage). Before these changes the case study's whole training (300 Adam
steps, then 100 L-BFGS iterations) took 132.5 s of CPU, 108 s of it in the L-BFGS stage
(1235 loss evaluations). The L-BFGS steps after the 30th left the weights and the loss
bit for bit as they were (one loss evaluation each); ``train.lbfgs_tolerance`` ends the
stage at the 31st: 1004 instead of 1073 training-loss evaluations, 61 instead of 130
held-out ones, the same final losses, 43.4 instead of 60.8 s of CPU for that training
(load 11-14), 129 instead of 172 s for the case study's acceptance test
(tests/case_studies/test_lotka_volterra.py, also with ``train.eval_every`` 50).

Symbolic case, last run (2 cores, load 3.9-4.1, three runs alternating with the code
before symbolic slots were called through prepared functions): 18.4 ms per
loss+backward (runs 19.5, 18.4, 16.1; was 32.3: 33.2, 32.3, 30.3). The constants are
computed and split into 0-dim tensors once per simulation (no product with their scale
and no indexing per call), the expression takes its inputs by position and no module is
called per right-hand side.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from ode_training import config as training_config
from ode_training import make_data

from discover.config import StudyConfig
from discover.config.loading import load_config
from discover.fit.trainer import Trainer
from discover.processes import Symbolic
from discover.workflows.ode import ODEWorkflow

CASE = Path(__file__).resolve().parents[1] / "case_studies" / "lotka_volterra" / "config.yaml"


def case_study(shooting: bool, **train) -> tuple[StudyConfig, Path]:
    """The case study's config (with multiple shooting when ``shooting``) and its folder."""
    config, base = load_config(CASE)
    raw = config.model_dump()
    raw["train"].update({"shooting": {"segment": 10} if shooting else False, **train})
    return StudyConfig.model_validate(raw), base


def workflow(shooting: bool, seed: int = 0) -> ODEWorkflow:
    """The case study's workflow, its networks initialised from ``seed``."""
    config, base = case_study(shooting)
    torch.manual_seed(seed)
    return ODEWorkflow(config, base)


def symbolic_workflow(folder: Path) -> ODEWorkflow:
    """Lotka–Volterra over 150 times with multiple shooting and symbolic ``F``, ``G``."""
    make_data(folder, 150)
    config = training_config(folder, {"shooting": True, "collocation": False}, None)
    flow = ODEWorkflow(config, folder)
    for name, constant in (("F", "c"), ("G", "d")):
        slot = Symbolic(f"{constant}*x*y", ["x", "y"], parameters={constant: 0.5})
        flow.model.set_slot(name, slot)
    return flow


def step_seconds(flow: ODEWorkflow, evaluations: int, repeats: int) -> tuple[float, float]:
    """Median CPU and wall seconds of one training loss of ``flow`` and its backward pass."""
    flow.train()

    def once() -> None:
        flow.zero_grad(set_to_none=True)
        flow.loss("train", None).backward()

    once()  # warm-up
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(evaluations):
            once()
        cpu.append((time.process_time() - c0) / evaluations)
        wall.append((time.perf_counter() - w0) / evaluations)
    return statistics.median(cpu), statistics.median(wall)


def training_seconds(steps: int) -> tuple[float, float, float]:
    """CPU and wall seconds of ``steps`` Adam steps of the case study, and its last loss."""
    config, base = case_study(False, iterations=steps, lbfgs_iterations=0)
    torch.manual_seed(config.seed)
    flow = ODEWorkflow(config, base)
    trainer = Trainer(flow, flow.loss, config.train, seed=config.seed, progress=False)
    c0, w0 = time.process_time(), time.perf_counter()
    result = trainer.fit()
    return time.process_time() - c0, time.perf_counter() - w0, result.final_train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    timing = args.evaluations, args.repeats
    single = step_seconds(workflow(False), *timing)
    print(f"single shot: {1e3 * single[0]:.1f} ms CPU ({1e3 * single[1]:.1f} ms wall)")
    shooting = step_seconds(workflow(True), *timing)
    print(f"shooting:    {1e3 * shooting[0]:.1f} ms CPU ({1e3 * shooting[1]:.1f} ms wall)")
    with tempfile.TemporaryDirectory() as folder:
        symbolic = step_seconds(symbolic_workflow(Path(folder)), *timing)
    print(f"symbolic:    {1e3 * symbolic[0]:.1f} ms CPU ({1e3 * symbolic[1]:.1f} ms wall)")
    cpu, wall, loss = training_seconds(args.steps)
    print(f"training:    {cpu:.2f} s CPU ({wall:.2f} s wall), final loss {loss:.6g}")
    print(
        f"ode step: {1e3 * single[0]:.1f} ms per loss+backward (LV, 28 times), "
        f"{1e3 * shooting[0]:.1f} ms with shooting, {1e3 * symbolic[0]:.1f} ms symbolic, "
        f"training {cpu:.2f} s for {args.steps} steps"
    )


if __name__ == "__main__":
    main()
