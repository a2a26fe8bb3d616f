"""The checks on one region of a function's domain (see :mod:`discover.validate.checks`):
``finite``, ``range``, ``monotone in x`` and ``limits``, and the ``clipped`` check and
``refit`` note of a :class:`~discover.processes.Symbolic` process in a model. Each returns a
:class:`CheckResult` with a pass/fail and a sentence naming the worst point."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from discover.processes.base import OutputRange
from discover.processes.symbolic import Symbolic

Points = dict[str, np.ndarray]
Box = dict[str, tuple[float, float]]


@dataclass(frozen=True)
class Settings:
    """:func:`~discover.validate.checks.check_function`'s sweeps per monotonicity check
    (and random points per box face), points per sweep, allowed growth on the faces and
    relative tolerance."""

    n_lines: int
    n_steps: int
    growth: float
    rtol: float


@dataclass(frozen=True)
class CheckResult:
    """One check on one region."""

    check: str
    region: str
    passed: bool
    sentence: str


@dataclass(frozen=True)
class Region:
    """Where a function is checked: a box, points in it and random points on each face
    of the box (``(label, points)``, e.g. ``("pet=0 (low edge)", {...})``)."""

    name: str
    box: Box
    points: Points
    faces: tuple[tuple[str, Points], ...]


def evaluate_at(evaluate: Callable[[Points], np.ndarray], points: Points) -> np.ndarray:
    """Values [n] of ``evaluate`` at ``points`` (a scalar is broadcast), NaN/inf unwarned."""
    n = next(iter(points.values())).size
    with np.errstate(all="ignore"):  # NaN/inf are reported by the checks, not warned
        values = np.asarray(evaluate(points), dtype=float)
    try:
        return np.broadcast_to(values, (n,)).copy()
    except ValueError:
        raise ValueError(f"function returned shape {values.shape} for {n} points") from None


def _at(points: Points, i: int) -> str:
    return ", ".join(f"{k}={v[i]:.4g}" for k, v in points.items())


def uniform(box: Box, n: int, rng: np.random.Generator) -> Points:
    """``n`` uniform random points in ``box``, drawn input by input."""
    return {name: rng.uniform(low, high, n) for name, (low, high) in box.items()}


def concat(*parts: Points) -> Points:
    """The points of ``parts`` one after another."""
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def box_faces(box: Box, n_face: int, rng: np.random.Generator) -> tuple[tuple[str, Points], ...]:
    """``n_face`` uniform random points on each face of ``box``, labelled by the face."""
    faces = []
    for name, edges in box.items():
        for side, edge in zip(("low", "high"), edges, strict=True):
            points = uniform(box, n_face, rng)
            points[name] = np.full(n_face, edge)
            faces.append((f"{name}={edge:.4g} ({side} edge)", points))
    return tuple(faces)


def finite_check(values: np.ndarray, points: Points, region: str) -> CheckResult:
    bad = ~np.isfinite(values)
    if not bad.any():
        return CheckResult("finite", region, True, f"finite at all {values.size} points.")
    i = int(np.flatnonzero(bad)[0])
    return CheckResult(
        "finite",
        region,
        False,
        f"NaN or inf at {int(bad.sum())} of {values.size} points, e.g. at {_at(points, i)}.",
    )


def _worst(values: np.ndarray, points: Points, limits: OutputRange) -> str:
    """Where ``values`` leave ``limits`` furthest (relative to ``max(1, |end|)``), e.g.
    ``reaches 1.9×pet at pet=4.1, soil_wetness=0.98``."""
    low, high = limits.limits(points)
    below = np.zeros(values.shape) if low is None else (low - values) / np.maximum(1, np.abs(low))
    above = (
        np.zeros(values.shape) if high is None else (values - high) / np.maximum(1, np.abs(high))
    )
    with np.errstate(invalid="ignore"):
        excess = np.nan_to_num(np.maximum(below, above), nan=-np.inf)
    i = int(np.argmax(excess))
    upper = bool(above[i] >= below[i])
    bound = limits.high_input if upper else limits.low_input
    if bound is not None and points[bound.name][i] > 0:
        value = f"{values[i] / points[bound.name][i]:.3g}×{bound.name}"
    else:
        value = f"{values[i]:.4g}"
    return f"the worst {'reaches' if upper else 'falls to'} {value} at {_at(points, i)}"


def range_check(
    evaluate: Callable[[Points], np.ndarray], region: Region, limits: OutputRange, rtol: float
) -> tuple[CheckResult, list[str]]:
    """Whether ``evaluate`` stays in ``limits`` at the points of ``region`` (the ``range``
    check), and the faces of its box where it leaves them (the ``limits`` check reports
    those): the one range test of both the checks and the selection of an equation."""
    values = evaluate_at(evaluate, region.points)
    faces = [
        where
        for where, points in region.faces
        if limits.outside(evaluate_at(evaluate, points), points, rtol).any()
    ]
    finite = values[np.isfinite(values)]
    span = f"[{finite.min():.4g}, {finite.max():.4g}]" if finite.size else "nothing finite"
    bad = limits.outside(values, region.points, rtol)
    if not bad.any():
        sentence = f"outputs {span} stay within {limits}."
        return CheckResult("range", region.name, True, sentence), faces
    sentence = (
        f"outputs {span} leave {limits} at {int(bad.sum())} of {values.size} points; "
        f"{_worst(values, region.points, limits)}."
    )
    return CheckResult("range", region.name, False, sentence), faces


def clipped_check(process: Symbolic, max_clipped: float) -> CheckResult | None:
    """How often ``process`` was clipped into its range in a model, if it counted any."""
    share, counted = process.clipped_share()
    if not counted:
        return None
    return CheckResult(
        "clipped",
        "model",
        share <= max_clipped,
        f"the model clipped {share:.2%} of {counted} evaluations (in the simulation the "
        f"variant was recorded from) into {process.output_range} (more than "
        f"{max_clipped:.2%} fails).",
    )


def refit_note(process: Symbolic) -> CheckResult | None:
    """What was done to ``process``'s refitted constants to keep it in its range
    (:func:`~discover.validate.range_guard.keep_in_range`), if anything: a passed
    ``refit`` row (region ``model``), since the equation checked is the one kept."""
    guard = process.range_guard
    if guard is None:
        return None
    return CheckResult("refit", "model", True, guard.sentence())


def monotone_check(
    evaluate: Callable[[Points], np.ndarray],
    base: Points,
    name: str,
    direction: int,
    box: Box,
    region: str,
    n_steps: int,
    rtol: float,
) -> CheckResult:
    n_lines = next(iter(base.values())).size
    sweep = np.linspace(*box[name], n_steps)
    grid = {k: np.repeat(v, n_steps) for k, v in base.items()}
    grid[name] = np.tile(sweep, n_lines)
    values = evaluate_at(evaluate, grid).reshape(n_lines, n_steps)
    steps = np.diff(values, axis=1) * direction
    scale = max(1.0, float(np.nanmax(np.abs(values), initial=0.0)))
    bad = steps < -rtol * scale  # NaN steps are left to the finiteness check
    word = "increasing" if direction > 0 else "decreasing"
    check = f"monotone in {name}"
    across = f"across {name} in [{sweep[0]:.4g}, {sweep[-1]:.4g}]"
    if not bad.any():
        return CheckResult(check, region, True, f"{word} on all {n_lines} sweeps {across}.")
    line, step = (int(x[0]) for x in np.nonzero(bad))
    others = ", ".join(f"{k}={v[line]:.4g}" for k, v in base.items() if k != name)
    return CheckResult(
        check,
        region,
        False,
        f"not {word} on {int(bad.any(axis=1).sum())} of {n_lines} sweeps {across}, e.g. "
        f"{values[line, step]:.4g} -> {values[line, step + 1]:.4g} from {name}="
        f"{sweep[step]:.4g} to {sweep[step + 1]:.4g} (with {others or 'no other inputs'}).",
    )


def limits_check(
    evaluate: Callable[[Points], np.ndarray],
    region: Region,
    outside: tuple[OutputRange, list[str]] | None,
    reference: float,
    growth: float,
) -> CheckResult:
    """Finite, in range (``outside``: the range and the faces where :func:`range_check`
    found the function leaving it) and bounded growth on the faces of ``region``'s box."""
    faces = [(where, evaluate_at(evaluate, points)) for where, points in region.faces]
    problems = []
    for where, values in faces:
        if not np.isfinite(values).all():
            problems.append(f"NaN or inf at {where}")
        elif outside is not None and where in outside[1]:
            problems.append(f"outside {outside[0]} at {where}")
        elif np.abs(values).max() > growth * reference:
            problems.append(
                f"|output| up to {np.abs(values).max():.4g} at {where}, more than "
                f"{growth:g} x the largest visited {reference:.4g}"
            )
    finite = np.concatenate([v[np.isfinite(v)] for _, v in faces])
    span = f"[{finite.min():.4g}, {finite.max():.4g}]" if finite.size else "nothing finite"
    if not problems:
        return CheckResult(
            "limits", region.name, True, f"outputs on the edges of the box span {span}."
        )
    return CheckResult(
        "limits",
        region.name,
        False,
        f"outputs on the edges span {span}; " + "; ".join(problems) + ".",
    )


