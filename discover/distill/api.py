"""``symbolic_fit``: run an engine on one slot's samples and return a polished Pareto front."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy

from discover.distill.engines import ENGINES, SearchOptions, get_engine
from discover.distill.pareto import (
    Candidate,
    ParetoFront,
    expression_complexity,
    in_play,
    pareto_filter,
)
from discover.distill.postprocess import blows_up, numpy_function, polish
from discover.distill.range_fit import fit_within, leaves_anywhere
from discover.distill.snapping import snapped_candidates
from discover.expressions import ExpressionError, parse_expression
from discover.processes.base import OutputRange

log = logging.getLogger(__name__)

OFFLINE_ENGINE = "rational+operon"
"""The engine ``auto`` runs when PySR cannot run."""

INPUT_END_TOLERANCE = 2.0
"""How far, in RMS errors of the candidate, it may cross an end of the output range that an
input sets (``out <= pet``) on the samples and still be kept (see ``_within``)."""

NEAR_LAYERS = 2
"""Non-dominated layers of the polished candidates behind the front that the selection
rules which refit in the model also score (the near front, :func:`~discover.distill.
pareto.in_play`). The samples rank candidates only as closely as the network follows the
law: on noisy data its wiggles are as large as the loss differences between layers.
ODEBench system 5 at 5 % noise: the law ``10.1 - 0.0024x²`` (loss 0.355 on the network's
samples) stood in the third layer behind ``Min(-6, -0.229x) + 15.4`` (0.302) and
``9.5 - 4.2e-5x³`` (0.317), all of complexity 7; scored in the model it beats the second
(held-out -5.064 against -5.013) and is selected."""

AUTO_COMPANION = "sparse"
"""The engine ``auto`` runs besides PySR or the offline engine; the front is built from the
union of both engines' candidates (each candidate names the engine that proposed it)."""


def symbolic_fit(
    X: Any,
    y: Any,
    names: Sequence[str],
    *,
    engine: str = "auto",
    time_budget_s: float | None = None,
    seed: int = 0,
    operators: Sequence[str] | None = None,
    max_complexity: int = 15,
    restarts: int | None = None,
    output_range: OutputRange | str | None = None,
    range_points: np.ndarray | None = None,
    selection_tolerance: float = 1.5,
    rounding_tolerance: float = 0.01,
    **engine_options: Any,
) -> ParetoFront:
    """Symbolic regression of ``y`` on the named columns of ``X``.

    Args:
        X: inputs ``[samples, len(names)]`` (numpy array or torch tensor).
        y: outputs ``[samples]`` in the slot's units.
        names: input names; every expression on the front uses only these symbols.
        engine: ``"auto"`` (PySR where it can run, else ``rational+operon``; either with
            :data:`AUTO_COMPANION` on the same front) or a registered engine.
        time_budget_s: seconds for the search (engine default when ``None``; polishing
            the candidates comes on top). ``seed``: same seed, same front where it can.
        operators: e.g. ``("add", "mul", "exp")``; ``max_complexity``: largest size searched;
            ``restarts``: independent searches merged together (``None``: engine default).
        output_range: e.g. ``"0 <= out <= pet"``: candidates leaving it on the samples
            or ``range_points`` ``[points, len(names)]`` (e.g. where range checks look) are
            refitted within it, dropped if they still leave it (:func:`_in_range`).
        selection_tolerance: the selected candidate's loss is at most this x the best loss.
        rounding_tolerance: relative loss increase allowed when merging/rounding constants.
        **engine_options: engine-specific settings (see each engine's docstring).

    Returns:
        The Pareto front (``engine``: the engine that ran; ``metadata``: what was asked).
    """
    X, y = _as_arrays(X, y, names)
    metadata: dict[str, Any] = {"requested_engine": engine}
    engine, companions = _engines(engine, metadata)
    restarts = restarts if restarts is not None else _default_restarts(engine)
    operators = tuple(operators) if operators is not None else None
    bounds = OutputRange.parse(output_range)
    extra = tuple(sorted(engine_options.items()))
    options = SearchOptions(time_budget_s, seed, operators, max_complexity, restarts, bounds, extra)
    started = time.monotonic()
    raw = [(e, n) for n in (engine, *companions) for e in _search(n, engine, X, y, names, options)]
    searched = time.monotonic()
    candidates = _polish_all(raw, names, X, y, bounds, rounding_tolerance, range_points)
    seconds = {"search_seconds": searched - started, "polish_seconds": time.monotonic() - searched}
    metadata |= {k: round(v, 3) for k, v in seconds.items()} | {"raw_candidates": len(raw)}
    metadata["seed"] = seed
    log.info("engine %s: %d raw candidates in %.1f s", engine, len(raw), searched - started)
    front = ParetoFront.build(candidates, names, engine, selection_tolerance, metadata)
    return _with_snapped(_with_deeper_layers(front, candidates), X, y, rounding_tolerance)


