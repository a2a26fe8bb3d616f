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
