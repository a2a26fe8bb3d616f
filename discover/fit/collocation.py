"""Collocation pre-fit: neural slots fitted to the rates of change of smoothed observations.

Each observed state's series (per site) is smoothed by a cubic smoothing spline whose
penalty is chosen by generalised cross-validation (:func:`scipy.interpolate.
make_smoothing_spline`), and differentiated. The neural slots are then fitted so that the
model's right-hand side at the smoothed states matches those derivatives: no ODE is
solved, so a few hundred full-batch steps take seconds. Only equations whose every state
is observed take part; a slot that appears in none of them is left as it is.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.interpolate import make_smoothing_spline
from torch import Tensor

from discover.models.ode import ODEModel

log = logging.getLogger("discover")

MIN_POINTS = 5
"""Fewest observations of a series for it to be smoothed."""


@dataclass
class CollocationResult:
    """What a collocation pre-fit did: the slots it fitted, the states whose equations
    it matched, the scaled loss before and after, its steps and seconds."""

    slots: list[str]
    states: list[str]
    loss_before: float
    loss_after: float
    iterations: int
    seconds: float


def smoothed_rates(times: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed states and their time derivatives, both [time, site, state].

    Each series of ``observed`` [time, site, state] (NaN: missing) with at least
    :data:`MIN_POINTS` observations is smoothed with the GCV-chosen penalty and evaluated
    at ``times`` [time] between its first and last observation; NaN elsewhere.
    """
    smooth = np.full(observed.shape, np.nan)
    rates = np.full(observed.shape, np.nan)
    for site in range(observed.shape[1]):
        for i in range(observed.shape[2]):
            finite = np.isfinite(observed[:, site, i])
            if finite.sum() < MIN_POINTS:
                continue
            spline = make_smoothing_spline(times[finite], observed[finite, site, i])
            inside = (times >= times[finite][0]) & (times <= times[finite][-1])
            smooth[inside, site, i] = spline(times[inside])
            rates[inside, site, i] = spline.derivative()(times[inside])
    return smooth, rates


def collocation_prefit(
    model: ODEModel,
    times: Tensor,
    observed: np.ndarray,
    forcings: Tensor | None = None,
    iterations: int = 300,
    lr: float = 1e-2,
) -> CollocationResult | None:
    """Fit ``model``'s neural slots to the rates of change of the smoothed observations.

    Args:
        model: the ODE model (its neural slots are changed in place).
        times: times of the training period [time].
        observed: observations there [time, site, state] (NaN where missing).
        forcings: forcing values there [time, site, forcing] (if the model has forcings).
        iterations: Adam steps (full batch).
        lr: Adam's learning rate.

    Returns:
        What was fitted, or ``None`` (logged) when no equation with a neural slot has all
        its states observed. The slots keep their starting weights if the fit does not
        lower the loss.
    """
    smooth, rates = smoothed_rates(times.detach().cpu().numpy(), observed)
    seen = {s for i, s in enumerate(model.states) if np.isfinite(rates[..., i]).any()}
    targets, slots = _fitted_equations(model, seen)
    if not targets:
        log.info(
            "collocation pre-fit skipped: no equation with a neural slot has all its states "
            "observed (observed: %s)",
            sorted(seen),
        )
        return None
    names = sorted(slots)
    parameters = [p for n in names for p in model.slots[n].parameters() if p.requires_grad]
    if not parameters:
        log.info("collocation pre-fit skipped: the networks of %s are frozen", ", ".join(names))
        return None
    loss = _rate_loss(model, times, smooth, rates, forcings, seen, targets)
    started = time.perf_counter()
    before, after = _fit(loss, parameters, iterations, lr)
    result = CollocationResult(
        names,
        [model.states[i] for i in targets],
        before,
        after,
        iterations,
        time.perf_counter() - started,
    )
    log.info(
        "collocation pre-fit of %s on the rates of %s: loss %.4g -> %.4g (%d steps, %.1f s)",
        ", ".join(result.slots),
        ", ".join(result.states),
        before,
        after,
        iterations,
        result.seconds,
    )
    return result


def _fitted_equations(model: ODEModel, seen: set[str]) -> tuple[list[int], set[str]]:
    """Indices of the states whose equations hold a neural slot and only ``seen`` states,
    and the names of those slots."""
    targets, slots = [], set()
    for i, state in enumerate(model.states):
        neural = {name for name in model.calls(state) if model.slots[name].kind == "neural"}
        if state in seen and neural and model.reads(state) <= seen:
            targets.append(i)
            slots |= neural
    return targets, slots


def _rate_loss(
    model: ODEModel,
    times: Tensor,
    smooth: np.ndarray,
    rates: np.ndarray,
    forcings: Tensor | None,
    seen: set[str],
    targets: list[int],
) -> Callable[[], Tensor]:
    """The scaled mean squared mismatch between the model's rates of the ``targets`` states
    at the smoothed states and the smoothed rates, over every point where both are known."""
    needed = [i for i, s in enumerate(model.states) if s in seen]
    rows = np.isfinite(smooth[..., needed]).all(-1) & np.isfinite(rates[..., targets]).all(-1)
    as_tensor = lambda a: torch.as_tensor(a, dtype=times.dtype, device=times.device)  # noqa: E731
    y = as_tensor(np.nan_to_num(smooth[rows]))  # [point, state]; unseen states enter no target
    target = as_tensor(rates[rows][:, targets])  # [point, target]
    t = times[:, None].expand(rows.shape)[as_tensor(rows).bool()]
    forcing = forcings[as_tensor(rows).bool()] if forcings is not None else None
    scale = target.std(0).clamp_min(torch.finfo(target.dtype).eps)

    def loss() -> Tensor:
        return (((model.rates(t, y, forcing)[:, targets] - target) / scale) ** 2).mean()

    return loss


def _fit(
    loss: Callable[[], Tensor], parameters: list[Tensor], iterations: int, lr: float
) -> tuple[float, float]:
    """Full-batch Adam on ``loss``; the parameters go back to their start unless the loss
    ends finite and lower. Returns the loss before and after."""
    with torch.no_grad():
        before = float(loss())
    saved = [p.detach().clone() for p in parameters]
    optimiser = torch.optim.Adam(parameters, lr=lr)
    for _ in range(iterations):
        optimiser.zero_grad(set_to_none=True)
        value = loss()
        value.backward()
        optimiser.step()
    with torch.no_grad():
        after = float(loss())
        if not (math.isfinite(after) and after < before):
            for p, value in zip(parameters, saved, strict=True):
                p.copy_(value)
            after = before
    return before, after
