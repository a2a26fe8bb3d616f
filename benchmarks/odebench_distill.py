"""Distillation-only ODEBench benchmark: does ``symbolic_fit`` find each true right-hand side?

For every ODEBench system (``discover/data/odebench.py``) the trajectory from its first
initial condition is simulated (200 times over the stated span); for each state the true
right-hand side evaluated on it (with ``--noise`` relative Gaussian noise on these
derivative targets) is fitted over all states by ``symbolic_fit``. No network is trained:
this measures distillation alone.

A candidate has the true form as :mod:`odebench_forms` checks it (same terms, constants
within 5 %, relative error below 5 % on the trajectory from the second initial
condition). A system counts as *on front* when every state's true form is on its front,
*selected* when every state's selected candidate has it, for two rules on the same
front: the engine's own choice and the held-out rule on the samples
(:func:`odebench_forms.held_out_selection`: the ``heldout`` rule of a study, with the
derivative samples in place of the model's data; it also scores the near front).

Usage::

    python benchmarks/odebench_distill.py                      # all 63 systems, engine auto
    python benchmarks/odebench_distill.py --systems 1,5,17 --engine rational+operon
    python benchmarks/odebench_distill.py --systems 1,5,17 --noise 0.05

The last line reads ``odebench distill: <a>% true form on front (<b>% with the near front),
<c>% selected by the engine, <d>% by heldout, median <s> s per system (<n> systems,
noise <x>)``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings
from collections.abc import Sequence

import numpy as np
import sympy
from odebench_forms import has_true_form, held_out_selection, run_systems

from discover.data.odebench import OdeSystem
from discover.distill import symbolic_fit


def run_system(system: OdeSystem, args: argparse.Namespace) -> dict[str, bool | float]:
    """Fit every state of one system; prints one line per state. Returns whether every
    state's true form is ``on_front``, ``in_play`` (on the front or its near front),
    selected by the engine (``engine``) and by the held-out rule (``heldout``), and the
    ``seconds`` taken."""
    _, X = system.simulate(0)
    _, X_held = system.simulate(1)
    targets = system.derivative()(X)
    rng = np.random.default_rng(args.seed)
    targets = targets * (1 + args.noise * rng.normal(size=targets.shape))
    started = time.monotonic()
    found = dict.fromkeys(("on_front", "in_play", "engine", "heldout"), True)
    for i, truth in enumerate(system.rhs):
        front = symbolic_fit(
            X,
            targets[:, i],
            system.names,
            engine=args.engine,
            time_budget_s=args.budget,
            seed=args.seed,
        )
        chosen, scored = held_out_selection(front, X, targets[:, i])
        hits = [has_true_form(c.expression, truth, system.names, X_held) for c in scored]
        state = {
            "on_front": any(hits[: len(front)]),
            "in_play": any(hits),
            "engine": hits[front.selected_index],
            "heldout": has_true_form(chosen.expression, truth, system.names, X_held),
        }
        found = {key: found[key] and state[key] for key in found}
        print(
            f"  {system.id:>2} d{system.names[i]}/dt  true {sympy.sstr(truth, full_prec=False)}"
            f"  | engine {front.selected.text()}  | heldout {chosen.text()}  | "
            + ", ".join(f"{key} {value}" for key, value in state.items()),
            flush=True,
        )
    return {**found, "seconds": time.monotonic() - started}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", default="", help="comma-separated ids (default: all)")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--budget", type=float, default=5.0, help="search seconds per state")
    parser.add_argument("--noise", type=float, default=0.0, help="relative noise on targets")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore")
    results = run_systems(args.systems, lambda system: run_system(system, args))
    n = len(results)
    share = {key: 100 * sum(r[key] for r in results) / n for key in results[0] if key != "seconds"}
    median = statistics.median(r["seconds"] for r in results)
    print(
        f"odebench distill: {share['on_front']:.0f}% true form on front "
        f"({share['in_play']:.0f}% with the near front), {share['engine']:.0f}% selected by "
        f"the engine, {share['heldout']:.0f}% by heldout, median {median:.1f} s per system "
        f"({n} systems, noise {args.noise:g})"
    )


if __name__ == "__main__":
    main()