def region_checks(
    evaluate: Callable[[Points], np.ndarray],
    regions: Sequence[Region],
    limits: OutputRange | None,
    monotone: Mapping[str, int],
    rng: np.random.Generator,
    settings: Settings,
) -> list[CheckResult]:
    """The ``finite``, ``range`` (when ``limits``), ``monotone in x`` and ``limits`` checks
    of each region, in that order; the ``limits`` check compares the faces with the
    largest finite ``|output|`` on the points of the first region (``visited``)."""
    visited_values = evaluate_at(evaluate, regions[0].points)
    finite_visited = np.abs(visited_values[np.isfinite(visited_values)])
    reference = max(float(finite_visited.max(initial=0.0)), 1e-12)
    n_lines, rtol = settings.n_lines, settings.rtol
    results: list[CheckResult] = []
    for i, region in enumerate(regions):
        points = region.points
        values = visited_values if i == 0 else evaluate_at(evaluate, points)
        results.append(finite_check(values, points, region.name))
        outside = None
        if limits is not None:
            in_range, faces = range_check(evaluate, region, limits, rtol)
            results.append(in_range)
            outside = (limits, faces)
        lines = rng.choice(next(iter(points.values())).size, size=n_lines)
        base = {k: v[lines] for k, v in points.items()}
        for name, direction in monotone.items():
            results.append(
                monotone_check(
                    evaluate, base, name, direction, region.box, region.name, settings.n_steps, rtol
                )
            )
        results.append(limits_check(evaluate, region, outside, reference, settings.growth))
    return results