def _with_deeper_layers(front: ParetoFront, candidates: Sequence[Candidate]) -> ParetoFront:
    """``front`` with the next non-dominated layers of ``candidates`` behind its near front
    added to its ``near_front``, until :data:`NEAR_LAYERS` layers stand behind the front."""
    near = front.metadata.get("near_front", [])
    taken = {sympy.srepr(c.expression) for c in in_play(front)}
    for _ in range(NEAR_LAYERS - (1 if near else 0)):
        layer = pareto_filter(c for c in candidates if sympy.srepr(c.expression) not in taken)
        if not layer:
            break
        near = [*near, *(c.to_dict() | {"engine": c.engine} for c in layer)]
        taken |= {sympy.srepr(c.expression) for c in layer}
    if near:
        front.metadata["near_front"] = near
    return front


def _with_snapped(
    front: ParetoFront, X: np.ndarray, y: np.ndarray, tolerance: float
) -> ParetoFront:
    """``front`` with the integer-exponent variants of its and its near front's candidates
    (:func:`~discover.distill.snapping.snapped_candidates`, polished with ``tolerance``)
    added to its ``near_front``, where the selection rules that refit in the model score
    them."""
    variants = snapped_candidates(in_play(front), front.inputs, X, y, tolerance)
    if variants:
        near = front.metadata.get("near_front", [])
        front.metadata["near_front"] = [*near, *(v.to_dict() for v in variants)]
    return front


def _engines(requested: str, metadata: dict[str, Any]) -> tuple[str, list[str]]:
    """The main engine and its companions for ``requested`` (``auto`` resolved, noted in
    ``metadata``).

    Raises:
        RuntimeError: one of them cannot run here.
    """
    engine, companions = requested, []
    if requested == "auto":
        engine, reason = _resolve_auto()
        companions.append(AUTO_COMPANION)
        metadata["companion_engines"] = list(companions)
        if reason:
            log.warning("engine auto: %s; using the offline engine %r", reason, engine)
            metadata["fallback_reason"] = reason
    for name in (engine, *companions):
        ok, reason = get_engine(name).available()
        if not ok:
            raise RuntimeError(f"engine {name!r} cannot run here: {reason}")
    return engine, companions


def _search(
    name: str, main: str, X: np.ndarray, y: np.ndarray, names: Sequence[str], options: SearchOptions
) -> list[sympy.Expr]:
    """Raw candidates of engine ``name``; a companion of the ``main`` engine gets only the
    options it shares with it (the engine-specific ``extra`` is the main engine's)."""
    if name != main:
        options = dataclasses.replace(options, extra=())
    return get_engine(name).search(X, y, names, options)


