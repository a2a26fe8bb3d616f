"""Distillation-only ODEBench benchmark: does ``symbolic_fit`` find each true right-hand side?

For every ODEBench system (``discover/data/odebench.py``) the trajectory from its first
initial condition is simulated (200 times over the stated span); for each state the true
right-hand side evaluated on it (with ``--noise`` relative Gaussian noise on these
derivative targets) is fitted over all states by ``symbolic_fit``. No network is trained:
this measures distillation alone.

A candidate has the true form as :mod:`odebench_forms` checks it (same terms, constants
within 5 %, relative error below 5 % on the trajectory from the second initial
condition). A system counts as *on front* when every state's true form is on its front,
*selected* when every state's selected candidate has it: the engine's own choice
(``--selection front``) or the held-out rule on the samples (``--selection heldout``,
:func:`odebench_forms.held_out_selection`: the ``heldout`` rule of a study, with the
derivative samples in place of the model's data; it also scores the near front).

Usage::

    python benchmarks/odebench_distill.py                      # all 63 systems, engine auto
    python benchmarks/odebench_distill.py --systems 1,5,17 --engine rational+operon
    python benchmarks/odebench_distill.py --systems 1,5,17 --selection heldout --noise 0.05

The last line reads ``odebench distill: <a>% true form on front, <b>% selected, median
<s> s per system (<n> systems, noise <x>, selection <rule>)``.
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
from odebench_forms import has_true_form, held_out_selection

from discover.data.odebench import OdeSystem, load_odebench
from discover.distill import symbolic_fit


def run_system(system: OdeSystem, args: argparse.Namespace) -> tuple[bool, bool, float]:
    """Fit every state of one system; prints one line per state. Returns (every true form on
    its front, every selected one true, seconds)."""
    _, X = system.simulate(0)
    _, X_held = system.simulate(1)
    targets = system.derivative()(X)
    rng = np.random.default_rng(args.seed)
    targets = targets * (1 + args.noise * rng.normal(size=targets.shape))
    started = time.monotonic()
    on_front, selected = True, True
    for i, truth in enumerate(system.rhs):
        front = symbolic_fit(
            X,
            targets[:, i],
            system.names,
            engine=args.engine,
            time_budget_s=args.budget,
            seed=args.seed,
        )
        hits = [has_true_form(c.expression, truth, system.names, X_held) for c in front]
        chosen = front.selected
        if args.selection == "heldout":
            chosen, _ = held_out_selection(front, X, targets[:, i])
        hit = has_true_form(chosen.expression, truth, system.names, X_held)
        on_front &= any(hits)
        selected &= hit
        print(
            f"  {system.id:>2} d{system.names[i]}/dt  true {sympy.sstr(truth, full_prec=False)}"
            f"  | selected {chosen.text()}  | on front {any(hits)}"
            f"  selected {hit}  ({front.engine})",
            flush=True,
        )
    return on_front, selected, time.monotonic() - started


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", default="", help="comma-separated ids (default: all)")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--budget", type=float, default=5.0, help="search seconds per state")
    parser.add_argument("--noise", type=float, default=0.0, help="relative noise on targets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--selection", choices=["front", "heldout"], default="front")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore")
    ids = [int(s) for s in args.systems.split(",") if s.strip()] or None
    results = []
    for system in load_odebench(ids):
        print(f"system {system.id}: {system.description}", flush=True)
        results.append(run_system(system, args))
    n = len(results)
    front_share = 100 * sum(r[0] for r in results) / n
    selected_share = 100 * sum(r[1] for r in results) / n
    median = statistics.median(r[2] for r in results)
    print(
        f"odebench distill: {front_share:.0f}% true form on front, {selected_share:.0f}% "
        f"selected, median {median:.1f} s per system ({n} systems, noise {args.noise:g}, "
        f"selection {args.selection})"
    )


if __name__ == "__main__":
    main()
