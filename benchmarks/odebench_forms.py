"""What the ODEBench benchmarks share: whether a found right-hand side has the true form,
and the held-out selection of a front's candidate from derivative samples.

A candidate has the true form when both hold:

* symbolically: expanded into terms (sines and cosines of sums too: ``sin(x_0 - x_1)`` is
  ``sin(x_0)*cos(x_1) - cos(x_0)*sin(x_1)``), it has the same terms as the truth with every
  constant (coefficients and constants inside terms, an integer added inside a term such
  as the ``1`` of ``x**2/(x**2 + 1)`` included, every denominator divided through by the
  coefficient of its term of highest degree) within 5 % relative of the true one
  (other floats within 1e-6 of an integer count as that integer);
* numerically: its relative error ``||found - true|| / ||true||`` is below 5 % on the
  states the given noise-free trajectories visit, at points spaced evenly along each
  path in state space (:func:`path_points`), not at its times: a trajectory that settles
  spends most of its times at its equilibrium, where the true right-hand side vanishes,
  and there a relative error measures where the found equilibrium lies (the data's noise
  moves it) rather than the form. ODEBench system 6 (``2.1x - 0.5x²``) from its second
  condition (2.24; within 1 % of 4.2 at 79 % of its times): ``x(2.11482 - 0.499254x)``,
  constants within 0.8 %, is 13.5 % off at those times and 3 % along both paths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import sympy

from discover.data.odebench import OdeSystem, load_odebench
from discover.distill.constants import refit_constants
from discover.distill.pareto import Candidate, ParetoFront
from discover.distill.postprocess import numpy_function
from discover.distill.selection import one_standard_error_choice, time_blocks
from discover.validate.parsimony import estimated_constants

TOLERANCE = 0.05
"""Relative tolerance of constants and of the held-out error."""

PATH_POINTS = 200
"""Points along the trajectories where the numerical check compares the right-hand sides."""


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
    expanded = _integers(sympy.expand(_monic_denominators(_integers(expr)), trig=True))
    out: dict[sympy.Expr, tuple[float, ...]] = {}
    for term, coefficient in expanded.as_coefficients_dict().items():
        term = term.replace(lambda node: isinstance(node, sympy.Add), _added_constants_as_floats)
        floats = sorted(term.atoms(sympy.Float), key=sympy.default_sort_key)
        slots = {f: sympy.Symbol(f"c{i}") for i, f in enumerate(floats)}
        template = term.xreplace(slots)
        out[template] = (float(coefficient), *(float(f) for f in floats))
    return out


def _monic_denominators(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with every denominator divided through by the coefficient of its term of
    highest degree (the factor moved to the coefficient): ``x/(0.48*x**2 + 1)`` is
    ``2.08*x/(x**2 + 2.08)``, one law written two ways."""

    def monic(power: sympy.Pow) -> sympy.Expr:
        terms = power.base.as_coefficients_dict()
        variable = [t for t in terms if t.free_symbols]
        lead = max(
            variable, key=lambda t: (sympy.Poly(t).total_degree(), sympy.default_sort_key(t))
        )
        scale = sympy.Float(terms[lead])
        return scale**power.exp * sympy.expand(power.base / scale) ** power.exp

    return expr.replace(
        lambda n: isinstance(n, sympy.Pow) and isinstance(n.base, sympy.Add) and n.exp < 0,
        monic,
    )


def _added_constants_as_floats(node: sympy.Add) -> sympy.Expr:
    """A sum inside a term with its numbers as floats: the ``1`` of ``x**2/(x**2 + 1)`` is
    a constant of the law (a half-saturation) like the ``1.00564`` a fit puts there."""
    return sympy.Add(*(sympy.Float(a) if a.is_Number else a for a in node.args), evaluate=False)


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


def held_out_error(
    found: sympy.Expr, truth: sympy.Expr, names: Sequence[str], X: np.ndarray
) -> float:
    """``||found - truth|| / ||truth||`` on the points ``X`` ``[samples, states]``."""
    a, b = numpy_function(found, names)(X), numpy_function(truth, names)(X)
    with np.errstate(all="ignore"):
        error = float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))
    return error if np.isfinite(error) else float("inf")


