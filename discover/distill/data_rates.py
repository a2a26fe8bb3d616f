"""Samples of an ODE slot's output taken from the data's own rates of change.

A network that missed part of the data (a transient it smoothed over, a collapse to a
constant) gives samples without the law, and no engine finds the law in them. The
observations themselves still carry it: each observed state's series is smoothed and
differentiated (:func:`~discover.fit.collocation.smoothed_rates`), and where a state's
right-hand side is affine in the slot, ``dx/dt = A + B*F(...)``, the slot's output there
is ``(rate - A)/B``, with ``A`` and ``B`` the model's other terms (other slots as they
stand, networks or equations) evaluated at the smoothed states. Engines fitted to these
samples propose candidates that join the network's near front
(:func:`with_data_candidates`); the selection rules that refit candidates in the model
then decide between both kinds on the data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sympy
import torch
from sympy.core.function import AppliedUndef
from torch import Tensor

from discover.distill.pareto import ParetoFront, in_play
from discover.distill.postprocess import mse
from discover.distill.probe import ProbeSamples
from discover.fit.collocation import smoothed_rates
from discover.models.ode import TIME, ODEModel
from discover.processes.base import Process

log = logging.getLogger("discover")

MIN_SLOPE = 1e-8
"""Samples where ``|B|``, the rate's change per unit of slot output, is below this share
of its largest value are skipped: the rate says nothing about the slot there."""

EDGE_POINTS = 2
"""Rates at this many times at each end of every smoothed series are not used: the
smoothing spline's natural ends (no curvature there) bias its slope near them, most where
the series moves fastest, at the start of a transient (a planted logistic ``2.1x - 0.5x²``
from two initial conditions, 31 times each: least squares of ``ax + bx²`` on the rates
gives ``a = 1.95, b = -0.46`` with the ends, 2.09 and -0.50 without two at each end)."""

DATA_ENGINE = "{engine} on data rates"
"""How a candidate fitted to the data's rates names its engine."""


@dataclass
class RateSamples:
    """A slot's outputs estimated from the data's rates of change.

    Attributes:
        samples: inputs and estimated outputs (``None`` when no state gives any).
        states: the states whose rates gave samples.
        skipped: state → why its rate gave none (states whose equation does not call
            the slot are not listed).
    """

    samples: ProbeSamples | None
    states: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What the front's metadata keep under ``data_rates``."""
        n = 0 if self.samples is None else len(self.samples.y)
        return {"states": list(self.states), "samples": n, "skipped": dict(self.skipped)}


class _Fixed(Process):
    """A slot's stand-in whose output is ``value`` everywhere."""

    kind = "fixed"

    def __init__(self, inputs: Sequence[str], value: float):
        super().__init__(inputs)
        self.value = value

    def evaluate(self, args: Sequence[Tensor]) -> Tensor:
        return torch.full_like(args[0], self.value)


def rate_samples(
    model: ODEModel,
    slot: str,
    times: np.ndarray,
    observed: np.ndarray,
    forcings: np.ndarray | None = None,
) -> RateSamples:
    """The slot's outputs implied by the smoothed rates of the observed states.

    Args:
        model: the ODE model; ``slot`` may hold anything (it is swapped out and back).
        slot: the slot whose outputs are estimated.
        times: times [time] (the training period).
        observed: observations there [time, site, state], NaN where missing.
        forcings: forcing values there [time, site, forcing] (if the model has forcings).

    Returns:
        Samples pooled over the usable states' equations, sites and times. A state is
        usable when its equation calls ``slot``, is affine in it, and it and every state
        the equation reads are observed; the reasons for the others are logged.
    """
    smooth, rates = smoothed_rates(times, observed)
    rates = _without_edges(rates)
    seen = {s for i, s in enumerate(model.states) if np.isfinite(rates[..., i]).any()}
    found = RateSamples(None)
    for state in model.states:
        why = _unusable(model, slot, state, seen)
        if why:
            found.skipped[state] = why
        elif why is None:
            found.states.append(state)
    for state, why in found.skipped.items():
        log.info("%s: no samples from the rate of %s: %s", slot, state, why)
    if not found.states:
        return found
    inputs = model.slots[slot].inputs
    X, y = _outputs(model, slot, found, _input_values(model, times, smooth, forcings), rates)
    if len(y):
        found.samples = ProbeSamples(np.column_stack([X[n] for n in inputs]), y, tuple(inputs))
    return found


def _without_edges(rates: np.ndarray) -> np.ndarray:
    """``rates`` [time, site, state] with the first and last :data:`EDGE_POINTS` finite
    values of every series made NaN."""
    finite = np.isfinite(rates)
    from_start = np.cumsum(finite, axis=0)
    from_end = np.cumsum(finite[::-1], axis=0)[::-1]
    edge = finite & ((from_start <= EDGE_POINTS) | (from_end <= EDGE_POINTS))
    return np.where(edge, np.nan, rates)


