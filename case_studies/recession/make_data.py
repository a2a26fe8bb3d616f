"""Generate the data of the nonlinear-reservoir (recession) study.

A reservoir filled by rain and drained by a power-law outflow,
dS/dt = P(t) - k*S**n with k=0.05 (mm**(1-n)/day) and n=1.5, is integrated for three
catchments ("sites") of 240 days each. Rain P (mm/day) falls in storms of 1 to 4 days
(daily amounts exponential with mean 20 mm/day) separated by dry spells of 3 to 40 days,
so that storage S (mm) rises towards 100 mm and recedes to about 1 mm. P is read as
linear between days, as the ode model does. Observed S carries multiplicative Gaussian
noise of 3% (seed 0). Writes ``data.csv`` (columns t, site, P, S; noisy S) and
``truth.csv`` (t, site, S and the true outflow Q, noise-free).

Usage: python make_data.py [--out FOLDER] [--seed N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

K, N = 0.05, 1.5
SITES, DAYS = 6, 150
S0 = 20.0
NOISE = 0.03


def outflow(storage: np.ndarray) -> np.ndarray:
    """The planted outflow k*S**n, mm/day, for storage in mm."""
    return K * np.maximum(storage, 0.0) ** N


def storms(rng: np.random.Generator, days: int) -> np.ndarray:
    """Daily rain [days] in mm/day: storms of 1-4 wet days between dry spells of 3-40 days."""
    rain = np.zeros(days)
    day = int(rng.integers(0, 5))
    while day < days:
        length = int(rng.integers(1, 5))
        rain[day : day + length] = rng.exponential(20.0, size=len(rain[day : day + length]))
        day += length + int(rng.integers(3, 41))
    return rain


def simulate(times: np.ndarray, rain: np.ndarray) -> np.ndarray:
    """Storage [time] (mm) with rain linear between the daily values, from S0."""

    def rate(t: float, s: np.ndarray) -> np.ndarray:
        return np.interp(t, times, rain) - outflow(s)

    solution = solve_ivp(
        rate, (times[0], times[-1]), [S0], t_eval=times, rtol=1e-10, atol=1e-10, max_step=0.25
    )
    return solution.y[0]


def make_data(out: Path, seed: int = 0) -> pd.DataFrame:
    """Write ``truth.csv`` and ``data.csv`` into ``out`` and return the noisy table."""
    rng = np.random.default_rng(seed)
    times = np.arange(DAYS, dtype=float)
    truth, noisy = [], []
    for site in range(SITES):
        rain = storms(rng, DAYS)
        storage = simulate(times, rain)
        observed = storage * (1.0 + NOISE * rng.standard_normal(DAYS))
        truth.append(pd.DataFrame({"t": times, "site": site, "S": storage, "Q": outflow(storage)}))
        noisy.append(pd.DataFrame({"t": times, "site": site, "P": rain, "S": observed}))
    out.mkdir(parents=True, exist_ok=True)
    pd.concat(truth).to_csv(out / "truth.csv", index=False, float_format="%.8g")
    table = pd.concat(noisy)
    table.to_csv(out / "data.csv", index=False, float_format="%.6g")
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    make_data(args.out, args.seed)
    print(f"wrote {args.out / 'data.csv'} and {args.out / 'truth.csv'}")