def path_points(trajectories: Sequence[np.ndarray], count: int = PATH_POINTS) -> np.ndarray:
    """About ``count`` points ``[point, state]`` spaced evenly by arc length along the
    ``trajectories`` (each ``[time, state]``), every state scaled by its spread over all of
    them; each trajectory gets points in proportion to its length (at least its two ends)."""
    scale = np.concatenate(trajectories).std(0)
    scale = np.where(scale > 0, scale, 1.0)
    arcs = []
    for path in trajectories:
        steps = np.linalg.norm(np.diff(path / scale, axis=0), axis=1)
        arcs.append(np.concatenate([[0.0], np.cumsum(steps)]))
    spacing = max(sum(a[-1] for a in arcs) / count, np.finfo(float).tiny)
    points = []
    for path, arc in zip(trajectories, arcs, strict=True):
        moving = np.concatenate([[True], np.diff(arc) > 0])  # np.interp needs rising lengths
        at = np.linspace(0.0, arc[-1], max(2, round(arc[-1] / spacing)))
        columns = [np.interp(at, arc[moving], path[moving, j]) for j in range(path.shape[1])]
        points.append(np.column_stack(columns))
    return np.concatenate(points)


def has_true_form(
    found: sympy.Expr, truth: sympy.Expr, names: Sequence[str], *trajectories: np.ndarray
) -> bool:
    """Both checks of the module docstring, the numerical one along ``trajectories`` (each
    ``[time, state]``, noise-free)."""
    if not same_terms(found, truth):
        return False
    return held_out_error(found, truth, names, path_points(trajectories)) < TOLERANCE


def held_out_selection(
    front: ParetoFront, X: np.ndarray, y: np.ndarray
) -> tuple[Candidate, list[Candidate]]:
    """The ``heldout`` rule of :mod:`discover.stages.select` on samples instead of a model:
    the samples ``X`` ``[samples, inputs]``, ``y`` ``[samples]`` (in time order) cut into
    consecutive blocks, alternately in two folds; each candidate of the front and of its
    near front refitted (its constants, least squares) on one fold and scored on the other
    (mean squared error per block); among the candidates within one standard error of the
    best mean log error, the one with the fewest constants (then the lowest error).

    Returns:
        The selected candidate and every candidate scored (front, then near front).
    """
    near = front.metadata.get("near_front", [])
    scored = [*front, *(Candidate.from_dict(e, front.inputs, front.engine) for e in near)]
    blocks = time_blocks(len(y))
    table = np.full((len(scored), len(blocks)), np.inf)
    for i, candidate in enumerate(scored):
        for parity in (0, 1):
            fit = np.concatenate(blocks[1 - parity :: 2])
            try:
                refitted, _ = refit_constants(candidate.expression, front.inputs, X[fit], y[fit])
                f = numpy_function(refitted, front.inputs)
                for b in range(parity, len(blocks), 2):
                    with np.errstate(all="ignore"):
                        table[i, b] = np.mean((f(X[blocks[b]]) - y[blocks[b]]) ** 2)
            except Exception:  # a candidate that cannot be evaluated loses
                table[i] = np.inf
                break
    table = np.where(np.isnan(table), np.inf, table)
    constants = [estimated_constants(c.expression) for c in scored]
    choice = one_standard_error_choice(constants, [c.complexity for c in scored], table)
    return scored[choice.selected], scored


Result = TypeVar("Result")


def run_systems(systems: str, run: Callable[[OdeSystem], Result]) -> list[Result]:
    """``run`` on each ODEBench system ``systems`` lists (ids, e.g. ``"1,5,17"``; all 63
    when empty), each announced by its id and description first."""
    ids = [int(s) for s in systems.split(",") if s.strip()] or None
    results = []
    for system in load_odebench(ids):
        print(f"system {system.id}: {system.description}", flush=True)
        results.append(run(system))
    return results
