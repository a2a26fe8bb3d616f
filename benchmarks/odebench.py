"""ODEBench through the whole pipeline: does a study find each system's law?

For every ODEBench system (``discover/data/odebench.py``) the trajectory from its first
initial condition is simulated at ``--points`` times over the stated span (with
``--noise`` relative Gaussian noise on the states) and written as a study's data. The study
is an ODE model whose every right-hand side is a network (``dx_i/dt = F<i>(x_0, ...)``,
inputs all states) with the default config otherwise (``--selection`` may name another
selection rule): trained, each network distilled, the selected equations reinserted and
refitted, as ``discover run`` does. The final equations are then integrated (scipy) from
both initial conditions and compared with the noise-free truth:

* reconstruction: R² (mean over states) of the trajectory from the first initial
  condition, the one the study was trained on, is at least 0.9;
* new initial conditions: the same from the second one, which the study never saw;
* exact form: every state's equation has the true form
  (:func:`odebench_forms.has_true_form`, numerically along the noise-free trajectories
  from both conditions).

A system whose study fails, a slot left undistilled, an integration that stops early (a
blow-up, :meth:`OdeSystem.simulate`) or a study still running after ``--limit-s`` wall
seconds counts as a miss on all three. Each system runs in a child process of its own
(killed at the limit), which distills the slots side by side (``distill.workers``: one
worker per slot up to the CPUs), and prints one line as it finishes; an interrupted run (Ctrl-C)
still prints the summary of the systems finished.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/odebench.py --systems 1,2,24,26 --noise 0.05

The last runs and their figures: ``docs/odebench.md``.

The last line reads ``odebench: <a>% R2>=0.9 reconstruction, <b>% new initial conditions,
<c>% exact form, median <s> s per system (<n> systems, noise <x>)``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import signal
import statistics
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import sympy
import torch
from odebench_forms import has_true_form, run_systems

from discover.config import StudyConfig
from discover.data.odebench import OdeBenchError, OdeSystem, load_odebench
from discover.rundir import RunWriter, strict_json
from discover.stages.pipeline import distill_all
from discover.study import Study

Outcome = tuple[bool, bool, bool, float]
"""(reconstruction R² ≥ 0.9, new initial condition R² ≥ 0.9, exact form, seconds)."""


def study_config(system: OdeSystem, data: Path, selection: str | None) -> StudyConfig:
    """The default config of an ODE model with a network for every right-hand side."""
    inputs = list(system.names)
    slot = {name: f"F{i}" for i, name in enumerate(system.names)}
    config = {
        "name": f"odebench_{system.id}",
        "data": {"path": str(data), "time": "t"},
        "model": {
            "type": "ode",
            "states": inputs,
            "equations": {name: f"{slot[name]}({', '.join(inputs)})" for name in inputs},
            "neural": {slot[name]: {"inputs": inputs} for name in inputs},
        },
        "distill": {"selection": selection} if selection else {},
    }
    return StudyConfig.model_validate(config)


def found_equations(system: OdeSystem, study: Study) -> list[sympy.Expr] | None:
    """The study's final right-hand sides over the state names (``None`` when a slot is
    still a network)."""
    symbols = {name: sympy.Symbol(name, real=True) for name in system.names}
    found = []
    for i in range(len(system.names)):
        process = study.model.slots[f"F{i}"]
        if process.kind != "symbolic":
            return None
        found.append(sympy.sympify(str(process.expression(6)), locals=symbols))
    return found


def r_squared(system: OdeSystem, equations: Sequence[sympy.Expr], condition: int, n: int) -> float:
    """Mean over states of the R² of ``equations`` integrated from the system's initial
    condition ``condition`` against its true trajectory (-inf when it stops early: a
    blow-up, or an integration given up, :meth:`OdeSystem.simulate`)."""
    t, truth = system.simulate(condition, n_times=n)
    try:
        with np.errstate(all="ignore"):
            found_t, found = replace(system, rhs=tuple(equations)).simulate(condition, n_times=n)
    except OdeBenchError as err:
        print(f"  {system.id:>2} condition {condition}: {err}", flush=True)
        return -np.inf
    if len(found_t) != len(t) or not np.all(np.isfinite(found)):
        return -np.inf
    error = ((found - truth) ** 2).sum(0)
    spread = np.maximum(((truth - truth.mean(0)) ** 2).sum(0), 1e-12)
    return float(np.mean(1 - error / spread))


def run_system(system: OdeSystem, args: argparse.Namespace) -> Outcome:
    """Run one system's study; prints one line. Returns its :data:`Outcome`."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) / f"system_{system.id}" if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t, X = system.simulate(0, n_times=args.points, noise=args.noise, seed=args.seed)
        columns = ["t", *system.names]
        rows = np.column_stack([t, X])
        np.savetxt(folder / "data.csv", rows, delimiter=",", header=",".join(columns), comments="")
        try:
            study = Study(study_config(system, folder / "data.csv", args.selection), folder)
            study.fit(progress=False)
            distill_all(study, RunWriter(folder / "run"), progress=False)
            equations = found_equations(system, study)
            if args.keep:  # the fronts with the selection's tables, for reading afterwards
                fronts = {s: {**f.to_dict(), **f.metadata} for s, f in study.fronts.items()}
                text = json.dumps(strict_json(fronts), indent=1, allow_nan=False, default=str)
                (folder / "fronts.json").write_text(text)
        except Exception as err:  # a failed study is a miss, and the benchmark goes on
            print(f"  {system.id:>2} failed: {type(err).__name__}: {err}", flush=True)
            return False, False, False, time.monotonic() - started
    seconds = time.monotonic() - started
    if equations is None:
        print(f"  {system.id:>2} a slot was not distilled ({seconds:.0f} s)", flush=True)
        return False, False, False, seconds
    paths = [system.simulate(c, n_times=args.points)[1] for c in (0, 1)]
    r2 = [r_squared(system, equations, c, args.points) for c in (0, 1)]
    exact = all(
        has_true_form(e, truth, system.names, *paths)
        for e, truth in zip(equations, system.rhs, strict=True)
    )
    shown, true = (
        "; ".join(sympy.sstr(e, full_prec=False) for e in s) for s in (equations, system.rhs)
    )
    print(
        f"  {system.id:>2} R2 {r2[0]:.3f} / new IC {r2[1]:.3f}, exact {exact}, {seconds:.0f} s"
        f"  | found {shown}  | true {true}",
        flush=True,
    )
    return r2[0] >= 0.9, r2[1] >= 0.9, exact, seconds