def _unusable(model: ODEModel, slot: str, state: str, seen: set[str]) -> str | None:
    """Why the rate of ``state`` gives no samples of ``slot`` (``""``: its equation does
    not call the slot), or ``None`` when it does."""
    if slot not in model.calls(state):
        return ""
    if state not in seen:
        return "it is not observed"
    unseen = model.reads(state) - seen
    if unseen:
        return f"its equation reads the unobserved state(s) {sorted(unseen)}"
    equation, u = model.equations[state], sympy.Dummy("u")
    calls = [f for f in equation.atoms(AppliedUndef) if f.func.__name__ == slot]
    affine = equation.subs({call: u for call in calls})
    if sympy.simplify(sympy.diff(affine, u, 2)) != 0:
        return f"its equation is not affine in {slot}"
    return None


def _input_values(
    model: ODEModel, times: np.ndarray, smooth: np.ndarray, forcings: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Every name an equation may read, as [time, site] arrays: the smoothed states, the
    forcings, the known constants and the time."""
    shape = smooth.shape[:2]
    values = {s: smooth[..., i] for i, s in enumerate(model.states)}
    for i, name in enumerate(model.forcing_names):
        values[name] = np.asarray(forcings)[..., i]
    for name, value in zip(model.parameter_names, model.parameter_values.tolist(), strict=True):
        values[name] = np.full(shape, value)
    values[TIME] = np.broadcast_to(times[:, None], shape)
    return values


def _outputs(
    model: ODEModel,
    slot: str,
    found: RateSamples,
    values: dict[str, np.ndarray],
    rates: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The inputs (name → [sample]) and outputs [sample] of ``slot`` from the rates of
    ``found.states``: ``(rate - A)/B`` where ``A`` is the state's rate with the slot's
    output 0 and ``A + B`` with it 1, wherever the rate and every state its equation
    reads are known. States without such a sample move to ``found.skipped``."""
    zero, one = _affine_parts(model, slot, values)
    X: dict[str, list[np.ndarray]] = {name: [] for name in values}
    y = []
    for state in found.states:
        i = model.states.index(state)
        known = np.isfinite(rates[..., i]) & np.isfinite(values[state])
        for name in model.reads(state):
            known &= np.isfinite(values[name])
        A, B = zero[..., i], one[..., i] - zero[..., i]
        largest = np.max(np.abs(B[known]), initial=0.0)
        rows = known & (np.abs(B) > MIN_SLOPE * largest) & (largest > 0)
        if not rows.any():
            found.skipped[state] = f"its rate does not depend on {slot} where observed"
            continue
        y.append((rates[..., i][rows] - A[rows]) / B[rows])
        for name, value in values.items():
            X[name].append(value[rows])
    found.states = [s for s in found.states if s not in found.skipped]
    if not y:
        return {}, np.empty(0)
    return {n: np.concatenate(v) for n, v in X.items()}, np.concatenate(y)


def _affine_parts(
    model: ODEModel, slot: str, values: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The model's rates [time, site, state] at ``values`` with ``slot``'s output 0 and
    1 (the slot is put back afterwards; unknown states enter as 0, their rows unused)."""
    dtype = model.parameter_values.dtype
    as_tensor = lambda a: torch.as_tensor(np.nan_to_num(a), dtype=dtype)  # noqa: E731
    y = as_tensor(np.stack([values[s] for s in model.states], -1))
    t = as_tensor(values[TIME])
    forcing = None
    if model.forcing_names:
        forcing = as_tensor(np.stack([values[f] for f in model.forcing_names], -1))
    original = model.slots[slot]
    parts = []
    try:
        for value in (0.0, 1.0):
            model.set_slot(slot, _Fixed(original.inputs, value))
            with torch.no_grad():
                parts.append(model.rates(t, y, forcing).double().numpy())
    finally:
        model.set_slot(slot, original)
    return parts[0], parts[1]


def with_data_candidates(
    front: ParetoFront, found: ParetoFront, probed: ProbeSamples, rates: RateSamples
) -> ParetoFront:
    """``front`` with ``found``'s candidates (fitted to ``rates``) added to its near front.

    Their losses there are against the network's ``probed`` samples, as every other
    candidate's, and their engine reads :data:`DATA_ENGINE`; candidates already in play
    are not added twice. The metadata gain ``data_rates``: what the rates gave
    (:meth:`RateSamples.summary`) and ``found``'s candidates with their losses on the rate
    samples."""
    columns = [probed.names.index(name) for name in front.inputs]
    X = probed.X[:, columns]
    engine = DATA_ENGINE.format(engine=found.engine)
    taken = {sympy.srepr(c.expression) for c in in_play(front)}
    added = []
    for candidate in found:
        if sympy.srepr(candidate.expression) in taken:
            continue
        loss = mse(candidate.expression, front.inputs, X, probed.y)
        if np.isfinite(loss):
            added.append({**replace(candidate, loss=loss).to_dict(), "engine": engine})
    metadata = front.metadata
    metadata["near_front"] = [*metadata.get("near_front", []), *added]
    metadata["data_rates"] = {
        **rates.summary(),
        "engine": found.engine,
        "candidates": [c.to_dict() for c in found],
        "added": len(added),
    }
    return front
