"""Losses that skip missing observations instead of propagating NaN."""

from __future__ import annotations

import torch
from torch import Tensor


def masked_mse(simulated: Tensor, observed: Tensor, scale: Tensor | None = None) -> Tensor:
    """Mean squared error over the finite entries of ``observed``.

    Args:
        simulated: predictions, any shape [..., variable].
        observed: observations of the same shape; NaN marks a missing value.
        scale: per-variable scale [variable] (e.g. the observations' standard deviation);
            errors are divided by it so variables of different magnitude weigh alike.

    Returns:
        A scalar; each variable with observations weighs equally.

    Raises:
        ValueError: shapes differ, or no observation is finite.
    """
    if simulated.shape != observed.shape:
        raise ValueError(
            f"simulated {tuple(simulated.shape)} and observed {tuple(observed.shape)} differ"
        )
    mask = torch.isfinite(observed)
    if not bool(mask.any()):
        raise ValueError("no finite observation to compute a loss on")
    error = torch.where(mask, simulated - torch.nan_to_num(observed), torch.zeros_like(simulated))
    if scale is not None:
        error = error / scale
    per_variable_count = mask.reshape(-1, mask.shape[-1]).sum(0)
    per_variable = (error**2).reshape(-1, error.shape[-1]).sum(0)
    observed_variables = per_variable_count > 0
    means = per_variable[observed_variables] / per_variable_count[observed_variables]
    return means.mean()
