"""Calibration of the textbook HBV on Fulda: discover's CMA-ES against scipy's
differential evolution (DE), on the same equations, objective and batched forward pass.

Setting: ``case_studies/fulda/config.yaml`` with every slot textbook (the ``physics``
variant): per-site parameters, threshold smoothing 1, float64, 1979 spin-up, calibration
on 1980–1985, test 1986–1988. Both optimisers minimise the workflow's training loss over
the shares of each parameter's range (:class:`discover.fit.population.PopulationLoss`,
one forward pass per generation for the whole population). DE: scipy defaults
(``popsize=15`` per dimension, ``tol=0.01``, ``maxiter=1000``, ``mutation=(0.5, 1)``,
``recombination=0.7``) with ``vectorized=True`` (hence ``updating='deferred'``) and
``polish=False`` (scipy's polish is a serial finite-difference L-BFGS-B), its members
simulated in the precision of discover's search (``precision``); its best over
``--seeds`` is the reference optimum. For each DE run the time until it first came
within 0.005 of its own final loss is printed too. discover: :func:`calibrate` with its
default settings (two CMA-ES searches side by side, log scale for wide ranges, 32 members
per value and search, each search stopped when its own best loss (≈ 1 − NSE) fell by less
than 0.003 in 10 generations or by less than it trailed the other, no polish), once per
seed; ``--set KEY=VALUE`` changes a ``train.calibration`` setting (``--set searches=1
sigma=0.4``). Per seed it prints the calibrated ``uzl`` (Fulda's HBV has two optima,
``uzl`` ≈ 31 mm and ≈ 9–10 mm, the second better on both periods), each search's own best
loss and generations, and the generation at which the best came within 0.005 of DE's
reference loss. DE stops when its population's losses spread less than 1 % of their mean
(``tol=0.01``). Both times are given as wall time and as the process's CPU time (on a
shared machine the wall time follows the other jobs' load).

    python benchmarks/calibration.py [--seeds 0 1] [--de-seeds 0] [--set KEY=VALUE ...]
        [--threads 1] [--smooth none] [--capillary]

``--de-seeds`` (default ``--seeds``; none: discover alone) are DE's seeds. ``--smooth``
(a width in mm and °C, or ``none`` for hard thresholds) and ``--capillary``
(``model.capillary: true``) run the same comparison on other structures of the same HBV.

The last line reads ``calibration fulda: test NSE <ours> vs DE <ref>, calibration NSE
<ours> vs <ref>, time <ours> s vs <ref> s, CPU <ours> s vs <ref> s``: discover's mean over
seeds, DE's best run for the NSE and DE's mean times.

Where the time goes (one thread, load 6–7, CPU s, medians of two alternating rounds). A
generation's batched forward pass (:meth:`PopulationLoss.losses`: inference mode, streamflow
alone) costs in float64 0.30–0.32 for one member (the daily loop's per-day cost, ~58 small
torch operations and their Python, paid by any batch), 0.42 for DE's 210 and 0.59–0.61 for
discover's 896 (two searches); in float32 0.49–0.50 for 896 (before inference mode,
streamflow-only runs, contiguous parameters, a floored softplus and routing by fused
multiply-adds: 0.38–0.40, 0.52–0.57, 0.88 and 0.80–0.86). CMA-ES's own ``ask`` and ``tell``
take 1.7 s of a seed. The searches run neck and neck for 35–45 generations, until one of
them reaches the better optimum (``uzl`` 9 mm), which then needs 15–20 more to converge; the
other stops when it trails by more than it gains in ``patience`` generations (seeds 0, 1, 2:
after 34, 44, 44 generations; 46, 45, 44 when only the tolerance stopped it). With
``--seeds 0 --de-seeds 0`` (discover 53 generations, DE 143), two runs: ``CPU 33–34 s vs
55–58 s`` (0.59–0.60; before 39 s vs 71 s, 0.55); with ``--set precision=float32`` (DE in
float32 too): ``CPU 27–30 s vs 59–60 s`` (0.46–0.50; before 33 s vs 76 s, 0.43); ``test NSE
0.866 vs DE 0.829, calibration NSE 0.841 vs 0.826`` (float32: test 0.869) before and after;
``--seeds 0 1 2``: losses 0.15879, 0.15875, 0.15896 before and after. DE runs the same
forward pass, so a cheaper day speeds DE more than discover (143 generations against 53) and
only a cheaper member favours discover: with no per-member cost at all the ratio would be
about (53 × 0.30 + 1.7) / (143 × 0.30) ≈ 0.41. One third needs fewer generations (seed 0 is
within 0.005 of DE's loss at generation 22).

Earlier runs, ``--seeds 0 1 2 3 4`` (one thread, load 10–16 from other jobs; calibration /
test NSE, CPU per seed). One search (the code before ``searches``): ``uzl``
9.3–9.5 mm in seeds 1, 3, 4 (0.841 / 0.867–0.870), 31 mm in seeds 0 and 2 (0.831–0.832 /
0.836–0.839), 44–59 generations, CPU 21–29 s; DE in the same run: ``uzl`` 16–30 mm in all
five seeds (0.821–0.826 / 0.827–0.836, 103–143 generations of 210, CPU 40–55 s); ``test
NSE 0.856 vs DE 0.829, calibration NSE 0.837 vs 0.826, time 130 s vs 445 s, CPU 25 s vs 47
s`` (CPU ratio 0.53). Two searches (the default): ``uzl`` 9.2–9.5 mm in all five seeds
(0.841 / 0.866–0.870; 6 of the 10 searches found it), 51–61 generations, CPU 26–34 s; with
DE's seeds 0 and 1 in the same run (``--de-seeds 0 1``; same optima as above, CPU 45 and
34 s): ``test NSE 0.868 vs DE 0.829, calibration NSE 0.841 vs 0.826, time 131 s vs 82 s,
CPU 31 s vs 40 s`` (CPU ratio 0.79; 0.67 against the five DE runs above). Other settings
(``--set``): one search of 896: 3 of 5 seeds at 9–10 mm, CPU 20–28 s; two of 224: 4 of 5,
CPU 22–34 s; two of 224 with ``sigma`` 0.4: 2 of 5; one of 448 with ``sigma`` 0.4: 5 of 5,
CPU 24–28 s (one catchment: not adopted).

Before the stopping rule judged each search's own members and before ``searches``, one
search (one thread, load 2.5–5.6), ``--seeds 0 1 2 3``: CPU 17 s vs DE's 47 s (0.36),
every seed within 0.003 of DE's best calibration NSE. A generation of 448 members costs
about 1.3 times one of 210 (the daily loop's per-day overhead dominates), so the ratio is
close to the ratio of generations times 1.3.

Structures, one search, ``--seeds 0`` (load 12–14 from other jobs; NSE calibration / test):
``--smooth none``: discover 0.829 / 0.829 (36 generations, CPU 22 s), DE 0.822 / 0.852
(CPU 41 s). ``--smooth none --capillary``: discover 0.868 / 0.862 (65 generations, CPU
42 s), DE 0.850 / 0.815 (stopped by ``tol`` after 96 generations, CPU 44 s); seeds 1 and 2
of discover 0.851 / 0.815–0.817 (39 generations; with ``tolerance`` 0.001 0.852 / 0.815).
``--capillary`` (smoothing 1): discover 0.856 / 0.845 (38 generations, CPU 28 s), DE 0.848 /
0.807 (155 generations, CPU 83 s). Capillary rise raises the calibration NSE by 0.03–0.04;
without it hard thresholds and the smoothing fit the calibration years alike (0.822–0.829
against 0.824–0.825). With it and hard thresholds there are two optima, ``uzl`` ≈ 31–33 mm
(calibration NSE 0.850–0.852, test 0.815) and ``uzl`` ≈ 11 mm (0.868 / 0.862, found by
discover's seed 0 alone). The runs above had ``route_shape`` in [0.5, 4].

With ``route_shape`` in [0.5, 10] (load 8–11), ``--seeds 0``: ``test NSE 0.836 vs DE 0.829,
calibration NSE 0.831 vs 0.826, time 281 s vs 732 s, CPU 24 s vs 60 s`` (0.40; discover
within 0.005 of DE's loss at generation 24 of 46, DE 143 generations); ``--smooth none
--capillary``: ``test NSE 0.849 vs DE 0.849, calibration NSE 0.846 vs 0.844, CPU 20 s vs
44 s``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from scipy.optimize import differential_evolution

from discover.config import load_config
from discover.fit.calibration import CalibrationConfig, calibrate
from discover.fit.population import PopulationLoss
from discover.stages.models import build_workflow
from discover.workflows.hbv import HBVWorkflow

CONFIG = Path(__file__).resolve().parents[1] / "case_studies" / "fulda" / "config.yaml"
DE_POPSIZE = 15
"""scipy's default ``popsize``: members per parameter (its ``nfev`` counts calls, one per
generation, when ``vectorized``)."""
NEAR = 0.005
"""Loss margin (≈ NSE) within which DE counts as having reached its optimum."""


def textbook_workflow(structure: dict[str, object]) -> HBVWorkflow:
    """Fulda's HBV workflow with every slot textbook, freshly seeded; ``structure``
    overrides keys of the config's ``model`` section (``smooth``, ``capillary``)."""
    config, base = load_config(CONFIG)
    spec = config.model.model_copy(update={"neural": {}, **structure})
    torch.manual_seed(config.seed)
    return build_workflow(config.model_copy(update={"model": spec}), base)