def quiet() -> None:
    """Errors only in the log, no warnings, one torch thread (in each process)."""
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)


def child(system_id: int, args: argparse.Namespace, sender: Connection) -> None:
    """:func:`run_system` in a process of its own, its outcome sent back."""
    quiet()
    (system,) = load_odebench([system_id])
    sender.send(run_system(system, args))


def run_limited(system: OdeSystem, args: argparse.Namespace) -> Outcome:
    """:func:`run_system` in a child process, stopped after ``args.limit_s`` seconds (then,
    or when the child dies, a miss on all three)."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    # not daemonic: the study distills its slots in worker processes of its own
    # (``distill.workers``), which die with it when it is killed at the limit
    process = context.Process(target=child, args=(system.id, args, sender))
    started = time.monotonic()
    process.start()
    sender.close()
    outcome = None
    try:
        if receiver.poll(args.limit_s):
            try:
                outcome = receiver.recv()
            except EOFError:  # the child died without an answer
                pass
        process.join(timeout=60 if outcome is not None else 0)  # a finished child cleans up
    finally:  # also when this process is interrupted or terminated: no child left running
        process.kill()
        process.join()
    seconds = time.monotonic() - started
    if outcome is None:
        why = "stopped at the limit" if seconds >= args.limit_s else f"died ({process.exitcode})"
        print(f"  {system.id:>2} {why} after {seconds:.0f} s: a miss", flush=True)
        return False, False, False, seconds
    return outcome


def summary(results: Sequence[Outcome], noise: float) -> str:
    """The last line (see the module docstring)."""
    n = len(results)
    shares = [100 * sum(r[k] for r in results) / n for k in range(3)]
    median = statistics.median(r[3] for r in results)
    return (
        f"odebench: {shares[0]:.0f}% R2>=0.9 reconstruction, {shares[1]:.0f}% new initial "
        f"conditions, {shares[2]:.0f}% exact form, median {median:.0f} s per system "
        f"({n} systems, noise {noise:g})"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", default="", help="comma-separated ids (default: all)")
    parser.add_argument("--noise", type=float, default=0.0, help="relative noise on states")
    parser.add_argument("--points", type=int, default=150, help="times of the trajectory")
    parser.add_argument("--selection", default=None, help="selection rule (default: config's)")
    parser.add_argument("--limit-s", type=float, default=600.0, help="wall seconds per system")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", default="", help="folder to keep each system's data and run in")
    args = parser.parse_args(argv)
    quiet()
    signal.signal(signal.SIGTERM, _terminated)
    results: list[Outcome] = []
    try:
        run_systems(args.systems, lambda system: results.append(run_limited(system, args)))
    except KeyboardInterrupt:  # the systems finished so far still make a summary
        print(f"interrupted after {len(results)} systems", flush=True)
    if results:
        print(summary(results, args.noise), flush=True)


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM ends the run as Ctrl-C does, so that the running system's child is killed."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
