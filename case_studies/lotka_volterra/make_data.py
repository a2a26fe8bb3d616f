"""Generate the Lotka–Volterra data of the universal-differential-equation study.

dx/dt = alpha*x - beta*x*y,  dy/dt = -delta*y + gamma*x*y with alpha=1.3, beta=0.9,
gamma=0.8, delta=1.8, x0=(0.44249296, 4.6280594), t in [0, 3] every 0.1, and Gaussian noise
of 5% of each state's mean. Writes ``data.csv`` (noisy) and ``truth.csv`` (noise-free).

Usage: python make_data.py [--out FOLDER] [--seed N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

ALPHA, BETA, GAMMA, DELTA = 1.3, 0.9, 0.8, 1.8
X0 = (0.44249296, 4.6280594)
NOISE = 0.05


def lotka_volterra(_t: float, u: np.ndarray) -> list[float]:
    x, y = u
    return [ALPHA * x - BETA * x * y, -DELTA * y + GAMMA * x * y]


def make_data(out: Path, seed: int = 0, t_end: float = 3.0, dt: float = 0.1) -> pd.DataFrame:
    """Write ``truth.csv`` and ``data.csv`` into ``out`` and return the noisy table."""
    times = np.round(np.arange(0.0, t_end + dt / 2, dt), 10)
    solution = solve_ivp(lotka_volterra, (0.0, t_end), X0, t_eval=times, rtol=1e-10, atol=1e-12)
    truth = pd.DataFrame({"t": times, "x": solution.y[0], "y": solution.y[1]})
    rng = np.random.default_rng(seed)
    noisy = truth.copy()
    for state in ("x", "y"):
        noisy[state] += rng.normal(0.0, NOISE * truth[state].mean(), len(truth))
    out.mkdir(parents=True, exist_ok=True)
    truth.to_csv(out / "truth.csv", index=False)
    noisy.to_csv(out / "data.csv", index=False)
    return noisy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    make_data(args.out, args.seed)
    print(f"wrote {args.out / 'data.csv'} and {args.out / 'truth.csv'}")