def nse(workflow: HBVWorkflow) -> dict[str, float]:
    """Nash–Sutcliffe efficiency of the workflow's streamflow on ``train`` and ``val``."""
    with torch.no_grad():
        simulated = workflow.simulate()[..., 0].cpu().numpy()
    observed = workflow.observed[..., 0]
    out = {}
    for split, days in workflow.split_slices().items():
        s, o = simulated[days].ravel(), observed[days].ravel()
        keep = np.isfinite(o)
        s, o = s[keep], o[keep]
        out[split] = float(1 - ((s - o) ** 2).sum() / ((o - o.mean()) ** 2).sum())
    return out


def upper_threshold(workflow: HBVWorkflow) -> float:
    """The calibrated quick-flow threshold ``uzl`` (mm) of the first site: it tells the
    optima apart."""
    return float(workflow.parameters_by_name()["uzl"].detach()[0, 0])


def run_de(
    seed: int, structure: dict[str, object], precision: str
) -> tuple[dict[str, float], float, float, float]:
    """DE from scratch, its members simulated in ``precision`` (as discover's search, see
    ``train.calibration.precision``): NSE per split, seconds, seconds until within
    ``NEAR`` of its end, CPU seconds."""
    workflow = textbook_workflow(structure)
    objective = PopulationLoss(workflow, dtype=None if precision == "model" else torch.float32)
    trace: list[tuple[float, float]] = []
    started, cpu = time.perf_counter(), time.process_time()

    def losses(x: np.ndarray) -> np.ndarray:  # x [dim, members] -> [members]
        points = torch.from_numpy(np.ascontiguousarray(x.T))[:, None, :]
        return objective.total(objective.losses(points)).numpy()

    def watch(intermediate_result) -> None:
        trace.append((time.perf_counter() - started, float(intermediate_result.fun)))

    result = differential_evolution(
        losses,
        [(0.0, 1.0)] * objective.dim,
        popsize=DE_POPSIZE,
        seed=seed,
        vectorized=True,
        updating="deferred",
        polish=False,
        callback=watch,
    )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    reached = next(t for t, fun in trace if fun <= result.fun + NEAR)
    objective.apply(torch.from_numpy(result.x)[None])
    scores = nse(workflow)
    print(
        f"DE seed {seed}: loss {result.fun:.5f}, generations {result.nit} of "
        f"{DE_POPSIZE * objective.dim} members, {seconds:.0f} s, CPU {cpu:.0f} s "
        f"(within {NEAR} of its end after {reached:.0f} s), "
        f"calibration NSE {scores['train']:.4f}, test NSE {scores['test']:.4f}, "
        f"uzl {upper_threshold(workflow):.1f} mm",
        flush=True,
    )
    return scores, seconds, reached, cpu


