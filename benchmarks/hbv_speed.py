"""Forward+backward time of discover's HBV beside hydrodl2's HBV, measured in the same run.

Setting: 100 sites × 16 parameter sets, 365 and 730 days, routing on, float32, CPU,
2 threads (``--threads``), ``OMP_WAIT_POLICY=PASSIVE``, freed memory kept for reuse by
the C allocator in both processes (:mod:`discover.models.memory`; the HBV asks for it
itself). discover's and hydrodl2's runs alternate in ``--repeats`` rounds, each side
after one untimed warm-up run, so that a busy machine slows both alike; each figure is
the best over the rounds. hydrodl2 is never a dependency of discover: it is looked up in a separate
virtual environment (``$HYDRODL2_PYTHON``, else /work/hydrodl2-venv/bin/python) and run
in a subprocess per round; without it, only discover's figures are printed. A neural
evapotranspiration slot is timed too, in the same rounds: its extra cost over the
textbook model beside its network alone, once without and once with gradients to the
network's inputs (which the model needs).

    python benchmarks/hbv_speed.py [--repeats 3] [--threads 2]

It prints the time of day and the load averages at its start and end (other work on the
machine slows both models, and the best of more rounds is less affected by it).

The last line reads ``speedup <R>x vs hydrodl2 at 365 days, time ratio 730/365 <Q>``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from discover.models.hbv import HBV  # noqa: E402
from discover.models.hbv_processes import HBV_BOUNDS  # noqa: E402
from discover.models.memory import ENVIRONMENT, retain_freed_memory  # noqa: E402
from discover.processes import Neural  # noqa: E402

SITES, NMUL, DAYS = 100, 16, (365, 730)
DEFAULT_HYDRODL2 = "/work/hydrodl2-venv/bin/python"

# Run inside hydrodl2's environment: prints {days: [forward_s, backward_s]} as JSON.
HYDRODL2_SCRIPT = """
import json, sys, time, torch
torch.set_num_threads({threads})
from hydrodl2 import load_model
model = load_model("hbv")(
    config={{"nmul": {nmul}, "warmup": 0, "dynamic_params": {{}}, "routing": True}},
    device=torch.device("cpu"),
)
result = {{}}
for days in {days}:  # the first run of each length is an untimed warm-up
    gen = torch.Generator().manual_seed(0)
    x = torch.stack([
        torch.rand(days, {sites}, generator=gen) ** 3 * 20,
        torch.randn(days, {sites}, generator=gen) * 8 + 5,
        torch.rand(days, {sites}, generator=gen) * 4,
    ], -1)
    best = [float("inf"), float("inf")]
    for run in range({repeats} + 1):
        raw = torch.randn(days, {sites}, model.learnable_param_count, generator=gen)
        raw.requires_grad_(True)
        t0 = time.perf_counter()
        q = model({{"x_phy": x}}, raw)["streamflow"]
        t1 = time.perf_counter()
        q.sum().backward()
        t2 = time.perf_counter()
        if run > 0:
            best = [min(best[0], t1 - t0), min(best[1], t2 - t1)]
    result[days] = best
print(json.dumps(result))
"""


def forcings(days: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random daily forcings [days, SITES] with wet/dry days and seasons of snow."""
    gen = torch.Generator().manual_seed(seed)
    return {
        "precipitation": torch.rand(days, SITES, generator=gen) ** 3 * 20,
        "temperature": torch.randn(days, SITES, generator=gen) * 8 + 5,
        "pet": torch.rand(days, SITES, generator=gen) * 4,
    }


def time_model(model: HBV, days: int, repeats: int) -> tuple[float, float]:
    """Best forward and backward seconds over ``repeats`` runs with fresh parameters."""
    data = forcings(days)
    gen = torch.Generator().manual_seed(1)
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        raw = torch.rand(len(model.parameter_names()), SITES, NMUL, generator=gen)
        raw.requires_grad_(True)
        t0 = time.perf_counter()
        parameters = {
            name: HBV_BOUNDS[name].low + (HBV_BOUNDS[name].high - HBV_BOUNDS[name].low) * r
            for name, r in zip(model.parameter_names(), raw, strict=True)
        }
        out = model(data, parameters)
        t1 = time.perf_counter()
        out.streamflow.sum().backward()
        t2 = time.perf_counter()
        best = [min(best[0], t1 - t0), min(best[1], t2 - t1)]
    return best[0], best[1]


def time_network(network: Neural, days: int, repeats: int, input_grad: bool = False) -> float:
    """Best forward+backward seconds of the slot's network alone, called once per day on
    [SITES, NMUL] inputs; with ``input_grad`` the backward pass also reaches the inputs,
    as it must inside the model (soil wetness depends on the parameters)."""
    best = float("inf")
    for _ in range(repeats):
        inputs = [torch.rand(SITES, NMUL, requires_grad=input_grad) for _ in network.inputs]
        network.zero_grad()
        t0 = time.perf_counter()
        total = sum(network.evaluate(inputs).sum() for _ in range(days))
        total.backward()
        best = min(best, time.perf_counter() - t0)
    return best


