"""Unit-hydrograph routing: a causal convolution over the whole series, after the time loop."""

from __future__ import annotations

import torch
from torch import Tensor

from discover.processes.base import Process


def unit_hydrograph(weight: Process, shape: Tensor, scale: Tensor, days: int) -> Tensor:
    """Normalised unit hydrograph from a routing slot.

    Args:
        weight: the routing slot, called with ``lag`` (bin midpoints 0.5, 1.5, ... days),
            ``route_shape`` and ``route_scale``; returns unnormalised weights >= 0.
        shape, scale: routing parameters [site, nmul].
        days: kernel length in days.

    Returns:
        Weights [days, site, nmul] that sum to one over the first axis.
    """
    if days < 1:
        raise ValueError(f"routing needs at least one day of kernel, got route_days={days}")
    lag = torch.arange(days, dtype=shape.dtype, device=shape.device).add_(0.5)
    raw = weight(
        {"lag": lag[:, None, None], "route_shape": shape[None], "route_scale": scale[None]}
    )
    raw = torch.broadcast_to(raw, (days, *shape.shape))
    return raw / raw.sum(0, keepdim=True).clamp_min(torch.finfo(raw.dtype).tiny)


def route(runoff: Tensor, weights: Tensor) -> Tensor:
    """Convolve runoff [time, ...] with weights [lag, ...] causally: ``out[t] = Σ_k w[k]·q[t−k]``.

    Water produced in the last ``lag − 1`` days is partly still in the kernel at the end.
    """
    days, steps = weights.shape[0], runoff.shape[0]
    padded = torch.cat([runoff.new_zeros((days - 1, *runoff.shape[1:])), runoff])
    out = weights[0] * runoff
    for k in range(1, days):
        out = out + weights[k] * padded[days - 1 - k : days - 1 - k + steps]
    return out