def run_ours(
    seed: int, structure: dict[str, object], settings: CalibrationConfig
) -> tuple[dict[str, float], float, list[float], float]:
    """discover's calibration from scratch: NSE per split, seconds, its loss history and
    CPU seconds."""
    workflow = textbook_workflow(structure)
    cpu = time.process_time()
    result = calibrate(workflow, settings, seed=seed)
    cpu = time.process_time() - cpu
    scores = nse(workflow)
    print(
        f"discover seed {seed}: loss {result.loss:.5f} (search {result.search_loss:.5f}), "
        f"generations {result.generations}, evaluations {result.evaluations}, "
        f"{result.seconds:.0f} s, CPU {cpu:.0f} s, calibration NSE {scores['train']:.4f}, "
        f"test NSE {scores['test']:.4f}, uzl {upper_threshold(workflow):.1f} mm; searches: "
        + ", ".join(
            f"loss {loss:.5f} in {ran}"
            for loss, ran in zip(result.search_losses, result.search_generations, strict=True)
        ),
        flush=True,
    )
    return scores, result.seconds, result.history, cpu


def when_reached(history: list[float], target: float) -> str:
    """The first generation (1-based) of ``history`` within ``NEAR`` of ``target``."""
    hits = [g for g, loss in enumerate(history, 1) if loss <= target + NEAR]
    return f"generation {hits[0]} of {len(history)}" if hits else "never"