def hydrodl2_python() -> str | None:
    """The interpreter of hydrodl2's environment, or ``None`` (saying so) without it."""
    python = os.environ.get("HYDRODL2_PYTHON", DEFAULT_HYDRODL2)
    if not Path(python).exists():
        print(f"hydrodl2 not installed (no interpreter at {python}; set HYDRODL2_PYTHON)")
        return None
    return python


def time_hydrodl2(python: str, repeats: int, threads: int) -> dict[int, tuple[float, float]] | None:
    """hydrodl2's best forward and backward seconds per length, from its own environment,
    or ``None`` (saying why) when it fails to run."""
    script = HYDRODL2_SCRIPT.format(
        threads=threads, nmul=NMUL, days=list(DAYS), sites=SITES, repeats=repeats
    )
    env = {**os.environ, **ENVIRONMENT, "CI": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run(
        [python, "-c", script], capture_output=True, text=True, env=env, timeout=1800
    )
    if done.returncode != 0:
        print(f"hydrodl2 failed to run:\n{done.stderr[-2000:]}")
        return None
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {int(days): (times[0], times[1]) for days, times in result.items()}


def load() -> str:
    """The time of day (UTC) and the machine's load averages over 1, 5 and 15 minutes."""
    now = time.strftime("%H:%M:%S UTC", time.gmtime())
    return f"{now}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"


def best(old: tuple[float, float] | None, new: tuple[float, float]) -> tuple[float, float]:
    """Least forward and least backward seconds of two measurements."""
    return new if old is None else (min(old[0], new[0]), min(old[1], new[1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds (best kept)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of both models")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"{SITES} sites x {NMUL} parameter sets, float32, {args.threads} threads, CPU")
    print(f"start {load()}")
    kept = retain_freed_memory()
    print(f"freed memory kept for reuse by the C allocator in both models: {kept}")

    textbook, neural_model = HBV(), HBV()
    network = Neural(["pet", "soil_wetness"], ">=0", hidden=(32, 32))
    neural_model.set_slot("evapotranspiration", network)
    days = DAYS[0]
    for length in DAYS:  # untimed warm-up
        time_model(textbook, length, 1)
    time_model(neural_model, days, 1)
    python = hydrodl2_python()
    ours: dict[int, tuple[float, float]] = {}
    theirs: dict[int, tuple[float, float]] | None = {} if python else None
    # best totals (not sums of best parts) of the textbook and neural models and the network
    neural = dict.fromkeys(("textbook", "model", "alone", "input_grad"), float("inf"))
    for _ in range(args.repeats):
        for length in DAYS:
            run = time_model(textbook, length, 1)
            ours[length] = best(ours.get(length), run)
            if length == days:
                neural["textbook"] = min(neural["textbook"], sum(run))
        neural["model"] = min(neural["model"], sum(time_model(neural_model, days, 1)))
        neural["alone"] = min(neural["alone"], time_network(network, days, 1))
        grad = time_network(network, days, 1, input_grad=True)
        neural["input_grad"] = min(neural["input_grad"], grad)
        if python is not None and theirs is not None:
            other = time_hydrodl2(python, 1, args.threads)
            theirs = None if other is None else {n: best(theirs.get(n), other[n]) for n in DAYS}

    print(f"{'days':>5} {'model':>9} {'forward s':>10} {'backward s':>11} {'total s':>8}")
    for length in DAYS:
        rows = [("discover", ours[length])]
        if theirs is not None:
            rows.append(("hydrodl2", theirs[length]))
        for name, (fwd, bwd) in rows:
            print(f"{length:>5} {name:>9} {fwd:>10.3f} {bwd:>11.3f} {fwd + bwd:>8.3f}")
    extra = neural["model"] - neural["textbook"]
    print(
        f"neural evapotranspiration slot (MLP 32x32), {days} days: model {neural['model']:.3f} s, "
        f"extra over textbook {extra:.3f} s, network alone {neural['alone']:.3f} s "
        f"({neural['input_grad']:.3f} s with gradients to its inputs, as in the model)"
    )

    print(f"end {load()}")
    total = {length: sum(ours[length]) for length in DAYS}
    ratio = total[DAYS[1]] / total[DAYS[0]]
    if theirs is None:
        print(f"speedup n/a (hydrodl2 did not run), time ratio 730/365 {ratio:.2f}")
        return
    speedup = sum(theirs[DAYS[0]]) / total[DAYS[0]]
    print(f"speedup {speedup:.1f}x vs hydrodl2 at 365 days, time ratio 730/365 {ratio:.2f}")


if __name__ == "__main__":
    sys.exit(main())
