"""Why training could not take a single finite step: where the simulation first becomes
non-finite, in words a user can act on."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from discover.errors import UserError

REMEDIES = (
    "check the initial states and parameters (model.initial, model.parameters) and the "
    "data's magnitudes, use a smaller step or more substeps (model.solver.substeps), or "
    "give the slot a bounded form (a narrower output range)"
)


UNFITTED = 0.5
"""A state is unfitted when its trained segments leave at least this share of the error of
holding each segment's start (:func:`unfitted_states`): the model explains less than half
of how the state changes over a segment (a trained one leaves ~1e-6 of it on noise-free
data; a network stuck near a constant, ~0.8)."""


class TrainingError(UserError):
    """Training could not start: the very first step gave a non-finite loss or weights."""


def first_non_finite(workflow: nn.Module) -> str | None:
    """Where the simulation of ``workflow`` (a study's workflow: ``simulate()`` [time,
    site, variable], ``variables``, ``sites``, ``times_index()``) first is NaN or infinite:
    ``"'x' at site '0', time 3.5"`` (a warm-up, NaN by design, is skipped); ``None`` when
    it is finite everywhere or ``workflow`` cannot simulate."""
    if not hasattr(workflow, "simulate"):
        return None
    with torch.no_grad():
        simulated = workflow.simulate().detach().cpu().numpy()
    first = getattr(workflow, "warmup", 0)  # a warm-up is simulated but NaN by design
    bad = ~np.isfinite(simulated[first:])
    if not bad.any():
        return None
    t, s, v = np.argwhere(bad)[0]
    time = workflow.times_index()[first + t]
    return f"{workflow.variables[v]!r} at site {workflow.sites[s]!r}, time {time}"


def divergence_error(workflow: nn.Module, start: dict, loss: float) -> TrainingError:
    """The error for a training whose first step failed (loss ``loss``); ``workflow`` is
    set back to its starting weights ``start`` (a state dict) to locate the problem."""
    workflow.load_state_dict(start)
    where = first_non_finite(workflow)
    if where is None:
        found = (
            f"the first step gave a loss of {loss} (the simulation from the starting weights "
            "is finite, so the step size train.lr may be too large)"
        )
    else:
        found = f"the simulation from the starting weights is first non-finite in {where}"
    return TrainingError(
        f"training diverged before any finite step: {found}; {REMEDIES}. "
        "Nothing was trained, so nothing is distilled"
    )


def unfitted_states(workflow: nn.Module) -> list[str]:
    """The states of an ODE workflow trained by multiple shooting (its ``shooting``,
    :meth:`~discover.fit.shooting.MultipleShooting.state_errors`) whose segments leave at
    least :data:`UNFITTED` of the error of holding each segment's initial state: the model
    learned little of how they change (a network stuck near a constant, say). Empty for a
    workflow without multiple shooting."""
    shooting = getattr(workflow, "shooting", None)
    if shooting is None:
        return []
    trained, held = shooting.state_errors(workflow)
    return [
        name
        for name, a, b in zip(workflow.variables, trained, held, strict=True)
        if a >= UNFITTED * b
    ]


def untrained_error(workflow: nn.Module) -> TrainingError | None:
    """The error that stops a run before its networks are distilled when training left
    states unfitted (:func:`unfitted_states`), ``None`` when there are none."""
    unfitted = unfitted_states(workflow)
    if not unfitted:
        return None
    trained, held = workflow.shooting.state_errors(workflow)
    figures = ", ".join(
        f"{name!r} {a:.3g} vs {b:.3g}"
        for name, a, b in zip(workflow.variables, trained, held, strict=True)
        if name in unfitted
    )
    return TrainingError(
        f"training did not fit {', '.join(map(repr, unfitted))}: the trained model explains "
        f"less than half of how they change (scaled error of its segments vs of holding "
        f"each segment's start: {figures}); its networks are not worth distilling. "
        "Check the slots' output_scale against the rates of change of the data, "
        "train longer (train.iterations) or with another learning rate (train.lr)"
    )