def smoothing(text: str) -> float | str | None:
    """``--smooth``: a width, ``none`` (hard thresholds) or ``config``."""
    return text if text == "config" else None if text == "none" else float(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument(
        "--de-seeds", type=int, nargs="*", default=None, help="DE's seeds (default: --seeds)"
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="train.calibration settings for discover (YAML values, e.g. sigma=0.4)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--smooth",
        type=smoothing,
        default="config",
        help="threshold smoothing in mm/degC, or 'none' for hard thresholds "
        "(default: the case study's)",
    )
    parser.add_argument(
        "--capillary", action="store_true", help="capillary rise (model.capillary: true)"
    )
    args = parser.parse_args()
    structure: dict[str, object] = {"capillary": args.capillary}
    if args.smooth != "config":
        structure["smooth"] = args.smooth
    torch.set_num_threads(args.threads)
    print(
        f"start {time.strftime('%H:%M:%S')}, load {os.getloadavg()}, model {structure}",
        flush=True,
    )
    settings = CalibrationConfig.model_validate(
        {key: yaml.safe_load(text) for key, text in (item.split("=", 1) for item in args.set)}
    )
    print(f"discover: {settings!r}", flush=True)
    ours = [run_ours(seed, structure, settings) for seed in args.seeds]
    de_seeds = args.seeds if args.de_seeds is None else args.de_seeds
    de = [run_de(seed, structure, settings.precision) for seed in de_seeds]
    print(f"end {time.strftime('%H:%M:%S')}, load {os.getloadavg()}")
    report(args.seeds, ours, de)


def report(
    seeds: list[int],
    ours: list[tuple[dict[str, float], float, list[float], float]],
    de: list[tuple[dict[str, float], float, float, float]],
) -> None:
    """The last lines: when each discover seed came within ``NEAR`` of DE's best, and the
    means (discover's alone without DE runs)."""
    ours_train = np.mean([run[0]["train"] for run in ours])
    ours_test = np.mean([run[0]["test"] for run in ours])
    ours_time, ours_cpu = np.mean([run[1] for run in ours]), np.mean([run[3] for run in ours])
    if not de:
        print(
            f"calibration fulda: test NSE {ours_test:.3f}, calibration NSE {ours_train:.3f}, "
            f"time {ours_time:.0f} s, CPU {ours_cpu:.0f} s"
        )
        return
    reference = max((run[0] for run in de), key=lambda s: s["train"])
    best_de = 1 - reference["train"]  # the training loss is ≈ 1 − NSE of the calibration days
    for seed, (_, _, history, _) in zip(seeds, ours, strict=True):
        print(
            f"discover seed {seed}: within {NEAR} of DE's best at {when_reached(history, best_de)}"
        )
    de_time, de_cpu = np.mean([run[1] for run in de]), np.mean([run[3] for run in de])
    print(
        f"calibration fulda: test NSE {ours_test:.3f} vs DE {reference['test']:.3f}, "
        f"calibration NSE {ours_train:.3f} vs {reference['train']:.3f}, "
        f"time {ours_time:.0f} s vs {de_time:.0f} s, CPU {ours_cpu:.0f} s vs {de_cpu:.0f} s"
    )


if __name__ == "__main__":
    main()