def _as_arrays(X: Any, y: Any, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if X.ndim == 1 and len(names) == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[1] != len(names):
        raise ValueError(
            f"X must have shape [samples, {len(names)}] for names {list(names)}, got {X.shape}"
        )
    if len(y) != len(X):
        raise ValueError(f"y has {len(y)} samples but X has {len(X)}")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate input names in {list(names)}")
    keep = np.all(np.isfinite(X), axis=1) & np.isfinite(y)
    if keep.sum() < 2:
        raise ValueError("fewer than two samples with finite X and y")
    return X[keep], y[keep]


def _resolve_auto() -> tuple[str, str]:
    """``("pysr", "")`` when PySR can run here, else the offline engine and the reason."""
    if "pysr" in ENGINES:
        ok, reason = get_engine("pysr").available()
        if ok:
            return "pysr", ""
        return OFFLINE_ENGINE, f"PySR cannot run here ({reason})"
    return OFFLINE_ENGINE, "no PySR engine registered"


def _default_restarts(engine: str) -> int:
    return {"operon": 3, OFFLINE_ENGINE: 2}.get(engine, 1)


def _polish_all(
    raw: Sequence[tuple[sympy.Expr, str]],
    names: Sequence[str],
    X: np.ndarray,
    y: np.ndarray,
    output_range: OutputRange,
    tolerance: float,
    beyond: np.ndarray | None = None,
) -> list[Candidate]:
    """Polish every distinct raw candidate ``(expression, engine)``; one that leaves
    ``output_range`` is refitted within it (:func:`~discover.distill.range_fit.fit_within`)
    and dropped only if it still leaves it; candidates that blow up near the samples
    (:func:`blows_up`) or whose text does not parse back (:func:`_readable`) are dropped;
    the Pareto filter comes after.

    Candidates are compared only once polished: merging and rounding constants can shrink
    a bloated but right candidate (``1.06*x**0.998*y**0.5`` to ``x*sqrt(y)``) below a
    simpler-looking one, so screening raw complexities would drop it.
    """
    candidates, seen = [], set()
    for expr, engine in raw:
        key = sympy.srepr(expr)
        if key in seen:
            continue
        seen.add(key)
        polished = polish(expr, names, X, y, tolerance)
        if polished is not None:
            polished = _in_range(polished, names, X, y, output_range, beyond)
        if polished is None:
            continue
        if blows_up(polished[0], names, X, y):
            continue
        expression, loss = polished
        candidate = Candidate(expression, expression_complexity(expression), loss, engine)
        if _readable(candidate, names):
            candidates.append(candidate)
    return candidates


def _readable(candidate: Candidate, names: Sequence[str]) -> bool:
    """Whether ``candidate``'s text parses back (fronts, run directories and configs hold
    equations as text, read by :func:`~discover.expressions.parse_expression`, which refuses
    e.g. an exponent beyond its limit); one that does not is dropped, with a log line."""
    try:
        parse_expression(candidate.text(), names)
    except ExpressionError as err:
        log.info("candidate %s dropped: %s", candidate.text(), err)
        return False
    return True


def _in_range(
    polished: tuple[sympy.Expr, float],
    names: Sequence[str],
    X: np.ndarray,
    y: np.ndarray,
    bounds: OutputRange,
    beyond: np.ndarray | None = None,
) -> tuple[sympy.Expr, float] | None:
    """The polished candidate ``(expression, loss)`` if it stays in ``bounds`` on the
    samples and within the ends inputs set at the points ``beyond``; else its refit within them
    (:func:`~discover.distill.range_fit.fit_within`) if that stays in, else whichever of
    the two crosses an end on the samples by no more than :func:`_within` allows (the
    polished one first); ``None`` when neither does."""
    if not leaves_anywhere(polished[0], names, X, bounds, beyond):
        return polished
    refit = fit_within(polished[0], names, X, y, bounds, beyond)
    if refit is not None and not leaves_anywhere(refit[0], names, X, bounds, beyond):
        return refit
    for candidate in (polished, refit):
        if candidate is not None and _within(*candidate, names, X, bounds):
            return candidate
    return None


def _within(
    expr: sympy.Expr, loss: float, names: Sequence[str], X: np.ndarray, bounds: OutputRange
) -> bool:
    """Whether ``expr`` (mean squared error ``loss``) stays in ``bounds`` on the samples
    ``X`` [samples, len(names)].

    An end that an input sets (``out <= pet``) is evaluated at each sample and may be
    crossed by up to :data:`INPUT_END_TOLERANCE` times the candidate's RMS error: a network
    held below ``pet`` saturates at it, so a candidate that fits it crosses it by about its
    error, which the clipping of a reinserted equation absorbs, whereas a form that
    crosses it by more (``1.9·pet`` in wet soil) is dropped. Ends set by inputs that are
    not among ``names`` are not checked; constant ends are held to rounding error.
    """
    bounds = bounds.restricted_to(names)
    if not bounds.bounded:
        return True
    pred = numpy_function(expr, names)(X)
    slack = 1e-6 * max(1.0, float(np.max(np.abs(pred))))
    error = INPUT_END_TOLERANCE * float(np.sqrt(loss))
    low, high = bounds.limits(dict(zip(names, X.T, strict=True)))
    low_slack = slack + (error if bounds.low_input is not None else 0.0)
    high_slack = slack + (error if bounds.high_input is not None else 0.0)
    low_ok = low is None or bool(np.all(pred >= low - low_slack))
    high_ok = high is None or bool(np.all(pred <= high + high_slack))
    return low_ok and high_ok
