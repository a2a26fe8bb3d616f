"""Physical checks of a learned or discovered function over its domain and beyond it.

A function is a :class:`discover.processes.Process` (called with ``{name: tensor}``) or
any callable taking ``{name: ndarray [n]}`` and returning ``[n]`` (or a scalar). It is
evaluated on two regions:

- ``visited``: the probed samples themselves when every input is given as samples of
  the same length (the joint domain the model saw), otherwise uniform points in the
  box spanned by the samples or the given ``(low, high)`` ranges;
- ``extrapolated``: the box widened by ``widen`` times its width on each side (a
  zero-width input by ``widen`` times ``max(|value|, 1)``), clipped to the physical
  ``bounds`` of each input when given.

On each region four kinds of check run, each with a pass/fail and a sentence:
``finite`` (no NaN/inf), ``range`` (the declared output range holds at the region's points
and on the faces of its box, with ends that an input sets, e.g. ``[0, pet]``, evaluated at
each point; a failure names the worst point; :func:`range_checks` runs it alone, at the
same points, and the selection of an equation uses it),
``monotone in x`` (the declared direction holds along ``n_lines`` sweeps of ``x`` with the
other inputs held at sampled values) and ``limits`` (on the faces of the box: finite, in
range, and no larger in magnitude than ``growth`` times the largest magnitude seen on the
visited points).

A :class:`~discover.processes.Symbolic` process is checked as the equation it is, without
the clipping it gets in a model; when it counted clipped evaluations in a model
(:meth:`~discover.processes.Symbolic.clipped_share`; a study counts those of the variant's
recorded simulation, :meth:`~discover.stages.variants.Variants.record`), a ``clipped``
check (region ``model``) fails if more than ``max_clipped`` of them were clipped into the
range. When its refitted constants were taken back into the range
(:func:`~discover.validate.range_guard.keep_in_range`), a passed ``refit`` row (region
``model``) says how.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from discover.processes.base import RANGE_RTOL, OutputRange, Process
from discover.processes.symbolic import Symbolic
from discover.validate.check_kinds import (
    Box,
    CheckResult,
    Points,
    Region,
    Settings,
    box_faces,
    clipped_check,
    concat,
    range_check,
    refit_note,
    region_checks,
    uniform,
)

__all__ = ["CheckReport", "CheckResult", "check_function", "range_checks", "sampled_domain"]

Domain = Mapping[str, Sequence[float] | np.ndarray | tuple[float, float]]
Bounds = Mapping[str, tuple[float | None, float | None]]
WIDEN, N_POINTS, N_LINES, RTOL = 0.5, 2000, 50, RANGE_RTOL
"""Defaults of :func:`check_function` and :func:`range_checks`: extrapolation, random
points per region, sweeps per monotonicity check (and points per face), tolerance."""


@dataclass(frozen=True)
class CheckReport:
    """All checks of one function; ``passed`` when every check passed."""

    function: str
    results: tuple[CheckResult, ...]
    visited: Box
    extrapolated: Box

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    def to_frame(self) -> pd.DataFrame:
        """Columns ``check, region, passed, sentence``."""
        return pd.DataFrame([r.__dict__ for r in self.results])

    def __str__(self) -> str:
        lines = [f"checks of {self.function}:"]
        lines += [
            f"  {'PASS' if r.passed else 'FAIL'} [{r.region}] {r.check}: {r.sentence}"
            for r in self.results
        ]
        return "\n".join(lines)


def _as_evaluator(
    function: Process | Callable[[Points], np.ndarray],
) -> tuple[Callable[[Points], np.ndarray], tuple[str, ...] | None, OutputRange | None, str]:
    """Wrap ``function`` as ``points -> values [n]``; also return its input names, range
    and description when it is a :class:`Process` (a :class:`Symbolic` one unclipped)."""
    if isinstance(function, Process):
        tensors = [*function.parameters(), *function.buffers()]
        floats = [t.dtype for t in tensors if t.is_floating_point()]
        dtype = floats[0] if floats else torch.get_default_dtype()
        call = function.module if isinstance(function, Symbolic) else function

        def evaluate_process(points: Points) -> np.ndarray:
            with torch.no_grad():
                out = call({k: torch.as_tensor(v, dtype=dtype) for k, v in points.items()})
            return out.detach().cpu().double().numpy()

        return evaluate_process, function.inputs, function.output_range, function.describe()
    if not callable(function):
        raise TypeError(f"expected a Process or a callable, got {type(function).__name__}")
    name = getattr(function, "__name__", type(function).__name__)
    return (lambda points: np.asarray(function(points), dtype=float)), None, None, name


def _read_domain(
    domain: Mapping[str, Sequence[float] | np.ndarray | tuple[float, float]],
    names: Sequence[str] | None,
) -> tuple[Box, Points | None]:
    """Visited box per input, and the joint samples when every input has equally many."""
    if names is not None:
        missing = [n for n in names if n not in domain]
        extra = [n for n in domain if n not in names]
        if missing or extra:
            raise ValueError(
                f"domain must give exactly the inputs {list(names)}; "
                f"missing {missing}, unexpected {extra}"
            )
    else:
        names = list(domain)
    if not names:
        raise ValueError("domain is empty")
    box: Box = {}
    samples: Points = {}
    for name in names:
        spec = domain[name]
        if isinstance(spec, tuple):
            if len(spec) != 2 or not spec[0] <= spec[1]:
                raise ValueError(f"range of {name!r} must be (low, high) with low <= high")
            box[name] = (float(spec[0]), float(spec[1]))
            continue
        values = np.asarray(spec, dtype=float).reshape(-1)
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise ValueError(f"no finite samples of {name!r} in the domain")
        box[name] = (float(values.min()), float(values.max()))
        samples[name] = values
    lengths = {v.size for v in samples.values()}
    joint = len(samples) == len(names) and len(lengths) == 1
    return box, (samples if joint else None)


def _widen(box: Box, widen: float, bounds: Mapping[str, tuple[float | None, float | None]]) -> Box:
    unknown = set(bounds) - set(box)
    if unknown:
        raise ValueError(f"bounds given for unknown inputs {sorted(unknown)}")
    wide: Box = {}
    for name, (low, high) in box.items():
        width = high - low if high > low else max(abs(low), 1.0)
        new_low, new_high = low - widen * width, high + widen * width
        lower, upper = bounds.get(name, (None, None))
        if lower is not None:
            new_low = max(new_low, lower)
        if upper is not None:
            new_high = min(new_high, upper)
        wide[name] = (new_low, new_high)
    return wide


def _corners(box: Box) -> Points:
    names = list(box)
    if len(names) > 10:
        return {name: np.empty(0) for name in names}
    grid = np.array(np.meshgrid(*[box[n] for n in names], indexing="ij")).reshape(len(names), -1)
    return {name: grid[i] for i, name in enumerate(names)}


def check_function(
    function: Process | Callable[[Points], np.ndarray],
    domain: Domain,
    declared_range: OutputRange | str | tuple[float | None, float | None] | None = None,
    monotone: Mapping[str, int] | None = None,
    *,
    bounds: Bounds | None = None,
    widen: float = WIDEN,
    n_points: int = N_POINTS,
    n_lines: int = N_LINES,
    n_steps: int = 41,
    growth: float = 10.0,
    rtol: float = RTOL,
    max_clipped: float = 0.001,
    seed: int = 0,
) -> CheckReport:
    """Check ``function`` on its visited domain and an extrapolated box (module docstring).

    Args:
        function: a :class:`Process` or a callable ``{name: ndarray [n]} -> ndarray [n]``.
        domain: per input, visited samples (array or list) or a ``(low, high)`` tuple.
        declared_range: output range (default: the process's ``output_range``); an end
            set by an input (``"0 <= out <= pet"``) is evaluated at each point.
        monotone: per input, ``+1`` (non-decreasing) or ``-1`` (non-increasing).
        bounds: physical ``(low, high)`` of inputs (``None`` for open); the extrapolated
            box never crosses them.
        widen: extrapolation, as a fraction of the visited width on each side.
        n_points: random points per region (the box corners are added).
        n_lines, n_steps: sweeps per monotonicity check and points per sweep;
            ``n_lines`` is also the number of random points on each face of the box.
        growth: largest allowed ``|output|`` on the box faces, relative to the largest
            ``|output|`` on the visited points.
        rtol: tolerance, relative to ``max(1, |bound|)`` or the output scale.
        max_clipped: largest share of a :class:`Symbolic` process's evaluations in a model
            that may have been clipped into its range.
        seed: seed of the random points (the report is reproducible).
    """
    probe = _probe(function, domain, declared_range, bounds, widen, n_points, n_lines, seed)
    monotone = _check_monotone(dict(monotone or {}), probe.regions[0].box)
    settings = Settings(n_lines, n_steps, growth, rtol)
    results = region_checks(
        probe.evaluate, probe.regions, probe.limits, monotone, probe.rng, settings
    )
    if isinstance(function, Symbolic):
        model = (clipped_check(function, max_clipped), refit_note(function))
        results.extend(r for r in model if r is not None)
    box, wide = (region.box for region in probe.regions)
    return CheckReport(probe.description, tuple(results), box, wide)


def range_checks(
    function: Process | Callable[[Points], np.ndarray],
    domain: Domain,
    declared_range: OutputRange | str | tuple[float | None, float | None] | None = None,
    *,
    bounds: Bounds | None = None,
    seed: int = 0,
) -> tuple[CheckResult, ...]:
    """The range test of :func:`check_function` alone, with its defaults and at the same
    points for the same ``domain``, ``bounds`` and ``seed``: per region, its ``range``
    check, failed too where the ``limits`` check finds the function outside the range on
    a face of the box. A function that passes them leaves its range nowhere the checks
    look (empty when the range is unbounded)."""
    probe = _probe(function, domain, declared_range, bounds, WIDEN, N_POINTS, N_LINES, seed)
    if probe.limits is None:
        return ()
    results = []
    for region in probe.regions:
        result, faces = range_check(probe.evaluate, region, probe.limits, RTOL)
        if faces:
            edges = f" It leaves {probe.limits} on the faces of the box at {'; '.join(faces)}."
            result = CheckResult(result.check, result.region, False, result.sentence + edges)
        results.append(result)
    return tuple(results)


def range_points(
    function: Process | Callable[[Points], np.ndarray],
    domain: Domain,
    *,
    bounds: Bounds | None = None,
    seed: int = 0,
) -> Points:
    """Every point where :func:`range_checks` looks for the same ``domain``, ``bounds``
    and ``seed`` (both regions' points and the random points on their faces), by input
    name, e.g. to fit a function that must stay in range there."""
    probe = _probe(function, domain, None, bounds, WIDEN, N_POINTS, N_LINES, seed)
    sets = [r.points for r in probe.regions] + [p for r in probe.regions for _, p in r.faces]
    return {name: np.concatenate([np.asarray(s[name], float) for s in sets]) for name in sets[0]}


def sampled_domain(
    process: Process,
    X: np.ndarray,
    names: Sequence[str],
    known: Bounds | None = None,
) -> tuple[dict[str, np.ndarray], Bounds]:
    """The domain of ``process``'s inputs in the probed samples ``X`` [n, len(names)] and
    their bounds: the ``known`` ones (``{input: (low, high)}``, those the model holds its
    inputs in, :attr:`~discover.models.base.HybridModel.input_bounds`), and inputs whose
    samples are all non-negative taken as physically non-negative, so the extrapolated box
    does not cross zero."""
    domain = {name: X[:, i] for i, name in enumerate(names) if name in process.inputs}
    bounds = {n: (0.0, None) for n, v in domain.items() if float(v.min()) >= 0}
    for name, (low, high) in (known or {}).items():
        if name in domain:
            inferred = bounds.get(name, (None, None))[0]
            lows = [v for v in (low, inferred) if v is not None]
            highest = float(domain[name].max())  # never below what was visited
            bounds[name] = (
                max(lows) if lows else None,
                None if high is None else max(high, highest),
            )
    return domain, bounds


class _Probe(NamedTuple):
    """What :func:`_probe` prepares: the function as ``points -> values``, its
    description, its bounded range (or ``None``), the regions and the random generator
    the checks go on drawing from."""

    evaluate: Callable[[Points], np.ndarray]
    description: str
    limits: OutputRange | None
    regions: tuple[Region, ...]
    rng: np.random.Generator


def _probe(
    function: Process | Callable[[Points], np.ndarray],
    domain: Domain,
    declared_range: OutputRange | str | tuple[float | None, float | None] | None,
    bounds: Bounds | None,
    widen: float,
    n_points: int,
    n_lines: int,
    seed: int,
) -> _Probe:
    """The regions where ``function`` is checked (the module docstring), drawn from
    ``seed``; ``n_lines`` random points on each face of each box."""
    evaluate, names, process_range, description = _as_evaluator(function)
    limits = _limits(process_range if declared_range is None else declared_range)
    box, samples = _read_domain(domain, names)
    unknown = [name for name in (limits.inputs if limits else ()) if name not in box]
    if unknown:
        raise ValueError(
            f"declared range {limits} is bounded by {unknown}, not inputs of the domain"
        )
    if widen < 0:
        raise ValueError(f"widen must be >= 0, got {widen}")
    wide = _widen(box, widen, bounds or {})
    rng = np.random.default_rng(seed)
    visited, extrapolated = _regions(box, wide, samples, n_points, rng)
    regions = tuple(
        Region(name, region_box, points, box_faces(region_box, n_lines, rng))
        for name, (region_box, points) in (("visited", visited), ("extrapolated", extrapolated))
    )
    return _Probe(evaluate, description, limits, regions, rng)


def _limits(
    declared: OutputRange | str | tuple[float | None, float | None] | None,
) -> OutputRange | None:
    """The declared output range, or ``None`` when there is none or it is unbounded."""
    limits = None if declared is None else OutputRange.parse(declared)
    return limits if limits is not None and limits.bounded else None


def _check_monotone(monotone: dict[str, int], box: Box) -> dict[str, int]:
    """``monotone`` once checked: every monotone input is an input of the domain ``box``,
    and every direction is +1 or -1."""
    for name, direction in monotone.items():
        if name not in box:
            raise ValueError(f"monotonicity declared for unknown input {name!r}")
        if direction not in (1, -1):
            raise ValueError(f"monotone direction of {name!r} must be +1 or -1, got {direction}")
    return monotone


def _regions(
    box: Box, wide: Box, samples: Points | None, n_points: int, rng: np.random.Generator
) -> tuple[tuple[Box, Points], tuple[Box, Points]]:
    """The box and points of each region: ``visited`` (up to ``n_points`` of the joint
    samples, else uniform points and the corners of ``box``) and ``extrapolated``
    (uniform points and the corners of ``wide``)."""
    if samples is not None:
        n = next(iter(samples.values())).size
        keep = rng.choice(n, size=min(n, n_points), replace=False)
        visited_points = {k: v[keep] for k, v in samples.items()}
    else:
        visited_points = concat(uniform(box, n_points, rng), _corners(box))
    return (box, visited_points), (wide, concat(uniform(wide, n_points, rng), _corners(wide)))
