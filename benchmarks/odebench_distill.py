"""Distillation-only ODEBench benchmark: does ``symbolic_fit`` find each true right-hand side?

For every ODEBench system (``discover/data/odebench.py``) the trajectory from its first
initial condition is simulated (200 times over the stated span); for each state the true
right-hand side evaluated on it (with ``--noise`` relative Gaussian noise on these
derivative targets) is fitted over all states by ``symbolic_fit``. No network is trained:
this measures distillation alone.

A candidate has the true form when both hold:

* symbolically: expanded into terms, it has the same terms as the truth with every
  constant (coefficients and constants inside terms) within 5 % relative of the true one
  (floats within 1e-6 of an integer count as that integer);
* numerically: its relative error ``||found - true|| / ||true||`` is below 5 % on the
  trajectory from the second initial condition (held-out points).

A system counts as *on front* when every state's true form is on its front, *selected*
when every state's selected candidate has it.

Usage::

    python benchmarks/odebench_distill.py                      # all 63 systems, engine auto
    python benchmarks/odebench_distill.py --systems 1,5,17 --engine rational+operon

The last line reads ``odebench distill: <a>% true form on front, <b>% selected, median
<s> s per system (<n> systems, noise <x>)``.
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

from discover.data.odebench import OdeSystem, load_odebench
from discover.distill import symbolic_fit
from discover.distill.postprocess import numpy_function

TOLERANCE = 0.05
"""Relative tolerance of constants and of the held-out error."""


def _integers(expr: sympy.Expr) -> sympy.Expr:
    """Floats within 1e-6 of an integer become that integer."""
    return expr.xreplace(
        {
            f: sympy.Integer(round(float(f)))
            for f in expr.atoms(sympy.Float)
            if abs(float(f) - round(float(f))) < 1e-6
        }
    )


def _terms(expr: sympy.Expr) -> dict[sympy.Expr, tuple[float, ...]]:
    """``{term template: constants}``: each term of the expansion with its floats replaced by
    placeholders (in a fixed order), mapped to its coefficient and those floats."""
    expanded = _integers(sympy.expand(_integers(expr)))
    out: dict[sympy.Expr, tuple[float, ...]] = {}
    for term, coefficient in expanded.as_coefficients_dict().items():
        floats = sorted(term.atoms(sympy.Float), key=sympy.default_sort_key)
        slots = {f: sympy.Symbol(f"c{i}") for i, f in enumerate(floats)}
        template = term.xreplace(slots)
        out[template] = (float(coefficient), *(float(f) for f in floats))
    return out


def same_terms(found: sympy.Expr, truth: sympy.Expr) -> bool:
    """Whether ``found`` has the terms of ``truth`` with constants within :data:`TOLERANCE`."""
    mine, theirs = _terms(found), _terms(truth)
    if set(mine) != set(theirs):
        return False
    for key, true_constants in theirs.items():
        constants = mine[key]
        if len(constants) != len(true_constants):
            return False
        for a, b in zip(constants, true_constants, strict=True):
            if abs(a - b) > TOLERANCE * abs(b):
                return False
    return True


def held_out_error(found: sympy.Expr, truth: sympy.Expr, names: Sequence[str], X) -> float:
    """``||found - truth|| / ||truth||`` on the points ``X`` ``[samples, states]``."""
    a, b = numpy_function(found, names)(X), numpy_function(truth, names)(X)
    with np.errstate(all="ignore"):
        error = float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))
    return error if np.isfinite(error) else float("inf")


def has_true_form(found: sympy.Expr, truth: sympy.Expr, names: Sequence[str], X) -> bool:
    """Both checks of the module docstring."""
    return same_terms(found, truth) and held_out_error(found, truth, names, X) < TOLERANCE


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
        on_front &= any(hits)
        selected &= hits[front.selected_index]
        print(
            f"  {system.id:>2} d{system.names[i]}/dt  true {sympy.sstr(truth, full_prec=False)}"
            f"  | selected {front.selected.text()}  | on front {any(hits)}"
            f"  selected {hits[front.selected_index]}  ({front.engine})",
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
        f"selected, median {median:.1f} s per system ({n} systems, noise {args.noise:g})"
    )


if __name__ == "__main__":
    main()
