"""Recovery benchmark: do the symbolic-regression engines find planted process functions?

Each planted function (typical of geoscience) is sampled at 2,000 points drawn uniformly
over its training box, with Gaussian noise of 1% of the output's standard deviation, for
several seeds. A fit counts as an *exact-form* recovery only when the selected candidate

* is sympy-equivalent to the planted function (``simplify(found - planted) == 0``, after
  the constant rounding that post-processing does), or
* agrees numerically on an extrapolation box the engine never saw (wider than the
  training box): max |found - planted| <= 1e-3 x max |planted| over 4,000 points.

Nothing else counts. Seconds are wall-clock per fit (search plus post-processing).

Usage::

    python benchmarks/recovery.py                       # all engines, all functions
    python benchmarks/recovery.py --engines auto --budget 30 --seeds 3

The last line reads ``recovery <P>% exact-form, median <S> s per function (<engine>)`` for
the last engine listed (``auto`` by default, naming the engine it ran).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings
from dataclasses import dataclass

import numpy as np
import sympy

from discover.distill import symbolic_fit
from discover.distill.postprocess import numpy_function
from discover.expressions import parse_expression

N_SAMPLES = 2000
NOISE = 0.01
TOLERANCE = 1e-3
N_CHECK = 4000


@dataclass(frozen=True)
class Planted:
    """A planted function: equation string over named inputs, training and extrapolation
    boxes (``name -> (low, high)``)."""

    name: str
    equation: str
    train: dict[str, tuple[float, float]]
    extrapolate: dict[str, tuple[float, float]]

    @property
    def inputs(self) -> list[str]:
        return list(self.train)

    def expression(self) -> sympy.Expr:
        return parse_expression(self.equation, self.inputs)


PLANTED: tuple[Planted, ...] = (
    Planted("saturation", "x/(1 + x)", {"x": (0, 5)}, {"x": (0, 10)}),
    Planted(
        "hbv_recharge",
        "p*min(1, (s/250)**2)",
        {"s": (0, 300), "p": (0, 10)},
        {"s": (0, 450), "p": (0, 20)},
    ),
    Planted("tetens", "0.6108*exp(17.27*T/(T + 237.3))", {"T": (-10, 35)}, {"T": (-20, 45)}),
    Planted("michaelis_menten", "2.5*S/(0.8 + S)", {"S": (0, 10)}, {"S": (0, 20)}),
    Planted("power_reservoir", "0.05*S**1.5", {"S": (1, 200)}, {"S": (0.5, 300)}),
    Planted("q10", "1.2*2**((T - 20)/10)", {"T": (0, 35)}, {"T": (-10, 45)}),
    Planted("logistic", "1/(1 + exp(-1.5*(x - 2)))", {"x": (-2, 6)}, {"x": (-4, 8)}),
    Planted("degree_day_melt", "3*max(0, T - 1)", {"T": (-10, 10)}, {"T": (-20, 20)}),
    Planted("exponential_recession", "5*exp(-0.1*t)", {"t": (0, 30)}, {"t": (0, 60)}),
    Planted(
        "monod_product",
        "2*a/(1 + a)*b/(3 + b)",
        {"a": (0, 10), "b": (0, 10)},
        {"a": (0, 20), "b": (0, 20)},
    ),
    Planted("hill", "x**2/(4 + x**2)", {"x": (0, 6)}, {"x": (0, 12)}),
    Planted("beer_lambert", "1 - exp(-0.5*L)", {"L": (0, 8)}, {"L": (0, 12)}),
    Planted(
        "et_moisture_stress",
        "pet*min(1, sm/105)",
        {"sm": (0, 150), "pet": (0, 6)},
        {"sm": (0, 250), "pet": (0, 10)},
    ),
    Planted(
        "darcy_flux",
        "0.5*(h1 - h2)/L",
        {"h1": (0, 10), "h2": (0, 10), "L": (1, 5)},
        {"h1": (0, 20), "h2": (0, 20), "L": (0.5, 8)},
    ),
)


def sample(planted: Planted, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy samples ``X`` ``[2000, inputs]`` and ``y`` ``[2000]`` over the training box."""
    rng = np.random.default_rng(seed)
    X = np.stack([rng.uniform(lo, hi, N_SAMPLES) for lo, hi in planted.train.values()], axis=1)
    y = numpy_function(planted.expression(), planted.inputs)(X)
    return X, y + NOISE * np.std(y) * rng.normal(size=N_SAMPLES)


def exact_form(found: sympy.Expr, planted: Planted) -> tuple[bool, str]:
    """Whether ``found`` is the planted function (see the module docstring), and how."""
    truth = planted.expression()
    rng = np.random.default_rng(12345)
    X = np.stack([rng.uniform(lo, hi, N_CHECK) for lo, hi in planted.extrapolate.values()], axis=1)
    expected = numpy_function(truth, planted.inputs)(X)
    got = numpy_function(found, planted.inputs)(X)
    error = float(np.max(np.abs(got - expected))) / float(np.max(np.abs(expected)))
    if np.isfinite(error) and error <= TOLERANCE:
        return True, f"numeric (max rel. error {error:.1e})"
    if sympy.simplify(found - truth) == 0:
        return True, "symbolic"
    return False, f"no (max rel. error {error:.1e})"


def run(engines: list[str], budget: float, seeds: int, names: list[str] | None) -> None:
    functions = [p for p in PLANTED if names is None or p.name in names]
    last = ""
    for engine in engines:
        recovered, seconds, ran = [], [], engine
        for planted in functions:
            for seed in range(seeds):
                X, y = sample(planted, seed)
                started = time.monotonic()
                front = symbolic_fit(
                    X, y, planted.inputs, engine=engine, time_budget_s=budget, seed=seed
                )
                elapsed = time.monotonic() - started
                ok, how = exact_form(front.selected.expression, planted)
                recovered.append(ok)
                seconds.append(elapsed)
                ran = front.engine
                print(
                    f"{engine:>16} {planted.name:>22} seed {seed}  {elapsed:6.1f} s  "
                    f"{'EXACT' if ok else 'miss '}  {how:<32} {front.selected.expression}",
                    flush=True,
                )
        share = 100.0 * sum(recovered) / len(recovered)
        median = statistics.median(seconds)
        label = ran if engine == ran else f"{engine} -> {ran}"
        print(
            f"engine {label}: {sum(recovered)}/{len(recovered)} exact-form ({share:.0f}%), "
            f"median {median:.1f} s per function",
            flush=True,
        )
        last = f"recovery {share:.0f}% exact-form, median {median:.1f} s per function ({ran})"
    print(last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", default="rational,operon,auto", help="comma-separated")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per fit")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--functions", default=None, help="comma-separated names (default all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    warnings.filterwarnings("ignore")
    names = args.functions.split(",") if args.functions else None
    run(args.engines.split(","), args.budget, args.seeds, names)


if __name__ == "__main__":
    main()
