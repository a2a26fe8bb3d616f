"""Per-day overhead of discover's HBV: seconds per simulated day in the two shapes the
calibration uses, on one thread by default.

    inference forward  1 site × 224 parameter sets × 2,557 days (a population's losses:
                       ``torch.inference_mode``, streamflow only, as
                       :class:`discover.fit.population.PopulationLoss` runs it)
    forward+backward   6 sites × 16 parameter sets × 500 days (a candidate's refit step)

Each case runs ``--repeats`` times after one untimed warm-up run; the median and the
least wall seconds and the median CPU seconds of the thread are printed, with the load
averages at the start and the end (other work on the machine slows every run).
``--ops`` also counts the torch operations one day of the inference run calls
(``torch.profiler``). ``--smooth`` sets the model's threshold smoothing and ``--et`` fills
the evapotranspiration slot with a network (``neural``: 16x16 over pet and soil wetness,
``0 <= out <= pet``) or an equation (``symbolic``: ``pet*soil_wetness**b``), the slots a
study such as case_studies/fulda runs every day, or with the textbook function times a
learnable factor (``learnable``: a ``Physical`` slot with a parameter), each in float32
as a study of that dtype converts its slots (textbook by default).

    python benchmarks/hbv_overhead.py [--repeats 5] [--threads 1] [--ops]
        [--smooth TAU] [--et textbook|neural|symbolic|learnable]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch import Tensor

from discover.models.hbv import HBV
from discover.models.hbv_processes import HBV_BOUNDS
from discover.models.hbv_processes import evapotranspiration as textbook_evapotranspiration
from discover.processes import Neural, Physical, Symbolic
from discover.processes.base import Process

CASES = {"inference forward": (1, 224, 2557, False), "forward+backward": (6, 16, 500, True)}
"""Case name → (sites, parameter sets, days, gradients)."""


def evapotranspiration(kind: str) -> Process | None:
    """The evapotranspiration slot of ``--et`` in float32 (``None``: the textbook one)."""
    torch.manual_seed(0)
    inputs, bounds = ["pet", "soil_wetness"], "0 <= out <= pet"
    if kind == "neural":
        return Neural(inputs, bounds, hidden=(16, 16))
    if kind == "symbolic":
        return Symbolic("pet*soil_wetness**b", inputs, {"b": 0.5}, bounds).float()
    if kind == "learnable":
        inputs = [*inputs, "lp"]
        return Physical(scaled_evapotranspiration, inputs, {"factor": 1.0}, bounds).float()
    return None


def scaled_evapotranspiration(
    pet: Tensor, soil_wetness: Tensor, lp: Tensor, factor: Tensor
) -> Tensor:
    """Textbook evapotranspiration times ``factor``, mm/day."""
    return factor * textbook_evapotranspiration(pet, soil_wetness, lp)


def inputs(
    model: HBV, sites: int, nmul: int, days: int, grad: bool
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Random forcings [days, sites] and parameters [sites, nmul] within HBV's bounds."""
    gen = torch.Generator().manual_seed(0)
    forcings = {
        "precipitation": torch.rand(days, sites, generator=gen) ** 3 * 20,
        "temperature": torch.randn(days, sites, generator=gen) * 8 + 5,
        "pet": torch.rand(days, sites, generator=gen) * 4,
    }
    parameters = {}
    for name in model.parameter_names():
        bound = HBV_BOUNDS[name]
        share = torch.rand(sites, nmul, generator=gen)
        parameters[name] = (bound.low + (bound.high - bound.low) * share).requires_grad_(grad)
    return forcings, parameters


def run_case(
    model: HBV, sites: int, nmul: int, days: int, grad: bool, warmup: int | None = None
) -> Callable[[], None]:
    """One run of a case: a forward in inference mode keeping the streamflow alone, or a
    forward and backward, with ``warmup`` days (without gradients; default: 365 or half
    the days if fewer)."""
    forcings, parameters = inputs(model, sites, nmul, days, grad)
    warmup = min(365, days // 2) if warmup is None else warmup

    def run() -> None:
        if not grad:
            with torch.inference_mode():
                model(forcings, parameters, warmup=warmup, streamflow_only=True)
            return
        model(forcings, parameters, warmup=warmup).streamflow.square().mean().backward()

    return run


def seconds(run: Callable[[], None], repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds (of the calling thread, less affected by other work on the
    machine) of ``repeats`` runs after one untimed warm-up run."""
    run()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        run()
        wall.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
    return wall, cpu


def ops_per_day(model: HBV, grad: bool, days: int = 200) -> float:
    """Torch operations (aten profiler events, those called inside others included) per
    simulated day of an inference run of 1 site × 224 parameter sets, or with ``grad`` of a
    forward and backward run of 6 sites × 16 sets (without warm-up days), from the
    difference of two lengths."""
    counts = []
    for length in (days, 2 * days):
        run = run_case(model, *((6, 16) if grad else (1, 224)), length, grad, warmup=0)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            run()
        counts.append(sum(e.count for e in prof.key_averages() if e.key.startswith("aten::")))
    return (counts[1] - counts[0]) / days


def load() -> str:
    """The time of day (UTC) and the machine's load averages over 1, 5 and 15 minutes."""
    now = time.strftime("%H:%M:%S UTC", time.gmtime())
    return f"{now}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--ops", action="store_true", help="count torch ops per day")
    parser.add_argument("--smooth", type=float, default=None, help="threshold smoothing")
    parser.add_argument(
        "--et", choices=("textbook", "neural", "symbolic", "learnable"), default="textbook"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"float32, CPU, {args.threads} thread(s), smooth {args.smooth}, {args.et} "
        f"evapotranspiration; start {load()}"
    )
    model = HBV(smooth=args.smooth)
    slot = evapotranspiration(args.et)
    if slot is not None:
        model.set_slot("evapotranspiration", slot)
    for name, (sites, nmul, days, grad) in CASES.items():
        wall, cpu = seconds(run_case(model, sites, nmul, days, grad), args.repeats)
        median, median_cpu = statistics.median(wall), statistics.median(cpu)
        print(
            f"{name:>17}: {sites} site x {nmul} sets x {days} days: median {median:.3f} s "
            f"({1e3 * median / days:.3f} ms/day), least {min(wall):.3f} s; CPU of the "
            f"thread: median {median_cpu:.3f} s ({1e3 * median_cpu / days:.3f} ms/day)"
        )
    if args.ops:
        plain, tracked = (ops_per_day(model, grad) for grad in (False, True))
        print(f"aten ops per simulated day: inference {plain:.1f}, forward+backward {tracked:.1f}")
    print(f"end {load()}")


if __name__ == "__main__":
    sys.exit(main())
