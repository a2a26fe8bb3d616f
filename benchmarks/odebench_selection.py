"""What a selection rule costs and chooses on ODEBench systems: each system's study (as
``benchmarks/odebench.py`` sets it up, default config) is trained once, each network slot
distilled once, and every rule of ``--rules`` then selects from the same front in the same
trained model (each rule puts the model back as it was), timed.

Usage::

    python benchmarks/odebench_selection.py --systems 2,27 --rules bic,heldout

Per slot it prints each rule's seconds, its selected equation and whether that has the
true form (:func:`odebench_forms.has_true_form`); the last line reads
``odebench_selection: <rule> median <s> s per slot, <k>/<n> true forms; ...``.
With ``--table``, the ``heldout`` rule's scores follow its line (per candidate scored: mean
log held-out error, constants estimated from data, expression; then its margin).
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import sympy
import torch
from odebench import study_config
from odebench_forms import has_true_form, run_systems

from discover.data.odebench import OdeSystem
from discover.distill.pareto import ParetoFront
from discover.stages.distill import distill_slot
from discover.stages.select import SelectionContext, selection_rule
from discover.study import Study
from discover.validate.parsimony import estimated_constants


def _untrainable(candidate: object) -> tuple:
    raise NotImplementedError("this benchmark times rules that refit in the trained model")


def run_system(system: OdeSystem, args: argparse.Namespace) -> list[tuple[str, float, bool]]:
    """Train ``system``'s study, distill each slot and let each rule select; prints one line
    per slot and rule. Returns ``(rule, seconds, true form)`` per slot and rule."""
    rules = [r for r in args.rules.split(",") if r]
    results = []
    symbols = {name: sympy.Symbol(name, real=True) for name in system.names}
    _, X_held = system.simulate(1, n_times=args.points)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t, X = system.simulate(0, n_times=args.points, noise=args.noise, seed=args.seed)
        header = ",".join(["t", *system.names])
        rows = np.column_stack([t, X])
        np.savetxt(folder / "data.csv", rows, delimiter=",", header=header, comments="")
        study = Study(study_config(system, folder / "data.csv", None), folder)
        started = time.monotonic()
        study.fit(progress=False)
        print(f"  trained in {time.monotonic() - started:.0f} s", flush=True)
        settings = study.config.distill
        for i, truth in enumerate(system.rhs):
            slot = f"F{i}"
            found = distill_slot(study.workflow, slot, settings, study.config.seed)
            context = SelectionContext(study.workflow, found.samples, settings, _untrainable)
            for rule in rules:
                started = time.monotonic()
                front = selection_rule(rule).select(found.front, slot, context).front
                seconds = time.monotonic() - started
                chosen = sympy.sympify(str(front.selected.expression), locals=symbols)
                exact = has_true_form(chosen, truth, system.names, X_held)
                print(
                    f"  {slot} {rule:>8}: {seconds:6.1f} s, exact {exact!s:5}  "
                    f"| {sympy.sstr(chosen, full_prec=False)}  | true {truth}",
                    flush=True,
                )
                results.append((rule, seconds, exact))
                if args.table:
                    _print_held_out(front)
    return results


def _print_held_out(front: ParetoFront) -> None:
    """The ``heldout`` rule's scores of ``front`` (nothing for other rules): per candidate
    its mean log held-out error, constants estimated from data and expression, the
    selected one marked, twins not scored last (NaN, the twin scored named), then the
    tolerance on the score and its unresolved part."""
    rows = front.metadata.get("held_out")
    if rows is None:
        return
    chosen = front.selected.text()
    for row in sorted(rows, key=lambda r: (math.isnan(r["score"]), r["score"])):
        constants = estimated_constants(sympy.sympify(row["expression"]))
        mark = "*" if row["expression"] == chosen else " "
        twin = f"  (not scored: twin of {row['twin_of']})" if "twin_of" in row else ""
        print(f"    {mark} {row['score']:8.3f}  k={constants}  {row['expression']}{twin}")
    margin = front.metadata.get("held_out_margin")
    if margin is not None:
        print(f"    margin {margin['margin']:.3f} (unresolved {margin['unresolved']:.3f})")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", default="2", help="comma-separated ids")
    parser.add_argument("--rules", default="bic,heldout", help="comma-separated rules")
    parser.add_argument("--noise", type=float, default=0.0, help="relative noise on states")
    parser.add_argument("--points", type=int, default=150, help="times of the trajectory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", action="store_true", help="print heldout's scores")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    results = [r for rows in run_systems(args.systems, lambda s: run_system(s, args)) for r in rows]
    summary = []
    for rule in dict.fromkeys(r for r, _, _ in results):
        rows = [r for r in results if r[0] == rule]
        median = statistics.median(r[1] for r in rows)
        summary.append(
            f"{rule} median {median:.1f} s per slot, {sum(r[2] for r in rows)}/{len(rows)} "
            "true forms"
        )
    print("odebench_selection: " + "; ".join(summary))


if __name__ == "__main__":
    main()
